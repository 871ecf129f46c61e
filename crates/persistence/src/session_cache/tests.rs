//! The cache's rules, without a database.
use chrono::{Duration as Days, Utc};
use gatehouse_domain::{Email, PasswordHash};

use super::*;

fn account() -> User {
    User {
        id: UserId::new(),
        email: Email::parse("cached@example.com").expect("valid"),
        password_hash: gatehouse_domain::PasswordHash::new("hash"),
        is_active: true,
        is_verified: false,
        is_superuser: false,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn session_of(user: &User) -> Session {
    let now = Utc::now();
    Session {
        id: SessionId::new(),
        user_id: user.id,
        created_at: now,
        last_used_at: now,
        expires_at: now + Days::days(1),
        revoked_at: None,
        latest_refresh_generation: 0,
        highest_used_generation: 0,
        rotated_at: None,
        user_agent: None,
        ip: None,
        assurance: gatehouse_domain::Assurance::password(),
    }
}

fn live_cache() -> SessionCache {
    let cache = SessionCache::new(10);
    cache.heartbeat_received();
    cache
}

#[test]
fn answers_only_while_heartbeats_arrive() {
    let cache = SessionCache::new(10);
    let user = account();
    let session = session_of(&user);
    cache.fill(cache.ticket(), &session, &user);
    assert!(cache.lookup(session.id).is_none(), "no heartbeat yet");
    cache.heartbeat_received();
    cache.fill(cache.ticket(), &session, &user);
    assert!(cache.lookup(session.id).is_some());
    std::thread::sleep(MAX_SILENCE + Duration::from_millis(50));
    assert!(cache.lookup(session.id).is_none(), "heartbeats stopped");
    cache.heartbeat_received();
    assert!(cache.lookup(session.id).is_some());
    cache.channel_lost();
    assert!(cache.lookup(session.id).is_none());
    cache.heartbeat_received();
    assert!(cache.lookup(session.id).is_none(), "emptied when lost");
}

/// Freshness is the age of the newest own heartbeat by its send time: a heartbeat that
/// took long to come back (a slow link) leaves the cache off, and other instances'
/// heartbeats do not count.
#[test]
fn answers_only_while_its_own_recent_heartbeats_come_back() {
    let cache = SessionCache::new(10);
    let user = account();
    let session = session_of(&user);
    let other = SessionCache::new(10);
    let others_heartbeat = other.heartbeat_payload().unwrap();
    cache.heard_heartbeat(others_heartbeat.trim_start_matches("h:"));
    assert!(!cache.is_usable(), "another instance's heartbeat");
    let sent_long_ago = cache.heartbeat_payload().unwrap();
    std::thread::sleep(MAX_SILENCE + Duration::from_millis(50));
    cache.heard_heartbeat(sent_long_ago.trim_start_matches("h:"));
    assert!(!cache.is_usable(), "a heartbeat that came back late");
    let sent_now = cache.heartbeat_payload().unwrap();
    cache.heard_heartbeat(sent_now.trim_start_matches("h:"));
    assert!(cache.is_usable());
    // A late one arriving after a fresh one does not make the cache look older.
    cache.heard_heartbeat(sent_long_ago.trim_start_matches("h:"));
    // A forged stamp from the future does not keep it on.
    let instance = sent_now.split(':').nth(1).unwrap();
    cache.heard_heartbeat(&format!("{instance}:{}", u64::MAX / 2));
    std::thread::sleep(MAX_SILENCE + Duration::from_millis(50));
    assert!(!cache.is_usable(), "kept on by a stamp from the future");
    cache.heard_heartbeat(cache.heartbeat_payload().unwrap().trim_start_matches("h:"));
    cache.fill(cache.ticket(), &session, &user);
    assert!(cache.lookup(session.id).is_some());
}

#[test]
fn keeps_what_checking_a_token_needs_and_no_password_hash() {
    let cache = live_cache();
    let user = account();
    let session = Session {
        user_agent: Some("Mozilla/5.0".into()),
        ip: Some("192.0.2.1".into()),
        ..session_of(&user)
    };
    cache.fill(cache.ticket(), &session, &user);
    let (cached_session, cached_user) = cache.lookup(session.id).expect("cached");
    assert!(!cached_user.password_hash.is_set(), "matches nothing");
    assert_eq!((cached_session.user_agent, cached_session.ip), (None, None));
    assert_eq!(
        Session {
            user_agent: None,
            ip: None,
            ..session
        },
        Session {
            user_agent: None,
            ip: None,
            ..cache.lookup(session.id).expect("cached").0
        }
    );
    assert_eq!(
        User {
            password_hash: PasswordHash::none(),
            ..user
        },
        cached_user
    );
}

#[test]
fn a_fill_begun_before_an_invalidation_is_dropped() {
    let cache = live_cache();
    let user = account();
    let session = session_of(&user);
    let ticket = cache.ticket();
    cache.forget_user(UserId::new());
    cache.fill(ticket, &session, &user);
    assert!(cache.lookup(session.id).is_none());
    cache.fill(cache.ticket(), &session, &user);
    assert!(cache.lookup(session.id).is_some());
}

#[test]
fn forgets_a_session_or_every_session_of_an_account() {
    let cache = live_cache();
    let user = account();
    let (first, second) = (session_of(&user), session_of(&user));
    let other_user = account();
    let other = session_of(&other_user);
    for (session, owner) in [(&first, &user), (&second, &user), (&other, &other_user)] {
        cache.fill(cache.ticket(), session, owner);
    }
    cache.forget_session(first.id);
    assert!(cache.lookup(first.id).is_none());
    assert!(cache.lookup(second.id).is_some());
    cache.forget_user(user.id);
    assert!(cache.lookup(second.id).is_none());
    assert!(cache.lookup(other.id).is_some());
    assert_eq!(cache.len(), 1);
}

fn hold(entries: &mut Entries, session: &Session, user: &User) {
    entries
        .by_session
        .insert(session.id, Box::new(Entry::new(session, user)));
    entries.by_user.entry(user.id).or_default().push(session.id);
}

#[test]
fn eviction_forgets_other_sessions_each_time() {
    let user = account();
    let sessions: Vec<Session> = (0..800).map(|_| session_of(&user)).collect();
    let mut entries = Entries::default();
    for session in &sessions {
        hold(&mut entries, session, &user);
    }
    let gone = |entries: &Entries| -> std::collections::HashSet<SessionId> {
        sessions
            .iter()
            .map(|session| session.id)
            .filter(|id| !entries.by_session.contains_key(id))
            .collect()
    };
    // Evicted, then the same sessions come back (into the same buckets), sixteen times.
    // The first buckets every time would forget the same 100 each time; from a random
    // place, most of the 800 go at some point (about 700 on average; 300 or fewer only
    // if all sixteen places fall within a quarter of the map: odds below 1 in 10^7).
    // Two evictions compared once, as this test did first, overlap by half one time in
    // eight.
    let mut ever_forgotten = std::collections::HashSet::new();
    for _ in 0..16 {
        entries.evict_some(800);
        let forgotten = gone(&entries);
        assert_eq!(forgotten.len(), 100);
        for session in sessions
            .iter()
            .filter(|session| forgotten.contains(&session.id))
        {
            hold(&mut entries, session, &user);
        }
        ever_forgotten.extend(forgotten);
    }
    assert!(
        ever_forgotten.len() > 300,
        "only {} of 800 ever forgotten",
        ever_forgotten.len()
    );
    entries.evict_some(800);
    assert_eq!(
        entries.by_user[&user.id].len(),
        700,
        "the account's index agrees"
    );
}

#[test]
fn stays_within_capacity_and_keeps_most_of_what_it_holds() {
    let cache = live_cache();
    let user = account();
    let sessions: Vec<Session> = (0..25).map(|_| session_of(&user)).collect();
    for session in &sessions {
        cache.fill(cache.ticket(), session, &user);
        assert!(cache.len() <= 10);
    }
    assert!(cache.len() >= 9, "one evicted at a time: {}", cache.len());
    let kept = sessions
        .iter()
        .filter(|session| cache.lookup(session.id).is_some())
        .count();
    assert_eq!(kept, cache.len(), "the account's index agrees");
    cache.forget_user(user.id);
    assert_eq!(cache.len(), 0);
}

#[test]
fn off_holds_nothing() {
    let cache = SessionCache::off();
    cache.heartbeat_received();
    let user = account();
    let session = session_of(&user);
    cache.fill(cache.ticket(), &session, &user);
    assert!(cache.lookup(session.id).is_none());
    assert!(!cache.is_usable());
}
