//! Why a flow did nothing, one enum per family: a sign-in ([`SignInError`]), a change
//! to one's account ([`AccountError`]), a mailed link ([`LinkError`]). Each names what
//! the client may learn; [`AppError`] is what failed underneath, when nothing was judged.

use gatehouse_domain::ValidationError;

use crate::error::AppError;

/// Why nobody was signed in.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The address is backed off for this network (or everywhere) until the time given.
    #[error("backed off")]
    BackedOff {
        /// How long until a try may be judged.
        retry_after: std::time::Duration,
    },
    /// Unknown address or wrong password (the client learns the same for both).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The account is deactivated.
    #[error("inactive user")]
    Inactive,
    /// The account's address is not verified, and sign-ins need it.
    #[error("email not verified")]
    Unverified,
    /// The account has a second factor and this way in has no second step
    /// (`/auth/token`).
    #[error("second factor required")]
    SecondStepUnsupported,
    /// The `mfa_token` is unknown, used, expired or dead after its wrong codes.
    #[error("invalid or expired MFA token")]
    InvalidMfaToken,
    /// A wrong, replayed or malformed TOTP or recovery code.
    #[error("invalid code")]
    InvalidCode,
    /// A passkey assertion that did not hold (which check failed is in the log).
    #[error("passkey verification failed")]
    PasskeyFailed,
    /// The passkey ceremony is unknown, used, expired, or another's.
    #[error("invalid or expired challenge")]
    InvalidCeremony,
    /// The credential is not a `PublicKeyCredential` as `toJSON()` writes it.
    #[error("malformed credential: {0}")]
    MalformedCredential(String),
    /// The signed-in caller's account is gone (deleted since its token was issued).
    #[error("user not found")]
    AccountGone,
    /// No provider has this name.
    #[error("unknown provider")]
    UnknownProvider,
    /// The sign-in sent to a provider is unknown, used, expired, or another browser's
    /// (or, for a link, the session that asked has ended).
    #[error("invalid or expired sign-in")]
    InvalidSignIn,
    /// The provider refused, or its code or ID token did not hold.
    #[error("sign-in with the provider failed")]
    ProviderFailed,
    /// An unknown identity's address belongs to an account it may not join.
    #[error("an account has this address")]
    AddressTaken,
    /// The identity is another account's.
    #[error("identity linked to another account")]
    IdentityTaken,
    /// What the flow stands on failed; nothing was judged.
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<gatehouse_persistence::RepoError> for SignInError {
    fn from(error: gatehouse_persistence::RepoError) -> Self {
        Self::Failed(error.into())
    }
}

impl From<gatehouse_auth::AuthError> for SignInError {
    fn from(error: gatehouse_auth::AuthError) -> Self {
        Self::Failed(error.into())
    }
}

/// Why an account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Adding a way in needs a verified address.
    #[error("email not verified")]
    Unverified,
    /// The caller's account is gone.
    #[error("user not found")]
    AccountGone,
    /// None of the caller's passkeys has this id.
    #[error("passkey not found")]
    PasskeyNotFound,
    /// None of the caller's identities has this id.
    #[error("identity not found")]
    IdentityNotFound,
    /// TOTP is on already.
    #[error("TOTP already enabled")]
    TotpAlreadyEnabled,
    /// TOTP is not on.
    #[error("TOTP not enabled")]
    TotpNotEnabled,
    /// No TOTP setup waits for its confirmation.
    #[error("no TOTP setup in progress")]
    NoTotpSetup,
    /// The code does not match the authenticator being set up.
    #[error("invalid code")]
    InvalidCode,
    /// Recovery codes stand in for a second factor; there is none.
    #[error("no second factor enabled")]
    NoSecondFactor,
    /// The account would be left with no way to sign in.
    #[error("last way to sign in")]
    LastWayToSignIn,
    /// A passkey ceremony or credential was refused.
    #[error(transparent)]
    Passkey(SignInError),
    /// What the flow stands on failed.
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<gatehouse_persistence::RepoError> for AccountError {
    fn from(error: gatehouse_persistence::RepoError) -> Self {
        Self::Failed(error.into())
    }
}

impl From<gatehouse_auth::PasskeyError> for AccountError {
    fn from(error: gatehouse_auth::PasskeyError) -> Self {
        Self::Failed(error.into())
    }
}

impl From<SignInError> for AccountError {
    fn from(refused: SignInError) -> Self {
        match refused {
            SignInError::Failed(failed) => Self::Failed(failed),
            other => Self::Passkey(other),
        }
    }
}

/// Why a mailed link did nothing.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Unknown, used, expired or superseded (or its account is deactivated).
    #[error("invalid or expired token")]
    InvalidToken,
    /// The new password breaks the rules (the token is not spent: it may be tried again).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// What the flow stands on failed.
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<gatehouse_persistence::RepoError> for LinkError {
    fn from(error: gatehouse_persistence::RepoError) -> Self {
        Self::Failed(error.into())
    }
}

impl From<gatehouse_auth::AuthError> for LinkError {
    fn from(error: gatehouse_auth::AuthError) -> Self {
        Self::Failed(error.into())
    }
}
