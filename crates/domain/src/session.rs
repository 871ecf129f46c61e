//! A session is one login: the family of refresh tokens descended from it.
//!
//! Refresh tokens carry a generation (`gen`, 0 at login, +1 per refresh). The session
//! remembers the newest generation issued, the highest generation presented, and when the
//! newest generation was issued (which is when the one before it was first used). From
//! these, [`Session::refresh_verdict`] tells a legitimate refresh from a replay: only the
//! newest generation is good, plus two exceptions that keep honest clients working — a
//! client that never rotates (the Python starter's) and a just-used token presented again
//! within a short grace period (concurrent requests, a lost answer). Anything else means
//! two parties hold the session's tokens, and the session is revoked.

use chrono::{DateTime, Duration, Utc};

use crate::{Assurance, SessionId, UserId};

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
    /// When the newest generation was first handed out, i.e. when the generation before
    /// it was first used; `None` until the first rotation.
    pub rotated_at: Option<DateTime<Utc>>,
    /// Client's `User-Agent` at login, if any.
    pub user_agent: Option<String>,
    /// Client IP at login, if known.
    pub ip: Option<String>,
    /// How the login that opened it proved who it was; refreshing keeps it.
    pub assurance: Assurance,
}

/// How refresh tokens rotate (`REFRESH_TOKEN_ROTATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRotation {
    /// Rotate, and keep accepting generation 0 while no later generation has been
    /// presented: clients that never store the rotated token keep working.
    Auto,
    /// Rotate; only the newest generation (and, within the grace period, the one before)
    /// is accepted.
    Strict,
    /// No rotation: the refresh token from login is used until it expires.
    Off,
}

impl RefreshRotation {
    /// Parses `auto`, `strict`, `off`, and `true` (= auto) / `false` (= off),
    /// case-insensitively.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "auto" | "true" => Self::Auto,
            "strict" => Self::Strict,
            "off" | "false" => Self::Off,
            _ => return None,
        })
    }
}

/// The rotation mode and how long a just-used refresh token may be presented again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Which rule applies.
    pub rotation: RefreshRotation,
    /// How long after its first use the generation before the newest is still accepted.
    pub reuse_grace: Duration,
}

impl Default for RefreshPolicy {
    /// `auto` with a 10-second grace period.
    fn default() -> Self {
        Self {
            rotation: RefreshRotation::Auto,
            reuse_grace: Duration::seconds(10),
        }
    }
}

/// What to do with a refresh token of generation `gen` presented to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshVerdict {
    /// The token is good: record its use and hand out generation `gen + 1`.
    Accept,
    /// A validly signed token the rule does not accept: someone replayed a copy. Revoke
    /// the session.
    Reuse,
    /// The session is over (revoked or expired).
    Reject,
}

