//! The repositories' atomic steps, straight against each database.

use chrono::{Duration, Utc};
use gatehouse_domain::UserUpdate;
use gatehouse_domain::{
    Conflict, Email, NewSession, NewUser, OneTimePurpose, PasswordHash, RefreshPolicy,
    RefreshRotation, SessionId, User,
};
use gatehouse_persistence::{
    DatabaseConnection, OneTimeTokenRepository, RepoError, SessionCache, SessionRepository,
    UserRepository,
};

use crate::helpers::{Backend, migrated_database};

backend_tests!(
    a_taken_email_is_a_conflict_decided_by_the_database,
    refresh_generations_advance_only_under_the_rule,
    strict_rotation_refuses_a_stale_generation_zero,
    racing_advances_of_the_same_generation_all_apply,
    revoked_sessions_refuse_to_advance,
    deleting_a_user_deletes_their_sessions,
    a_one_time_token_is_consumed_once_under_races,
    used_and_expired_one_time_tokens_are_purged,
    sessions_that_ended_before_the_retention_are_purged,
    a_purge_in_small_batches_removes_exactly_the_ended_sessions,
    an_import_larger_than_one_statement_is_split_and_counted,
    every_change_that_can_end_a_session_forgets_it_in_the_cache_at_once,
    a_refresh_is_recorded_only_for_the_owner_of_a_live_session_with_an_active_account,
    racing_reset_requests_leave_one_live_token,
    a_failure_count_starts_afresh_after_a_quiet_hour,
);

/// A stopped attack leaves no hair trigger: after an hour without failures the owner's
/// next typo is the first failure again, not one more on top of the attacker's.
async fn a_failure_count_starts_afresh_after_a_quiet_hour(backend: Backend) {
    use gatehouse_domain::ClientNetwork;
    use gatehouse_persistence::{BackoffThresholds, LoginThrottleRepository};
    let (db, _guard) = migrated_database(backend).await;
    let throttles = LoginThrottleRepository::new(db.clone());
    let email = Email::parse("quiet@example.com").unwrap();
    let network = Some(ClientNetwork::of("192.0.2.1".parse().unwrap()));
    let thresholds = BackoffThresholds {
        per_network: 2,
        account_wide: 2,
    };
    let now = Utc::now();
    let long_ago = now - Duration::minutes(61);
    throttles
        .reserve_attempt(&email, network, thresholds, long_ago)
        .await
        .unwrap();
    throttles
        .reserve_attempt(&email, network, thresholds, now)
        .await
        .unwrap();
    let blocked = throttles.blocked_until(&email, network, now).await.unwrap();
    assert_eq!(blocked, None, "the hour-old failure still counted");
    throttles
        .reserve_attempt(&email, network, thresholds, now)
        .await
        .unwrap();
    let blocked = throttles.blocked_until(&email, network, now).await.unwrap();
    assert!(blocked.is_some(), "two failures within the hour");
}

/// A new reset token replaces the older ones in one step: requests racing on two instances
/// must not leave two live tokens.
async fn racing_reset_requests_leave_one_live_token(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let owner = user(&db, "twice@example.com").await;
    let tokens = OneTimeTokenRepository::new(db.clone());
    for round in 0..5 {
        let now = Utc::now();
        let issues = (0..6).map(|n| {
            let tokens = tokens.clone();
            async move {
                tokens
                    .issue(
                        owner.id,
                        OneTimePurpose::PasswordReset,
                        &format!("hash-{round}-{n}"),
                        now + Duration::minutes(5),
                        now,
                    )
                    .await
            }
        });
        for issued in futures_util::future::join_all(issues).await {
            issued.unwrap();
        }
        let mut live = 0;
        for n in 0..6 {
            let hash = format!("hash-{round}-{n}");
            if tokens
                .find_live(OneTimePurpose::PasswordReset, &hash, now)
                .await
                .unwrap()
                .is_some()
            {
                live += 1;
            }
        }
        assert_eq!(live, 1, "round {round}");
    }
}

