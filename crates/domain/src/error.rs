use std::fmt;

/// A value from outside failed to parse into a domain type.
///
/// `field` names the input field (as the client spelled it) so that the web layer can
/// point at it; `reason` is a sentence a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The input field that was rejected, e.g. `email`.
    pub field: &'static str,
    /// Why it was rejected, in words a user can act on.
    pub reason: String,
}

impl ValidationError {
    /// A rejection of `field` for `reason`.
    pub fn new(field: &'static str, reason: impl fmt::Display) -> Self {
        Self {
            field,
            reason: reason.to_string(),
        }
    }
}

/// A change refused because it would break a uniqueness rule. Decided by the database's
/// constraints (never by a check-then-insert), then reported in these terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Another account already has this email.
    #[error("email already registered")]
    EmailTaken,
    /// The change would leave no active superuser.
    #[error("cannot remove the last superuser")]
    LastSuperuser,
    /// The account already has a confirmed TOTP authenticator.
    #[error("TOTP already enabled")]
    TotpAlreadyEnabled,
    /// The credential is registered already (to this account or another).
    #[error("passkey already registered")]
    PasskeyAlreadyRegistered,
    /// The account holds as many passkeys as it may.
    #[error("too many passkeys")]
    TooManyPasskeys,
    /// The provider's identity is linked to an account already.
    #[error("identity already linked")]
    IdentityTaken,
    /// The change would leave the account no way to sign in.
    #[error("last way to sign in")]
    LastWayToSignIn,
    /// A role with this name exists already.
    #[error("role already exists")]
    RoleExists,
}
