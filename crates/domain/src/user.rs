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
