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
mod tests;
