//! An in-process copy of recently checked sessions and their accounts, so an authenticated
//! request need not ask the database.
//!
//! A cached answer is only as good as the news of changes, so the cache is used only while
//! it hears that news:
//!
//! - **This instance's changes** go through the repositories, which forget the affected
//!   entries after every write and before returning: a revocation is refused here before
//!   the revoking request answers.
//! - **Everyone else's** (other instances, the `users` command, an operator's SQL) arrive
//!   as Postgres notifications sent by triggers on `users` and `sessions` (see
//!   [`crate::invalidation`]), typically within milliseconds.
//! - **Whether that channel works, and how late its news is,** is proven by heartbeats
//!   each instance sends through it every [`HEARTBEAT_INTERVAL`], stamped with the sender
//!   and the send time. Postgres delivers notifications in commit order, so once this
//!   instance hears its own heartbeat sent at `T`, it has heard every change committed
//!   before `T`. The cache answers only while the newest own heartbeat heard was *sent*
//!   within [`MAX_SILENCE`]: a slow link delays the heartbeats as much as the news, and
//!   turns the cache off instead of letting it answer late. Other instances' heartbeats
//!   prove nothing about this instance's link and are ignored. When the listener's
//!   connection is lost the cache is emptied. So a change made anywhere is refused here
//!   within a second, whether the channel breaks, falls silent or slows down.
//!
//! A fill races with invalidations: a request that read the row before a revocation
//! committed could store it after the revocation was processed. Every invalidation bumps
//! an epoch, and a fill whose read began in an older epoch is dropped.

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use gatehouse_domain::{Session, SessionId, User, UserId};

mod entries;

pub use entries::BYTES_PER_SESSION;
use entries::{Entries, Entry};

/// How often each instance sends a heartbeat through the invalidation channel.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(200);

/// How long without a heartbeat before the cache stops answering. With
/// [`HEARTBEAT_INTERVAL`] this keeps "refused everywhere within a second" when the
/// channel breaks without an error.
pub const MAX_SILENCE: Duration = Duration::from_millis(700);

/// How long an entry is trusted at most, even with the channel up: a bound on the damage
/// of a change that somehow sent no notification.
pub const ENTRY_TTL: Duration = Duration::from_secs(30);

/// Recently authenticated sessions with their accounts. Cheap to clone (shared).
#[derive(Clone)]
pub struct SessionCache {
    shared: Option<Arc<Shared>>,
}

pub(crate) struct Shared {
    capacity: usize,
    /// Names this cache's heartbeats among every instance's on the channel.
    instance: String,
    started: Instant,
    /// Bumped by every invalidation; see [`FillTicket`].
    epoch: AtomicU64,
    /// Milliseconds since `started` when the newest own heartbeat heard was sent; 0 = none
    /// since the channel was (re)connected.
    last_heartbeat_ms: AtomicU64,
    /// Lookups answered from the cache, for the metrics.
    hits: AtomicU64,
    entries: Mutex<Entries>,
}

/// The epoch a database read began in: a fill with an outdated ticket is dropped.
#[derive(Debug, Clone, Copy)]
pub struct FillTicket(Option<u64>);

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared {
            Some(shared) => f
                .debug_struct("SessionCache")
                .field("capacity", &shared.capacity)
                .field("usable", &self.is_usable())
                .finish(),
            None => f.write_str("SessionCache(off)"),
        }
    }
}

impl SessionCache {
    /// A cache that never holds anything (SQLite and MySQL, which have no invalidation
    /// channel, or `SESSION_CACHE_SIZE=0`).
    pub fn off() -> Self {
        Self { shared: None }
    }

    /// An empty cache of up to `capacity` sessions, unusable until the first heartbeat.
    pub fn new(capacity: usize) -> Self {
        if capacity == 0 {
            return Self::off();
        }
        Self {
            shared: Some(Arc::new(Shared {
                capacity,
                instance: uuid::Uuid::new_v4().simple().to_string(),
                started: Instant::now(),
                epoch: AtomicU64::new(0),
                last_heartbeat_ms: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                entries: Mutex::new(Entries::default()),
            })),
        }
    }

