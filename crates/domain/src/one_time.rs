//! Single-use tokens mailed to a user: what each is for.

use crate::{IdentityId, PasskeyId};

/// What a single-use token proves when it comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OneTimePurpose {
    /// The holder may set a new password (`POST /auth/reset-password`).
    PasswordReset,
    /// The holder controls the account's address (`POST /auth/verify`).
    VerifyEmail,
    /// The holder says a way in added to the account was not theirs (the security mail's
    /// `/not-me` link): it undoes that one ([`WayIn`]).
    NotMe,
}

impl OneTimePurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
            Self::NotMe => "not_me",
        }
    }
}

/// A way to sign in that was added to an account, as a "this wasn't me" link names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WayIn {
    /// The authenticator app (TOTP) confirmed at this second (Unix time): that one, not a
    /// later one that replaced it.
    Totp(i64),
    /// A passkey.
    Passkey(PasskeyId),
    /// An identity at another provider.
    Identity(IdentityId),
}

impl WayIn {
    /// The stored form: `totp`, `passkey:<id>`, `identity:<id>`.
    pub fn subject(self) -> String {
        match self {
            Self::Totp(confirmed_at) => format!("totp:{confirmed_at}"),
            Self::Passkey(id) => format!("passkey:{id}"),
            Self::Identity(id) => format!("identity:{id}"),
        }
    }

    /// The way in a stored subject names; `None` for anything else.
    pub fn parse(subject: &str) -> Option<Self> {
        match subject.split_once(':') {
            Some(("totp", at)) => at.parse().ok().map(Self::Totp),
            Some(("passkey", id)) => PasskeyId::parse(id).map(Self::Passkey),
            Some(("identity", id)) => IdentityId::parse(id).map(Self::Identity),
            _ => None,
        }
    }

    /// How the pages and mails call it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Totp(_) => "an authenticator app",
            Self::Passkey(_) => "a passkey",
            Self::Identity(_) => "a sign-in with another provider",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_way_in_reads_back_as_it_was_stored() {
        for way in [
            WayIn::Totp(1_796_000_000),
            WayIn::Passkey(PasskeyId::new()),
            WayIn::Identity(IdentityId::new()),
        ] {
            assert_eq!(WayIn::parse(&way.subject()), Some(way));
            assert!(way.subject().len() <= 64, "the column's width");
        }
        for bad in [
            "",
            "totp",
            "totp:x",
            "passkey:",
            "passkey:nope",
            "identity",
            "password",
        ] {
            assert_eq!(WayIn::parse(bad), None, "{bad}");
        }
    }
}
