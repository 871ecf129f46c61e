//! A session is one login: the family of refresh tokens descended from it.
//!
//! Refresh tokens carry a generation (`gen`, 0 at login, +1 per refresh). The session
//! remembers the newest generation issued and the highest generation *used*. A token
//! stays good until a newer generation has been used; presenting an older one after that
//! means two parties hold the session's tokens, so the session is revoked. A client that
//! never stores the rotated token (the Python starter's clients) keeps presenting
//! generation 0, which never falls behind, and keeps working.

use chrono::{DateTime, Utc};

use crate::{SessionId, UserId};

/// A login session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The `sid` claim of every token of this session.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last refresh (or login).
    pub last_used_at: DateTime<Utc>,
    /// After this, no token of the session is accepted.
    pub expires_at: DateTime<Utc>,
    /// Set when the session was logged out or revoked for reuse.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Newest refresh generation handed out.
    pub latest_refresh_generation: u32,
    /// Highest refresh generation presented so far.
    pub highest_used_generation: u32,
    /// Client's `User-Agent` at login, if any.
    pub user_agent: Option<String>,
    /// Client IP at login, if known.
    pub ip: Option<String>,
}

/// What to do with a refresh token of generation `gen` presented to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshVerdict {
    /// The token is current: record its use and hand out generation `gen + 1`.
    Accept,
    /// A newer generation has already been used: the token was copied. Revoke the session.
    Reuse,
    /// The session is over (revoked or expired), or the generation was never issued.
    Reject,
}

impl Session {
    /// Whether tokens of this session are still accepted at `now`.
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// The rule for a refresh token of generation `generation` presented at `now`.
    pub fn refresh_verdict(&self, generation: u32, now: DateTime<Utc>) -> RefreshVerdict {
        if !self.is_active_at(now) || generation > self.latest_refresh_generation {
            RefreshVerdict::Reject
        } else if generation < self.highest_used_generation {
            RefreshVerdict::Reuse
        } else {
            RefreshVerdict::Accept
        }
    }
}

/// What it takes to open a session at login.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// New identifier.
    pub id: SessionId,
    /// Who logged in.
    pub user_id: UserId,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Login time plus the refresh lifetime.
    pub expires_at: DateTime<Utc>,
    /// Client's `User-Agent`, truncated by the caller to a sane length.
    pub user_agent: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn session(latest: u32, highest_used: u32) -> Session {
        let now = Utc::now();
        Session {
            id: SessionId::new(),
            user_id: UserId::new(),
            created_at: now,
            last_used_at: now,
            expires_at: now + Duration::days(7),
            revoked_at: None,
            latest_refresh_generation: latest,
            highest_used_generation: highest_used,
            user_agent: None,
            ip: None,
        }
    }

    #[test]
    fn a_client_that_never_rotates_keeps_being_accepted() {
        let s = session(1, 0);
        assert_eq!(s.refresh_verdict(0, Utc::now()), RefreshVerdict::Accept);
    }

    #[test]
    fn an_older_generation_after_a_newer_one_was_used_is_reuse() {
        let s = session(2, 1);
        assert_eq!(s.refresh_verdict(0, Utc::now()), RefreshVerdict::Reuse);
        assert_eq!(s.refresh_verdict(1, Utc::now()), RefreshVerdict::Accept);
        assert_eq!(s.refresh_verdict(2, Utc::now()), RefreshVerdict::Accept);
    }

    #[test]
    fn a_generation_never_issued_is_rejected() {
        let s = session(1, 0);
        assert_eq!(s.refresh_verdict(5, Utc::now()), RefreshVerdict::Reject);
    }

    #[test]
    fn revoked_or_expired_sessions_reject_every_token() {
        let mut s = session(0, 0);
        assert_eq!(
            s.refresh_verdict(0, s.expires_at + Duration::seconds(1)),
            RefreshVerdict::Reject
        );
        s.revoked_at = Some(Utc::now());
        assert_eq!(s.refresh_verdict(0, Utc::now()), RefreshVerdict::Reject);
    }
}
