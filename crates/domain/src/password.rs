//! Passwords are secrets from the moment they are parsed: the type has a redacted `Debug`,
//! no `Display`, and hands its text out only through `expose_secret`.

use std::{collections::HashSet, fmt, sync::LazyLock};

use secrecy::{ExposeSecret, SecretString};

use crate::{Email, ValidationError};

/// Shortest password accepted at registration (NIST SP 800-63B's minimum).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted at registration; bounds hashing work per request.
pub const MAX_PASSWORD_CHARS: usize = 128;

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// A password in clear text, kept secret in memory.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Parses a password chosen by a user (registration, reset, change): 8 to 128
    /// characters (Unicode scalar values), not equal to the account's email, and not on
    /// the bundled list of common passwords.
    pub fn parse_new(
        raw: impl Into<String>,
        field: &'static str,
        email: Option<&Email>,
    ) -> Result<Self, ValidationError> {
        let raw: String = raw.into();
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(ValidationError::new(
                field,
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        let lowered = raw.to_lowercase();
        if email.is_some_and(|email| lowered.trim() == email.as_str()) {
            return Err(ValidationError::new(
                field,
                "must not be the same as the email",
            ));
        }
        if COMMON_PASSWORDS.contains(lowered.as_str()) {
            return Err(ValidationError::new(
                field,
                "is too common; choose a less guessable password",
            ));
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// Wraps a password presented to log in. No policy applies: a password that would be
    /// rejected today may still be the one an older account was created with.
    pub fn presented(raw: impl Into<String>) -> Self {
        Self(SecretString::from(raw.into()))
    }

    /// The clear text, for hashing or verifying only.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// A password hash in PHC string format (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
///
/// Opaque to the domain: the auth crate makes and checks them, persistence stores them.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a hasher or read from storage.
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What an account without a password stores (one created by another provider,
    /// until a reset sets a password): no PHC string, so it matches nothing.
    pub fn none() -> Self {
        Self(NO_PASSWORD.to_owned())
    }

    /// Whether the account has a password.
    pub fn is_set(&self) -> bool {
        self.0 != NO_PASSWORD
    }
}

/// The stored value of "no password" (as a locked account in `/etc/shadow`).
const NO_PASSWORD: &str = "!";

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Password, ValidationError> {
        Password::parse_new(
            raw,
            "password",
            Some(&Email::parse("you@example.com").unwrap()),
        )
    }

    #[test]
    fn starter_example_password_is_accepted() {
        assert!(parse("YourStrongPassw0rd!").is_ok());
    }

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        assert!(parse("ÜÜÜÜÜÜÜ").is_err(), "7 characters, 14 bytes");
        assert!(parse("ÜÜÜÜÜÜÜÜ").is_ok());
        assert!(parse(&"🔐".repeat(128)).is_ok());
        assert!(parse(&"🔐".repeat(129)).is_err());
    }

    #[test]
    fn short_long_common_and_email_passwords_are_rejected() {
        for bad in ["short", "Password123", "QWERTYUIOP", "You@Example.com"] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.field, "password", "{bad}");
        }
        assert!(parse(&"x".repeat(129)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn the_policy_never_panics_and_accepts_only_8_to_128_characters(raw in "\\PC{0,200}") {
            if let Ok(password) = parse(&raw) {
                let chars = password.expose_secret().chars().count();
                proptest::prop_assert!((MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars));
            }
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let password = Password::presented("hunter2hunter2");
        assert!(!format!("{password:?}").contains("hunter2"));
        let hash = PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA");
        assert!(!format!("{hash:?}").contains("argon2"));
    }
}
