//! Passkeys as an account sees them, and the purposes a passkey ceremony serves.

use chrono::{DateTime, Utc};

use crate::{PasskeyId, ValidationError};

/// The most characters a passkey's name may have.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;

/// A passkey's name, as its owner chose it: trimmed, 1 to 64 characters, no control
/// characters (it is shown in lists and mails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    /// The name given when none was: the passkey's number among the account's.
    pub fn default_for(count_before: usize) -> Self {
        Self(format!("Passkey {}", count_before + 1))
    }

    /// Parses a name as typed.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        if name.chars().count() > MAX_PASSKEY_NAME_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("at most {MAX_PASSKEY_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// Wraps a name read back from storage.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registered passkey, as its owner lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySummary {
    /// Which passkey.
    pub id: PasskeyId,
    /// Its name.
    pub name: PasskeyName,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed in, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once it presented a signature counter that did not move forward: two copies of
    /// its key may exist, and its owner should look.
    pub possibly_cloned: bool,
}

/// What a passkey ceremony was started for; a challenge serves only its purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyPurpose {
    /// Adding a passkey to a signed-in account.
    Registration,
    /// Signing in with a passkey alone.
    SignIn,
    /// The second step of a password login.
    SecondStep,
}

impl CeremonyPurpose {
    /// The name stored with the challenge.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::SignIn => "sign_in",
            Self::SecondStep => "second_step",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(PasskeyName::parse("  Laptop ").unwrap().as_str(), "Laptop");
        assert_eq!(PasskeyName::default_for(2).as_str(), "Passkey 3");
        assert!(PasskeyName::parse(&"é".repeat(64)).is_ok());
        for bad in ["", "   ", "a\nb", "tab\there"] {
            assert_eq!(
                PasskeyName::parse(bad).unwrap_err().field,
                "name",
                "{bad:?}"
            );
        }
        assert!(PasskeyName::parse(&"x".repeat(65)).is_err());
    }
}
