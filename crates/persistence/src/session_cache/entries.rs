//! The cache's storage: one flat entry per session, and the account index that lets an
//! account's change forget all of its sessions.

use std::{collections::HashMap, time::Instant};

use chrono::{DateTime, Utc};
use gatehouse_domain::{Assurance, Email, PasswordHash, Session, SessionId, User, UserId};

use super::ENTRY_TTL;

/// What one cached session may cost in memory, entry and maps together: the bound its
/// budget (`SESSION_CACHE_MEMORY_MB`) is divided by. Measured by `just bench-scale` at 463
/// bytes (see `Entry`).
pub const BYTES_PER_SESSION: usize = 512;

#[derive(Default)]
pub(super) struct Entries {
    /// Boxed: the map's spare capacity then costs a pointer per slot, not a whole entry.
    pub(super) by_session: HashMap<SessionId, Box<Entry>>,
    pub(super) by_user: HashMap<UserId, Vec<SessionId>>,
}

/// What is kept of a session and its account: what checking a token needs, flat. Not
/// the password hash (the one flow that checks a password, changing it, reads the stored
/// hash), nor the session's user agent and IP (shown only in listings, which read the
/// database): each about 100 bytes a session. Flat, one entry is one allocation of about
/// 200 bytes, and a cached session stays within 512 bytes with the maps (`just
/// bench-scale` measures it).
pub(super) struct Entry {
    user_id: UserId,
    email: Email,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    rotated_at: Option<DateTime<Utc>>,
    account_created_at: DateTime<Utc>,
    account_updated_at: DateTime<Utc>,
    latest_refresh_generation: u32,
    highest_used_generation: u32,
    assurance: Assurance,
    is_active: bool,
    is_verified: bool,
    is_superuser: bool,
    pub(super) stored_at: Instant,
}

impl Entry {
    pub(super) fn new(session: &Session, user: &User) -> Self {
        Self {
            user_id: user.id,
            email: user.email.clone(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            revoked_at: session.revoked_at,
            rotated_at: session.rotated_at,
            account_created_at: user.created_at,
            account_updated_at: user.updated_at,
            latest_refresh_generation: session.latest_refresh_generation,
            highest_used_generation: session.highest_used_generation,
            assurance: session.assurance.clone(),
            is_active: user.is_active,
            is_verified: user.is_verified,
            is_superuser: user.is_superuser,
            stored_at: Instant::now(),
        }
    }

    /// The session `id` and its account as [`SessionCache::lookup`] answers them.
    pub(super) fn to_session_and_user(&self, id: SessionId) -> (Session, User) {
        let session = Session {
            id,
            user_id: self.user_id,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            latest_refresh_generation: self.latest_refresh_generation,
            highest_used_generation: self.highest_used_generation,
            rotated_at: self.rotated_at,
            user_agent: None,
            ip: None,
            assurance: self.assurance.clone(),
        };
        let user = User {
            id: self.user_id,
            email: self.email.clone(),
            password_hash: PasswordHash::none(),
            is_active: self.is_active,
            is_verified: self.is_verified,
            is_superuser: self.is_superuser,
            created_at: self.account_created_at,
            updated_at: self.account_updated_at,
        };
        (session, user)
    }
}

impl Entries {
    pub(super) fn remove(&mut self, id: SessionId) {
        if let Some(entry) = self.by_session.remove(&id)
            && let Some(ids) = self.by_user.get_mut(&entry.user_id)
        {
            ids.retain(|kept| *kept != id);
            if ids.is_empty() {
                self.by_user.remove(&entry.user_id);
            }
        }
    }

    /// Makes room in a full cache by forgetting an eighth of it: a run of the map's
    /// entries from a random place in it. Emptying it all at once, as before, held the
    /// lock while thousands of entries were freed, and left nothing cached when more
    /// sessions are in use than the cache holds; at random, a share of them stays. The
    /// place must be drawn: the map lists its entries in the same order every time, so
    /// "the first eighth" forgot the same sessions (those in the first buckets) again and
    /// again while the rest stayed for good.
    pub(super) fn evict_some(&mut self, capacity: usize) {
        let held = self.by_session.len();
        if held == 0 {
            return;
        }
        let start = rand::random_range(0..held);
        let victims: Vec<SessionId> = self
            .by_session
            .keys()
            .cycle()
            .skip(start)
            .take((capacity / 8).clamp(1, held))
            .copied()
            .collect();
        for id in victims {
            self.remove(id);
        }
    }

    pub(super) fn drop_stale(&mut self) {
        self.by_session
            .retain(|_, entry| entry.stored_at.elapsed() < ENTRY_TTL);
        let live = &self.by_session;
        self.by_user.retain(|_, ids| {
            ids.retain(|id| live.contains_key(id));
            !ids.is_empty()
        });
    }
}