async fn sessions_that_ended_before_the_retention_are_purged(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let owner = user(&db, "old@example.com").await;
    let sessions = SessionRepository::new(db.clone());
    let now = Utc::now();
    let at = |created: chrono::DateTime<Utc>, lifetime_days: i64| NewSession {
        id: SessionId::new(),
        user_id: owner.id,
        created_at: created,
        expires_at: created + Duration::days(lifetime_days),
        user_agent: None,
        ip: None,
        assurance: gatehouse_domain::Assurance::password(),
    };
    let long_expired = sessions
        .create(at(now - Duration::days(60), 7))
        .await
        .unwrap()
        .id;
    let long_revoked = sessions
        .create(at(now - Duration::days(50), 365))
        .await
        .unwrap()
        .id;
    sessions
        .revoke(long_revoked, now - Duration::days(40))
        .await
        .unwrap();
    let recently_revoked = sessions
        .create(at(now - Duration::days(2), 7))
        .await
        .unwrap()
        .id;
    sessions
        .revoke(recently_revoked, now - Duration::days(1))
        .await
        .unwrap();
    let recently_expired = sessions
        .create(at(now - Duration::days(9), 7))
        .await
        .unwrap()
        .id;
    let live = sessions.create(at(now, 7)).await.unwrap().id;

    assert_eq!(sessions.purge(now - Duration::days(30)).await.unwrap(), 2);
    for gone in [long_expired, long_revoked] {
        assert!(sessions.find(gone).await.unwrap().is_none());
    }
    for kept in [recently_revoked, recently_expired, live] {
        assert!(sessions.find(kept).await.unwrap().is_some());
    }
}

/// A purge goes a batch at a time (so no statement holds locks for long) and still removes
/// every ended session and only those, including many that ended at the same instant (the
/// next batch starts at the last one's time, not after it), and reports its batches.
async fn a_purge_in_small_batches_removes_exactly_the_ended_sessions(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let owner = user(&db, "many@example.com").await;
    let sessions = SessionRepository::new(db.clone());
    let now = Utc::now();
    let same_instant = now - Duration::days(40);
    let new_session = |created: chrono::DateTime<Utc>, lifetime: Duration| NewSession {
        id: SessionId::new(),
        user_id: owner.id,
        created_at: created,
        expires_at: created + lifetime,
        user_agent: None,
        ip: None,
        assurance: gatehouse_domain::Assurance::password(),
    };
    let mut ended = Vec::new();
    for i in 0..7 {
        // Five expired at one instant, two at their own.
        let created = if i < 5 {
            same_instant
        } else {
            now - Duration::days(50 + i)
        };
        ended.push(
            sessions
                .create(new_session(created, Duration::days(1)))
                .await
                .unwrap()
                .id,
        );
    }
    for i in 0..4 {
        let id = sessions
            .create(new_session(now - Duration::days(60), Duration::days(365)))
            .await
            .unwrap()
            .id;
        sessions
            .revoke(id, now - Duration::days(35 + i))
            .await
            .unwrap();
        ended.push(id);
    }
    let mut kept = Vec::new();
    for _ in 0..3 {
        kept.push(
            sessions
                .create(new_session(now, Duration::days(7)))
                .await
                .unwrap()
                .id,
        );
    }
    let recently_revoked = sessions
        .create(new_session(now - Duration::days(60), Duration::days(365)))
        .await
        .unwrap()
        .id;
    sessions
        .revoke(recently_revoked, now - Duration::days(2))
        .await
        .unwrap();
    kept.push(recently_revoked);

    let report = sessions
        .purge_in_batches(now - Duration::days(30), 2)
        .await
        .unwrap();
    assert_eq!(report.deleted, 11, "{report:?}");
    assert!(report.batches >= 6, "batches of two: {report:?}");
    for gone in ended {
        assert!(sessions.find(gone).await.unwrap().is_none());
    }
    for stays in kept {
        assert!(sessions.find(stays).await.unwrap().is_some());
    }
    let again = sessions
        .purge_in_batches(now - Duration::days(30), 2)
        .await
        .unwrap();
    assert_eq!(again.deleted, 0, "{again:?}");
}

