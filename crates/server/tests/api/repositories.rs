//! The repositories' atomic steps, straight against each database.

use chrono::{Duration, Utc};
use gatehouse_domain::{Conflict, Email, NewSession, NewUser, PasswordHash, SessionId, User};
use gatehouse_persistence::{DatabaseConnection, RepoError, SessionRepository, UserRepository};

use crate::helpers::{Backend, migrated_database};

backend_tests!(
    a_taken_email_is_a_conflict_decided_by_the_database,
    refresh_generations_advance_only_under_the_rule,
    racing_advances_of_the_same_generation_all_apply,
    revoked_sessions_refuse_to_advance,
    deleting_a_user_deletes_their_sessions,
);

async fn user(db: &DatabaseConnection, email: &str) -> User {
    let new = NewUser::new(
        Email::parse(email).unwrap(),
        PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
    );
    UserRepository::new(db.clone())
        .create(new, Utc::now())
        .await
        .unwrap()
}

async fn session(db: &DatabaseConnection, user: &User) -> SessionId {
    let now = Utc::now();
    let new = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        created_at: now,
        expires_at: now + Duration::days(1),
        user_agent: None,
        ip: None,
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

async fn refresh_generations_advance_only_under_the_rule(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let sessions = SessionRepository::new(db.clone());
    let owner = user(&db, "owner@example.com").await;
    let id = session(&db, &owner).await;
    let now = Utc::now();
    assert!(
        !sessions
            .advance_refresh_generation(id, 1, now)
            .await
            .unwrap(),
        "generation 1 not issued yet"
    );
    assert!(
        sessions
            .advance_refresh_generation(id, 0, now)
            .await
            .unwrap()
    );
    assert!(
        sessions
            .advance_refresh_generation(id, 0, now)
            .await
            .unwrap(),
        "gen 0 stays good until gen 1 is used"
    );
    assert!(
        sessions
            .advance_refresh_generation(id, 1, now)
            .await
            .unwrap()
    );
    assert!(
        !sessions
            .advance_refresh_generation(id, 0, now)
            .await
            .unwrap(),
        "gen 0 after gen 1 was used"
    );
    let stored = sessions.find(id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.latest_refresh_generation,
            stored.highest_used_generation
        ),
        (2, 1)
    );
    // Going back to an older, still-valid generation never lowers the newest issued one.
    assert!(
        sessions
            .advance_refresh_generation(id, 2, now)
            .await
            .unwrap()
    );
    assert!(
        sessions
            .advance_refresh_generation(id, 2, now)
            .await
            .unwrap()
    );
    let stored = sessions.find(id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.latest_refresh_generation,
            stored.highest_used_generation
        ),
        (3, 2)
    );
}

async fn racing_advances_of_the_same_generation_all_apply(backend: Backend) {
    let (db, _guard) = migrated_database(backend).await;
    let owner = user(&db, "racer@example.com").await;
    let id = session(&db, &owner).await;
    let sessions = SessionRepository::new(db.clone());
    let attempts = (0..20).map(|_| sessions.advance_refresh_generation(id, 0, Utc::now()));
    let applied = futures_util::future::join_all(attempts).await;
    assert!(applied.into_iter().all(|result| result.unwrap()));
    let stored = sessions.find(id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.latest_refresh_generation,
            stored.highest_used_generation
        ),
        (1, 0)
    );
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
    assert!(
        !sessions
            .advance_refresh_generation(id, 0, Utc::now())
            .await
            .unwrap()
    );
    assert!(!sessions.touch(id, Utc::now()).await.unwrap());
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
