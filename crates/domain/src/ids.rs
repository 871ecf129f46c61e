use std::fmt;

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh identifier: UUID v7, so identifiers sort by creation time and
            /// index well.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an identifier that was issued earlier (read from storage or a token).
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// Parses the hyphenated text form.
            pub fn parse(raw: &str) -> Option<Self> {
                Uuid::parse_str(raw).ok().map(Self)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

uuid_id!(
    /// Identifies a user account.
    UserId
);
uuid_id!(
    /// Identifies one login session (one family of refresh tokens).
    SessionId
);
uuid_id!(
    /// Identifies one registered passkey.
    PasskeyId
);
uuid_id!(
    /// Identifies one passkey ceremony (the `challenge_id` a client hands back).
    CeremonyId
);
uuid_id!(
    /// Identifies one identity at another provider, linked to an account.
    IdentityId
);
uuid_id!(
    /// Identifies one grant of the OpenID Provider: what one redeemed authorization code
    /// let a client have (its access and refresh tokens).
    GrantId
);