/// More accounts than one `INSERT` may carry (SQLite's bound-parameter limit) go in as
/// several statements, each account reported once; a second import finds them all, and
/// an address already here with another hash is reported with the stored one.
async fn an_import_larger_than_one_statement_is_split_and_counted(backend: Backend) {
    use gatehouse_persistence::{ImportOutcome, ImportedAccount};
    let (db, _guard) = migrated_database(backend).await;
    let here = user(&db, "bulk-17@example.com").await;
    let users = UserRepository::new(db.clone());
    let hash = PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$b3RoZXJzYWx0$b3RoZXI");
    let accounts = || {
        (0..4_500)
            .map(|n| ImportedAccount {
                new: NewUser::new(
                    Email::parse(&format!("bulk-{n}@example.com")).unwrap(),
                    hash.clone(),
                ),
                is_active: n % 2 == 0,
                created_at: Utc::now() - Duration::days(n),
            })
            .collect::<Vec<_>>()
    };
    let first = users.import_many(accounts()).await.unwrap();
    assert_eq!(first.len(), 4_500);
    assert_eq!(
        first[17],
        ImportOutcome::Present(here.password_hash.clone())
    );
    let inserted = first
        .iter()
        .filter(|outcome| **outcome == ImportOutcome::Inserted)
        .count();
    assert_eq!(inserted, 4_499);
    let again = users.import_many(accounts()).await.unwrap();
    assert_eq!(again.len(), 4_500);
    assert_eq!(
        again
            .iter()
            .filter(|outcome| **outcome == ImportOutcome::Present(hash.clone()))
            .count(),
        4_499
    );
    let last = users
        .find_by_email(&Email::parse("bulk-4499@example.com").unwrap())
        .await
        .unwrap()
        .expect("imported");
    assert!(!last.is_active);
    assert_eq!(last.password_hash, hash);
}