    /// Whether this cache exists at all (it may still be unusable for a while).
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether lookups may answer: a heartbeat arrived within `MAX_SILENCE`.
    pub fn is_usable(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|shared| shared.is_usable())
    }

    /// The cached session and account, if the cache is usable and holds a fresh entry:
    /// without the account's password hash (it reads as [`gatehouse_domain::PasswordHash::none`], which
    /// matches nothing) and the session's user agent and IP.
    pub fn lookup(&self, id: SessionId) -> Option<(Session, User)> {
        let shared = self.shared.as_ref()?;
        if !shared.is_usable() {
            return None;
        }
        let entries = shared.lock();
        let entry = entries.by_session.get(&id)?;
        if entry.stored_at.elapsed() >= ENTRY_TTL {
            return None;
        }
        shared.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.to_session_and_user(id))
    }

    /// Call before reading what may be stored with [`fill`](Self::fill).
    pub fn ticket(&self) -> FillTicket {
        FillTicket(
            self.shared
                .as_ref()
                .map(|shared| shared.epoch.load(Ordering::Acquire)),
        )
    }

    /// Stores what a read begun at `ticket` found, unless something was invalidated since
    /// or the channel is not working.
    pub fn fill(&self, ticket: FillTicket, session: &Session, user: &User) {
        let (Some(shared), FillTicket(Some(epoch))) = (self.shared.as_ref(), ticket) else {
            return;
        };
        if !shared.is_usable() {
            return;
        }
        let mut entries = shared.lock();
        // Checked under the lock that invalidations also take, after they bump the epoch.
        if shared.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.by_session.len() >= shared.capacity {
            entries.drop_stale();
            if entries.by_session.len() >= shared.capacity {
                entries.evict_some(shared.capacity);
            }
        }
        let previous = entries
            .by_session
            .insert(session.id, Box::new(Entry::new(session, user)));
        if previous.is_none() {
            // Most accounts have one session open: room for one, not the default four.
            entries
                .by_user
                .entry(user.id)
                .or_insert_with(|| Vec::with_capacity(1))
                .push(session.id);
        }
    }

    /// Forgets one session.
    pub fn forget_session(&self, id: SessionId) {
        self.invalidate(|entries| {
            entries.remove(id);
        });
    }

    /// Forgets every session of an account (its state changed, or it is gone).
    pub fn forget_user(&self, id: UserId) {
        self.invalidate(|entries| {
            for session in entries.by_user.remove(&id).unwrap_or_default() {
                entries.by_session.remove(&session);
            }
        });
    }

    /// Forgets everything.
    pub fn forget_all(&self) {
        self.invalidate(|entries| *entries = Entries::default());
    }

    /// A heartbeat of this cache, sent now, arrived at once (what `heard_heartbeat`
    /// records for a heartbeat without delay).
    pub fn heartbeat_received(&self) {
        if let Some(shared) = &self.shared {
            shared.note_own_heartbeat(shared.now_ms());
        }
    }

    /// The payload of a heartbeat sent now: `h:<instance>:<milliseconds>`.
    pub(crate) fn heartbeat_payload(&self) -> Option<String> {
        let shared = self.shared.as_ref()?;
        Some(format!("h:{}:{}", shared.instance, shared.now_ms()))
    }

    /// A heartbeat (`<instance>:<milliseconds>`, after the `h:`) arrived: the channel has
    /// delivered everything committed before it was sent. Another instance's heartbeat, or
    /// one this cache cannot read, says nothing about this instance's link.
    pub(crate) fn heard_heartbeat(&self, stamp: &str) {
        let Some(shared) = &self.shared else {
            return;
        };
        let Some((instance, sent_ms)) = stamp.split_once(':') else {
            return;
        };
        if instance == shared.instance
            && let Ok(sent_ms) = sent_ms.parse()
        {
            shared.note_own_heartbeat(sent_ms);
        }
    }

    /// The channel's connection was lost: notifications may have been missed. Empties the
    /// cache and stops answering until the next heartbeat.
    pub fn channel_lost(&self) {
        if let Some(shared) = &self.shared {
            shared.last_heartbeat_ms.store(0, Ordering::Release);
        }
        self.forget_all();
    }

    /// How many lookups the cache has answered.
    pub fn hits(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |shared| shared.hits.load(Ordering::Relaxed))
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.shared
            .as_ref()
            .map_or(0, |shared| shared.lock().by_session.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A handle for background tasks that must not keep the cache alive.
    pub(crate) fn downgrade(&self) -> Option<std::sync::Weak<Shared>> {
        self.shared.as_ref().map(Arc::downgrade)
    }

    /// The cache behind a [`downgrade`](Self::downgrade)d handle, while it is in use.
    pub(crate) fn upgrade(weak: &std::sync::Weak<Shared>) -> Option<Self> {
        weak.upgrade().map(|shared| Self {
            shared: Some(shared),
        })
    }

    fn invalidate(&self, change: impl FnOnce(&mut Entries)) {
        if let Some(shared) = &self.shared {
            let mut entries = shared.lock();
            shared.epoch.fetch_add(1, Ordering::AcqRel);
            change(&mut entries);
        }
    }
}

impl Shared {
    fn is_usable(&self) -> bool {
        let last = self.last_heartbeat_ms.load(Ordering::Acquire);
        if last == 0 {
            return false;
        }
        u128::from(self.now_ms().saturating_sub(last)) < MAX_SILENCE.as_millis()
    }

    /// Milliseconds since `started`, at least 1 (0 means "no heartbeat").
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn note_own_heartbeat(&self, sent_ms: u64) {
        // A stamp from the future is no heartbeat of ours (anyone who may NOTIFY could
        // forge one to keep the cache on): ignored.
        if sent_ms <= self.now_ms() {
            self.last_heartbeat_ms.fetch_max(sent_ms, Ordering::AcqRel);
        }
    }

    /// The entries; a panic elsewhere while holding the lock leaves plain maps behind, so a
    /// poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
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
}
