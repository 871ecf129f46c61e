use chrono::{DateTime, Utc};

use crate::{Email, PasswordHash, UserId};

/// A user account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identifier; the `sub` of every token issued to this user.
    pub id: UserId,
    /// Unique, lower-cased.
    pub email: Email,
    /// PHC string of the current password.
    pub password_hash: PasswordHash,
    /// An inactive user cannot log in or use existing tokens.
    pub is_active: bool,
    /// Whether the user proved control of `email`.
    pub is_verified: bool,
    /// May use the admin routes.
    pub is_superuser: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account last changed.
    pub updated_at: DateTime<Utc>,
}

/// What it takes to create an account; storage fills in the timestamps.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// New identifier (see [`UserId::new`]).
    pub id: UserId,
    /// Address to register; must not be taken.
    pub email: Email,
    /// Hash of the chosen password.
    pub password_hash: PasswordHash,
    /// Whether the account starts as an administrator.
    pub is_superuser: bool,
}

impl NewUser {
    /// A regular, active, unverified account.
    pub fn new(email: Email, password_hash: PasswordHash) -> Self {
        Self {
            id: UserId::new(),
            email,
            password_hash,
            is_superuser: false,
        }
    }
}

/// An administrator's change to an account: each field set is replaced.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New address (must not be taken).
    pub email: Option<Email>,
    /// Hash of a new password.
    pub password_hash: Option<PasswordHash>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Grant or withdraw administration.
    pub is_superuser: Option<bool>,
    /// Mark the address verified or not.
    pub is_verified: Option<bool>,
}

impl User {
    /// Whether this account counts toward the active superusers that must remain.
    pub fn is_active_superuser(&self) -> bool {
        self.is_active && self.is_superuser
    }

    /// Whether `update` would make this account stop being an active superuser: allowed
    /// only while another active superuser remains.
    pub fn loses_superuser_power(&self, update: &UserUpdate) -> bool {
        self.is_active_superuser()
            && (update.is_active == Some(false) || update.is_superuser == Some(false))
    }

    /// Whether `update` gives this account another address: the links already mailed to
    /// the old one must stop working.
    pub fn changes_address(&self, update: &UserUpdate) -> bool {
        update
            .email
            .as_ref()
            .is_some_and(|email| *email != self.email)
    }
}

impl UserUpdate {
    /// The names of the fields it sets, comma-separated (for the audit log: names, never
    /// values).
    pub fn field_names(&self) -> String {
        [
            ("email", self.email.is_some()),
            ("password", self.password_hash.is_some()),
            ("is_active", self.is_active.is_some()),
            ("is_superuser", self.is_superuser.is_some()),
            ("is_verified", self.is_verified.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect::<Vec<_>>()
        .join(",")
    }

    /// Whether applying it ends every session of the account: a new password or a
    /// deactivation leaves no token issued before it usable. (A change of one's own
    /// password keeps the session that made it; see the users repository.)
    pub fn ends_sessions(&self) -> bool {
        self.password_hash.is_some() || self.is_active == Some(false)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn admin() -> User {
        User {
            id: UserId::new(),
            email: Email::parse("admin@example.com").unwrap(),
            password_hash: PasswordHash::new("x"),
            is_active: true,
            is_verified: true,
            is_superuser: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn deactivating_or_demoting_an_active_superuser_loses_the_power() {
        let user = admin();
        for update in [
            UserUpdate {
                is_active: Some(false),
                ..UserUpdate::default()
            },
            UserUpdate {
                is_superuser: Some(false),
                ..UserUpdate::default()
            },
        ] {
            assert!(user.loses_superuser_power(&update));
        }
        let harmless = UserUpdate {
            is_verified: Some(false),
            is_superuser: Some(true),
            ..UserUpdate::default()
        };
        assert!(!user.loses_superuser_power(&harmless));
        let inactive = User {
            is_active: false,
            ..admin()
        };
        assert!(!inactive.loses_superuser_power(&UserUpdate {
            is_superuser: Some(false),
            ..UserUpdate::default()
        }));
    }
}
