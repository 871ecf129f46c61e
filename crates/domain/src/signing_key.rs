//! Managed signing keys (`SIGNING_KEYS=managed`) and the rule that moves them through
//! their lives: `next` (published, signing nothing) → `current` (signing) → `retiring`
//! (verifying what it signed) → removed.
//!
//! The timing is what keeps everyone signed in and every verifier able to check:
//! - a `next` key is published `publish_ahead` before it signs, so a verifier that caches
//!   the JWK set for half that time learns it before the first token it signs;
//! - a `retiring` key stays until the longest-lived token it could have signed has
//!   expired, so nothing it signed stops verifying early.

use chrono::{DateTime, Duration, Utc};

/// Where a managed key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published in the JWK set; signs nothing yet.
    Next,
    /// Signs every new token (one at a time).
    Current,
    /// Signs nothing; still verifies the tokens it signed, until they have all expired.
    Retiring,
}

impl KeyState {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retiring => "retiring",
        }
    }

    /// The state a stored name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "next" => Self::Next,
            "current" => Self::Current,
            "retiring" => Self::Retiring,
            _ => return None,
        })
    }
}

/// A managed key's life, as stored (its private part is not the domain's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedKey {
    /// Its `kid`: the public key's RFC 7638 thumbprint.
    pub kid: String,
    /// Its JOSE algorithm name (`RS256`, `ES256`, `EdDSA`).
    pub algorithm: String,
    /// Where it is in its life.
    pub state: KeyState,
    /// When it was made (and published).
    pub created_at: DateTime<Utc>,
    /// When it began to sign.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
}

/// What the schedule asks to be done now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStep {
    /// Make a new key in this state: `Current` when nothing signs (the first start),
    /// `Next` for an automatic rotation.
    Create(KeyState),
    /// The `next` key `kid` signs from now on; the `current` one retires.
    Activate(String),
    /// Every token the `retiring` key `kid` signed has expired: drop it.
    Remove(String),
}

/// The timings of managed keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySchedule {
    /// How long a `next` key is published before it signs (`KEY_PUBLISH_AHEAD_MIN`).
    pub publish_ahead: Duration,
    /// How long a key signs before a new one is made (`KEY_ROTATION_DAYS`; `None`: never).
    pub rotate_every: Option<Duration>,
    /// How long after a key retires a token it signed can still be checked: the longest
    /// of the access, refresh and ID token lifetimes, plus the verifiers' clock leeway,
    /// plus the time an instance may take to learn of the activation (it signs with the
    /// old key until then).
    pub longest_token_life: Duration,
}

impl KeySchedule {
    /// When the `next` key made at `created_at` begins to sign.
    pub fn activates_at(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        created_at
            .checked_add_signed(self.publish_ahead)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// When a key that retired at `retired_at` is removed.
    pub fn removed_at(&self, retired_at: DateTime<Utc>) -> DateTime<Utc> {
        retired_at
            .checked_add_signed(self.longest_token_life)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The steps due at `now` for `keys`, in the order to take them.
    pub fn steps_due(&self, keys: &[ManagedKey], now: DateTime<Utc>) -> Vec<KeyStep> {
        let of = |state| keys.iter().find(|key| key.state == state);
        let (current, next) = (of(KeyState::Current), of(KeyState::Next));
        let mut steps = Vec::new();
        match (current, next) {
            (None, None) => steps.push(KeyStep::Create(KeyState::Current)),
            // Nothing signs: the waiting key must, at once (only a damaged table gets here).
            (None, Some(next)) => steps.push(KeyStep::Activate(next.kid.clone())),
            (Some(_), Some(next)) if self.activates_at(next.created_at) <= now => {
                steps.push(KeyStep::Activate(next.kid.clone()));
            }
            (Some(current), None) => {
                let signing_since = current.activated_at.unwrap_or(current.created_at);
                let due = self
                    .rotate_every
                    .and_then(|every| signing_since.checked_add_signed(every));
                if due.is_some_and(|due| due <= now) {
                    steps.push(KeyStep::Create(KeyState::Next));
                }
            }
            (Some(_), Some(_)) => {}
        }
        steps.extend(
            keys.iter()
                .filter(|key| key.state == KeyState::Retiring)
                .filter(|key| self.removed_at(key.retired_at.unwrap_or(key.created_at)) <= now)
                .map(|key| KeyStep::Remove(key.kid.clone())),
        );
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> KeySchedule {
        KeySchedule {
            publish_ahead: Duration::minutes(10),
            rotate_every: Some(Duration::days(90)),
            longest_token_life: Duration::days(7),
        }
    }

    fn key(kid: &str, state: KeyState, created_at: DateTime<Utc>) -> ManagedKey {
        ManagedKey {
            kid: kid.into(),
            algorithm: "ES256".into(),
            state,
            created_at,
            activated_at: (state != KeyState::Next).then_some(created_at),
            retired_at: (state == KeyState::Retiring).then_some(created_at),
        }
    }

    #[test]
    fn the_first_key_signs_at_once_and_a_next_one_waits_its_publish_ahead() {
        let now = Utc::now();
        assert_eq!(
            schedule().steps_due(&[], now),
            [KeyStep::Create(KeyState::Current)]
        );
        let current = key("a", KeyState::Current, now - Duration::days(1));
        let waiting = key("b", KeyState::Next, now - Duration::minutes(9));
        let keys = [current.clone(), waiting];
        assert!(schedule().steps_due(&keys, now).is_empty());
        assert_eq!(
            schedule().steps_due(&keys, now + Duration::minutes(1)),
            [KeyStep::Activate("b".into())]
        );
        // A next key with nothing signing signs at once.
        let alone = key("b", KeyState::Next, now);
        assert_eq!(
            schedule().steps_due(&[alone], now),
            [KeyStep::Activate("b".into())]
        );
    }

    #[test]
    fn a_key_is_rotated_after_its_days_and_never_when_rotation_is_off() {
        let now = Utc::now();
        let mut old = key("a", KeyState::Current, now - Duration::days(90));
        assert_eq!(
            schedule().steps_due(std::slice::from_ref(&old), now),
            [KeyStep::Create(KeyState::Next)]
        );
        old.activated_at = Some(now - Duration::days(89));
        assert!(schedule().steps_due(&[old.clone()], now).is_empty());
        let never = KeySchedule {
            rotate_every: None,
            ..schedule()
        };
        assert!(
            never
                .steps_due(&[old], now + Duration::days(1000))
                .is_empty()
        );
    }

    #[test]
    fn a_retiring_key_is_removed_once_its_last_token_has_expired() {
        let now = Utc::now();
        let current = key("a", KeyState::Current, now - Duration::days(30));
        let retiring = key("b", KeyState::Retiring, now - Duration::days(7));
        let fresh = key("c", KeyState::Retiring, now - Duration::days(6));
        assert_eq!(
            schedule().steps_due(&[current, retiring, fresh], now),
            [KeyStep::Remove("b".into())]
        );
    }

    #[test]
    fn states_read_back_as_written() {
        for state in [KeyState::Next, KeyState::Current, KeyState::Retiring] {
            assert_eq!(KeyState::parse(state.as_str()), Some(state));
        }
        assert_eq!(KeyState::parse("Current"), None);
    }
}