impl Session {
    /// Whether tokens of this session are still accepted at `now`.
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// The rule for a refresh token of generation `generation` presented at `now`.
    ///
    /// Accepted, on a live session: (a) the newest generation; (b) with
    /// [`RefreshRotation::Auto`], generation 0 while no later generation has ever been
    /// presented; (c) the generation just before the newest, within `reuse_grace` of its
    /// first use. With [`RefreshRotation::Off`] every token of a live session is accepted.
    /// Anything else is [`RefreshVerdict::Reuse`].
    pub fn refresh_verdict(
        &self,
        generation: u32,
        now: DateTime<Utc>,
        policy: RefreshPolicy,
    ) -> RefreshVerdict {
        if !self.is_active_at(now) {
            return RefreshVerdict::Reject;
        }
        let newest = generation == self.latest_refresh_generation;
        let never_rotating = policy.rotation == RefreshRotation::Auto
            && generation == 0
            && self.highest_used_generation == 0;
        let within_grace = generation.checked_add(1) == Some(self.latest_refresh_generation)
            && self
                .rotated_at
                .is_some_and(|rotated| now - rotated <= policy.reuse_grace);
        if policy.rotation == RefreshRotation::Off || newest || never_rotating || within_grace {
            RefreshVerdict::Accept
        } else {
            RefreshVerdict::Reuse
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
    /// How the login proved who it was.
    pub assurance: Assurance,
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTO: RefreshPolicy = RefreshPolicy {
        rotation: RefreshRotation::Auto,
        reuse_grace: Duration::seconds(10),
    };
    const STRICT: RefreshPolicy = RefreshPolicy {
        rotation: RefreshRotation::Strict,
        ..AUTO
    };

    /// A session whose newest generation `latest` was issued at `rotated_at`.
    fn session(latest: u32, highest_used: u32, rotated_at: Option<DateTime<Utc>>) -> Session {
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
            rotated_at,
            user_agent: None,
            ip: None,
            assurance: Assurance::password(),
        }
    }

    #[test]
    fn the_newest_generation_is_accepted_in_every_mode() {
        let now = Utc::now();
        let s = session(3, 2, Some(now - Duration::days(1)));
        for policy in [AUTO, STRICT] {
            assert_eq!(s.refresh_verdict(3, now, policy), RefreshVerdict::Accept);
        }
    }

    #[test]
    fn auto_accepts_generation_zero_until_a_later_generation_is_presented() {
        let now = Utc::now();
        let never_presented_later = session(1, 0, Some(now - Duration::days(1)));
        assert_eq!(
            never_presented_later.refresh_verdict(0, now, AUTO),
            RefreshVerdict::Accept
        );
        let later_presented = session(2, 1, Some(now - Duration::days(1)));
        assert_eq!(
            later_presented.refresh_verdict(0, now, AUTO),
            RefreshVerdict::Reuse
        );
    }

    #[test]
    fn strict_treats_a_stale_generation_zero_as_reuse() {
        let now = Utc::now();
        let s = session(1, 0, Some(now - Duration::minutes(1)));
        assert_eq!(s.refresh_verdict(0, now, STRICT), RefreshVerdict::Reuse);
    }

    #[test]
    fn the_generation_before_the_newest_is_accepted_within_the_grace_period_only() {
        let now = Utc::now();
        let just_rotated = session(2, 1, Some(now - Duration::seconds(3)));
        let long_rotated = session(2, 1, Some(now - Duration::seconds(11)));
        for policy in [AUTO, STRICT] {
            assert_eq!(
                just_rotated.refresh_verdict(1, now, policy),
                RefreshVerdict::Accept
            );
            assert_eq!(
                long_rotated.refresh_verdict(1, now, policy),
                RefreshVerdict::Reuse
            );
            assert_eq!(
                just_rotated.refresh_verdict(0, now, policy),
                RefreshVerdict::Reuse,
                "two generations back is never within grace"
            );
        }
    }

    #[test]
    fn a_generation_never_issued_is_reuse() {
        let now = Utc::now();
        let s = session(1, 0, Some(now));
        assert_eq!(s.refresh_verdict(5, now, AUTO), RefreshVerdict::Reuse);
        assert_eq!(
            s.refresh_verdict(u32::MAX, now, AUTO),
            RefreshVerdict::Reuse
        );
    }

    #[test]
    fn without_rotation_any_token_of_a_live_session_is_accepted() {
        let off = RefreshPolicy {
            rotation: RefreshRotation::Off,
            ..AUTO
        };
        let s = session(0, 0, None);
        assert_eq!(
            s.refresh_verdict(0, Utc::now(), off),
            RefreshVerdict::Accept
        );
    }

    #[test]
    fn revoked_or_expired_sessions_reject_every_token() {
        let mut s = session(0, 0, None);
        assert_eq!(
            s.refresh_verdict(0, s.expires_at + Duration::seconds(1), AUTO),
            RefreshVerdict::Reject
        );
        s.revoked_at = Some(Utc::now());
        assert_eq!(
            s.refresh_verdict(0, Utc::now(), AUTO),
            RefreshVerdict::Reject
        );
    }

    #[test]
    fn rotation_modes_parse_with_the_starters_booleans() {
        assert_eq!(RefreshRotation::parse("true"), Some(RefreshRotation::Auto));
        assert_eq!(RefreshRotation::parse("AUTO"), Some(RefreshRotation::Auto));
        assert_eq!(
            RefreshRotation::parse(" strict "),
            Some(RefreshRotation::Strict)
        );
        assert_eq!(RefreshRotation::parse("false"), Some(RefreshRotation::Off));
        assert_eq!(RefreshRotation::parse("off"), Some(RefreshRotation::Off));
        assert_eq!(RefreshRotation::parse("sometimes"), None);
    }
}