async fn a_one_time_token_is_consumed_once_under_races(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let owner = user(&db, "racer@example.com").await;
    let tokens = OneTimeTokenRepository::new(db.clone());
    let now = Utc::now();
    tokens
        .issue(
            owner.id,
            OneTimePurpose::PasswordReset,
            "hash-1",
            now + Duration::minutes(5),
            now,
        )
        .await
        .unwrap();
    let live = tokens
        .find_live(OneTimePurpose::PasswordReset, "hash-1", now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tokens
            .find_live(OneTimePurpose::VerifyEmail, "hash-1", now)
            .await
            .unwrap()
            .is_none(),
        "a token is good for its purpose only"
    );
    let attempts = (0..20).map(|_| tokens.consume(&live, Utc::now()));
    let results = futures_util::future::join_all(attempts).await;
    let wins = results
        .into_iter()
        .filter(|won| *won.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
    assert!(
        tokens
            .find_live(OneTimePurpose::PasswordReset, "hash-1", Utc::now())
            .await
            .unwrap()
            .is_none()
    );
}

async fn used_and_expired_one_time_tokens_are_purged(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let tokens = OneTimeTokenRepository::new(db.clone());
    let now = Utc::now();
    let (a, b, c) = (
        user(&db, "a@example.com").await,
        user(&db, "b@example.com").await,
        user(&db, "c@example.com").await,
    );
    let reset = OneTimePurpose::PasswordReset;
    tokens
        .issue(
            a.id,
            reset,
            "expired",
            now - Duration::minutes(1),
            now - Duration::minutes(31),
        )
        .await
        .unwrap();
    tokens
        .issue(b.id, reset, "used", now + Duration::minutes(30), now)
        .await
        .unwrap();
    let used = tokens.find_live(reset, "used", now).await.unwrap().unwrap();
    assert!(tokens.consume(&used, now).await.unwrap());
    tokens
        .issue(c.id, reset, "live", now + Duration::minutes(30), now)
        .await
        .unwrap();
    assert_eq!(tokens.purge(Utc::now()).await.unwrap(), 2);
    assert!(
        tokens
            .find_live(reset, "live", Utc::now())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(tokens.purge(Utc::now()).await.unwrap(), 0);
}

pub(crate) async fn user(db: &DatabaseConnection, email: &str) -> User {
    let new = NewUser::new(
        Email::parse(email).unwrap(),
        PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
    );
    UserRepository::new(db.clone())
        .create(new, Utc::now())
        .await
        .unwrap()
}

pub(crate) async fn session(db: &DatabaseConnection, user: &User) -> SessionId {
    let now = Utc::now();
    let new = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        created_at: now,
        expires_at: now + Duration::days(1),
        user_agent: None,
        ip: None,
        assurance: gatehouse_domain::Assurance::password(),
    };
    SessionRepository::new(db.clone())
        .create(new)
        .await
        .unwrap()
        .id
}

async fn a_taken_email_is_a_conflict_decided_by_the_database(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let users = UserRepository::new(db.clone());
    user(&db, "taken@example.com").await;
    let again = NewUser::new(
        Email::parse("taken@example.com").unwrap(),
        PasswordHash::new("x"),
    );
    assert!(matches!(
        users.create(again, Utc::now()).await,
        Err(RepoError::Conflict(Conflict::EmailTaken))
    ));
}

const AUTO: RefreshPolicy = RefreshPolicy {
    rotation: RefreshRotation::Auto,
    reuse_grace: chrono::Duration::seconds(10),
};

/// (newest issued, highest presented) as stored.
async fn generations(sessions: &SessionRepository, id: SessionId) -> (u32, u32) {
    let stored = sessions.find(id).await.unwrap().unwrap();
    (
        stored.latest_refresh_generation,
        stored.highest_used_generation,
    )
}

async fn refresh_generations_advance_only_under_the_rule(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let sessions = SessionRepository::new(db.clone());
    let owner = user(&db, "owner@example.com").await;
    let id = session(&db, &owner).await;
    let start = Utc::now();
    let record = |generation, seconds_later, policy| {
        sessions.record_refresh(
            id,
            owner.id,
            generation,
            start + Duration::seconds(seconds_later),
            policy,
        )
    };
    assert!(
        !record(1, 0, AUTO).await.unwrap(),
        "generation 1 not issued yet"
    );
    assert!(record(0, 0, AUTO).await.unwrap());
    assert!(
        record(0, 60, AUTO).await.unwrap(),
        "auto: gen 0 stays good until gen 1 is presented"
    );
    assert_eq!(generations(&sessions, id).await, (1, 0));
    assert!(record(1, 120, AUTO).await.unwrap());
    assert_eq!(generations(&sessions, id).await, (2, 1));
    assert!(
        record(1, 125, AUTO).await.unwrap(),
        "gen 1 again within the grace period of its first use"
    );
    assert_eq!(
        generations(&sessions, id).await,
        (2, 1),
        "a repeat within grace never moves the newest generation"
    );
    assert!(
        !record(1, 131, AUTO).await.unwrap(),
        "gen 1 after the grace period"
    );
    assert!(
        !record(0, 121, AUTO).await.unwrap(),
        "gen 0 after gen 1 was presented"
    );
    assert!(record(2, 200, AUTO).await.unwrap());
    assert_eq!(generations(&sessions, id).await, (3, 2));
}

async fn strict_rotation_refuses_a_stale_generation_zero(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let sessions = SessionRepository::new(db.clone());
    let owner = user(&db, "strict@example.com").await;
    let id = session(&db, &owner).await;
    let strict = RefreshPolicy {
        rotation: RefreshRotation::Strict,
        ..AUTO
    };
    let start = Utc::now();
    assert!(
        sessions
            .record_refresh(id, owner.id, 0, start, strict)
            .await
            .unwrap()
    );
    assert!(
        sessions
            .record_refresh(id, owner.id, 0, start + Duration::seconds(5), strict)
            .await
            .unwrap(),
        "within grace"
    );
    assert!(
        !sessions
            .record_refresh(id, owner.id, 0, start + Duration::seconds(60), strict)
            .await
            .unwrap(),
        "strict: no exception for clients that never rotate"
    );
}

async fn racing_advances_of_the_same_generation_all_apply(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let owner = user(&db, "racer@example.com").await;
    let id = session(&db, &owner).await;
    let sessions = SessionRepository::new(db.clone());
    let strict = RefreshPolicy {
        rotation: RefreshRotation::Strict,
        ..AUTO
    };
    let attempts = (0..20).map(|_| sessions.record_refresh(id, owner.id, 0, Utc::now(), strict));
    let applied = futures_util::future::join_all(attempts).await;
    assert!(applied.into_iter().all(|result| result.unwrap()));
    assert_eq!(generations(&sessions, id).await, (1, 0));
}

async fn revoked_sessions_refuse_to_advance(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let sessions = SessionRepository::new(db.clone());
    let owner = user(&db, "revoked@example.com").await;
    let id = session(&db, &owner).await;
    assert!(sessions.revoke(id, Utc::now()).await.unwrap());
    assert!(
        !sessions.revoke(id, Utc::now()).await.unwrap(),
        "already revoked"
    );
    let off = RefreshPolicy {
        rotation: RefreshRotation::Off,
        ..AUTO
    };
    for policy in [AUTO, off] {
        assert!(
            !sessions
                .record_refresh(id, owner.id, 0, Utc::now(), policy)
                .await
                .unwrap()
        );
    }
}

async fn deleting_a_user_deletes_their_sessions(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let owner = user(&db, "gone@example.com").await;
    let ids = [session(&db, &owner).await, session(&db, &owner).await];
    let other = user(&db, "stays@example.com").await;
    let kept = session(&db, &other).await;
    assert!(
        UserRepository::new(db.clone())
            .delete(owner.id)
            .await
            .unwrap()
    );
    let sessions = SessionRepository::new(db.clone());
    for id in ids {
        assert!(sessions.find(id).await.unwrap().is_none());
    }
    assert!(sessions.find(kept).await.unwrap().is_some());
}

/// The repositories forget what they change before returning, without waiting for any
/// notification (none is listened for here): this is what makes a revocation refused on
/// the instance that made it before its request answers.
async fn every_change_that_can_end_a_session_forgets_it_in_the_cache_at_once(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let cache = SessionCache::new(100);
    let sessions = SessionRepository::new(db.clone()).with_session_cache(cache.clone());
    let users = UserRepository::new(db.clone()).with_session_cache(cache.clone());
    let owner = user(&db, "cached@example.com").await;
    // Another account, so the last-superuser rule never refuses the admin changes.
    let admin = user(&db, "admin@example.com").await;
    users
        .update_as_admin(
            admin.id,
            UserUpdate {
                is_superuser: Some(true),
                ..UserUpdate::default()
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let cached = async |id: SessionId| {
        cache.heartbeat_received();
        sessions.find_with_user_cached(id).await.unwrap();
        cache.heartbeat_received();
        cache.lookup(id).is_some()
    };
    let now = Utc::now();

    let id = session(&db, &owner).await;
    assert!(cached(id).await, "an active session is cached");
    sessions.revoke(id, now).await.unwrap();
    assert!(cache.lookup(id).is_none(), "revoke");
    assert!(!cached(id).await, "an ended session is not cached again");

    let id = session(&db, &owner).await;
    assert!(cached(id).await);
    sessions.revoke_own(owner.id, id, now).await.unwrap();
    assert!(cache.lookup(id).is_none(), "revoke_own");

    let id = session(&db, &owner).await;
    assert!(cached(id).await);
    sessions.revoke_all_for_user(owner.id, now).await.unwrap();
    assert!(cache.lookup(id).is_none(), "revoke_all_for_user");

    let (kept, ended) = (session(&db, &owner).await, session(&db, &owner).await);
    assert!(cached(kept).await && cached(ended).await);
    sessions
        .revoke_all_for_user_except(owner.id, kept, now)
        .await
        .unwrap();
    assert!(cache.lookup(ended).is_none(), "revoke_all_for_user_except");

    let hash = PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$bmV3c2FsdA$aGFzaA");
    macro_rules! forgotten_after {
        ($change:literal, $call:expr) => {{
            let id = session(&db, &owner).await;
            assert!(cached(id).await);
            $call.await.unwrap();
            assert!(cache.lookup(id).is_none(), $change);
        }};
    }
    forgotten_after!(
        "upgrade_password_hash",
        users.upgrade_password_hash(owner.id, &owner.password_hash, &hash, now)
    );
    forgotten_after!("set_active", users.set_active(owner.id, true, now));
    forgotten_after!("set_verified", users.set_verified(owner.id, true, now));
    forgotten_after!(
        "update_as_admin",
        users.update_as_admin(owner.id, UserUpdate::default(), now)
    );

    let id = session(&db, &owner).await;
    assert!(cached(id).await);
    assert!(users.delete_as_admin(owner.id).await.unwrap());
    assert!(cache.lookup(id).is_none(), "delete_as_admin");

    let other = user(&db, "deleted@example.com").await;
    let id = session(&db, &other).await;
    assert!(cached(id).await);
    assert!(users.delete(other.id).await.unwrap());
    assert!(cache.lookup(id).is_none(), "delete");
}

/// The refresh's one statement checks what the handler no longer reads first.
async fn a_refresh_is_recorded_only_for_the_owner_of_a_live_session_with_an_active_account(
    backend: Backend,
) {
    let (db, _guard) = migrated_database(backend).await;
    let sessions = SessionRepository::new(db.clone());
    let users = UserRepository::new(db.clone());
    let owner = user(&db, "owner@example.com").await;
    let stranger = user(&db, "stranger@example.com").await;
    let id = session(&db, &owner).await;
    let now = Utc::now();
    assert!(
        !sessions
            .record_refresh(id, stranger.id, 0, now, AUTO)
            .await
            .unwrap(),
        "someone else's session"
    );
    assert!(
        !sessions
            .record_refresh(id, owner.id, 0, now + Duration::days(2), AUTO)
            .await
            .unwrap(),
        "after the session expired"
    );
    users.set_active(owner.id, false, now).await.unwrap();
    assert!(
        !sessions
            .record_refresh(id, owner.id, 0, now, AUTO)
            .await
            .unwrap(),
        "inactive account"
    );
    users.set_active(owner.id, true, now).await.unwrap();
    assert!(
        sessions
            .record_refresh(id, owner.id, 0, now, AUTO)
            .await
            .unwrap()
    );
    assert_eq!(generations(&sessions, id).await, (1, 0));
}

/// The import's fallback, which runs when a registration races an import: an address
/// taken meanwhile is reported with the stored hash, and so is a second spelling of it
/// later in the batch (a clash, not this import's own row); an address whose clash is gone
/// by the time it is looked up (deleted in between) is inserted. Played on Postgres with a
/// trigger: it holds the batch's row while the "registration" commits, and refuses one
/// address twice as if it were taken (a sequence counts, as it survives the refusal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_fallback_reports_a_racing_registration_and_inserts_past_a_vanished_clash() {
    use gatehouse_persistence::{ImportOutcome, ImportedAccount};
    use sea_orm::ConnectionTrait;
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    let (db, _guard) = migrated_database(backend).await;
    db.execute_unprepared(
        r#"
        CREATE SEQUENCE vanishing_clash;
        CREATE FUNCTION import_race() RETURNS trigger AS $$
        BEGIN
            IF NEW.email = 'raced@example.com' AND NEW.hashed_password <> 'registered' THEN
                PERFORM pg_sleep(1);
            END IF;
            IF NEW.email = 'vanished@example.com' AND nextval('vanishing_clash') <= 2 THEN
                RAISE EXCEPTION 'taken, then gone' USING ERRCODE = 'unique_violation';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER import_race BEFORE INSERT ON users
            FOR EACH ROW EXECUTE FUNCTION import_race();
        "#,
    )
    .await
    .unwrap();
    let imported = PasswordHash::new("imported");
    let account = |email: &str| ImportedAccount {
        new: NewUser::new(Email::parse(email).unwrap(), imported.clone()),
        is_active: true,
        created_at: Utc::now(),
    };
    let batch = vec![
        account("raced@example.com"),
        account("Raced@Example.com"),
        account("vanished@example.com"),
    ];
    let users = UserRepository::new(db.clone());
    let importing = tokio::spawn({
        let users = users.clone();
        async move { users.import_many(batch).await }
    });
    // The registration, while the batch's first row waits in the trigger.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let registered = NewUser::new(
        Email::parse("raced@example.com").unwrap(),
        PasswordHash::new("registered"),
    );
    users.create(registered, Utc::now()).await.unwrap();
    let outcomes = importing.await.unwrap().unwrap();
    let stored = ImportOutcome::Present(PasswordHash::new("registered"));
    assert_eq!(
        outcomes,
        [stored.clone(), stored, ImportOutcome::Inserted],
        "the second spelling is a clash with what is stored"
    );
    let vanished = users
        .find_by_email(&Email::parse("vanished@example.com").unwrap())
        .await
        .unwrap()
        .expect("inserted past the vanished clash");
    assert_eq!(vanished.password_hash, imported);
}
