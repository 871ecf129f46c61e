//! Single-use tokens mailed to a user: what each is for.

/// What a single-use token proves when it comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OneTimePurpose {
    /// The holder may set a new password (`POST /auth/reset-password`).
    PasswordReset,
    /// The holder controls the account's address (`POST /auth/verify`).
    VerifyEmail,
}

impl OneTimePurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
        }
    }
}
