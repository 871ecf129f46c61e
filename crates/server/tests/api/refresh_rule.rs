//! The refresh rule is written twice: as [`Session::refresh_verdict`] (the domain's
//! statement of it, which explains refusals) and as the conditional `UPDATE` of
//! `SessionRepository::record_refresh` (which decides, atomically). This table runs both
//! over every state a session can be in and every token that can be presented, on every
//! backend, and requires them to agree.

use chrono::{DateTime, Duration, Timelike, Utc};
use gatehouse_domain::{RefreshPolicy, RefreshRotation, RefreshVerdict, SessionId};
use gatehouse_persistence::{DatabaseConnection, SessionRepository};
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, Query},
};

use crate::{
    helpers::{Backend, migrated_database},
    repositories::{session, user},
};

backend_tests!(the_refresh_statement_accepts_exactly_what_the_domain_rule_accepts);

const GRACE: Duration = Duration::seconds(10);

/// A stored session state: the newest generation issued, the highest presented, and how
/// long ago the newest was issued.
#[derive(Debug, Clone, Copy)]
struct State {
    latest: u32,
    highest_used: u32,
    rotated_ago: Option<Duration>,
}

/// Every state a session reaches: at login (generation 0, never rotated), or after
/// rotations, when the highest presented generation is below the newest, the newest issued
/// well within, just within, just past or long past the grace period.
fn states() -> Vec<State> {
    let mut states = vec![State {
        latest: 0,
        highest_used: 0,
        rotated_ago: None,
    }];
    let ages = [1, 8, 12, 60].map(Duration::seconds);
    for latest in 1..=3 {
        for highest_used in 0..latest {
            for age in ages {
                states.push(State {
                    latest,
                    highest_used,
                    rotated_ago: Some(age),
                });
            }
        }
    }
    states
}

async fn store(db: &DatabaseConnection, id: SessionId, state: State, now: DateTime<Utc>) {
    let statement = Query::update()
        .table(Alias::new("sessions"))
        .value(
            Alias::new("latest_refresh_generation"),
            i64::from(state.latest),
        )
        .value(
            Alias::new("highest_used_generation"),
            i64::from(state.highest_used),
        )
        .value(
            Alias::new("rotated_at"),
            state.rotated_ago.map(|age| now - age),
        )
        .and_where(Expr::col(Alias::new("id")).eq(id.as_uuid()))
        .to_owned();
    assert_eq!(db.execute(&statement).await.unwrap().rows_affected(), 1);
}

async fn the_refresh_statement_accepts_exactly_what_the_domain_rule_accepts(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let owner = user(&db, "table@example.com").await;
    let sessions = SessionRepository::new(db.clone());
    let mut cases = 0;
    let mut accepted = 0;
    for rotation in [
        RefreshRotation::Auto,
        RefreshRotation::Strict,
        RefreshRotation::Off,
    ] {
        let policy = RefreshPolicy {
            rotation,
            reuse_grace: GRACE,
        };
        for state in states() {
            for presented in 0..=4 {
                let id = session(&db, &owner).await;
                // Whole seconds: MySQL keeps no fractions, and the rule must not be judged
                // on a state the database rounded.
                let now = Utc::now()
                    .with_nanosecond(0)
                    .expect("zero nanoseconds is valid");
                store(&db, id, state, now).await;
                let stored = sessions.find(id).await.unwrap().unwrap();
                let verdict = stored.refresh_verdict(presented, now, policy);
                let applied = sessions
                    .record_refresh(id, owner.id, presented, now, policy)
                    .await
                    .unwrap();
                assert_eq!(
                    applied,
                    verdict == RefreshVerdict::Accept,
                    "{rotation:?}, {state:?}, generation {presented} presented: \
                     the statement says {applied}, the domain {verdict:?}"
                );
                cases += 1;
                accepted += usize::from(applied);
            }
        }
    }
    // The table covers both answers, many times over.
    assert_eq!(cases, 3 * 125);
    assert!(
        accepted > 100 && cases - accepted > 100,
        "{accepted} of {cases}"
    );
}
