//! What every failure and refusal from below becomes: the status and `detail` a client
//! sees for a database error, a hasher, token or passkey error, a provider's refusal, and
//! each flow's typed refusal (`SignInError`, `AccountError`, `LinkError`, `RoleError`).

use gatehouse_app::{
    AppError, SignInError, account::AccountError, admin::AdminError, by_mail::LinkError,
    roles::RoleError,
};
use gatehouse_auth::{AuthError, OidcError, PasskeyError, TokenError};
use gatehouse_domain::{Conflict, ValidationError};
use gatehouse_persistence::RepoError;

use super::{ApiError, FieldError};

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::Validation(vec![err.into()])
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::Conflict(Conflict::EmailTaken) => Self::Conflict("Email already registered"),
            RepoError::Conflict(Conflict::LastSuperuser) => {
                Self::Conflict("Cannot remove the last superuser")
            }
            RepoError::Conflict(Conflict::TotpAlreadyEnabled) => {
                Self::Conflict("TOTP already enabled")
            }
            RepoError::Conflict(Conflict::PasskeyAlreadyRegistered) => {
                Self::Conflict("Passkey already registered")
            }
            RepoError::Conflict(Conflict::TooManyPasskeys) => {
                Self::Conflict("Too many passkeys: remove one first")
            }
            RepoError::Conflict(Conflict::IdentityTaken) => {
                Self::Conflict("This identity is linked to another account")
            }
            RepoError::Conflict(Conflict::LastWayToSignIn) => Self::Conflict(LAST_WAY),
            RepoError::Conflict(Conflict::RoleExists) => Self::Conflict("Role already exists"),
            RepoError::Unavailable(_) => Self::Unavailable(Box::new(err)),
            RepoError::Db(_) | RepoError::Corrupt(_) | RepoError::Storage(_) => {
                Self::Internal(Box::new(err))
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            // Saturation, not a fault: 503 with Retry-After, like a database outage.
            AuthError::Busy { expected_wait } => Self::Saturated {
                retry_after: expected_wait,
                source: Box::new(err),
            },
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// The `detail` of every refused passkey: which check failed is for the log.
pub const PASSKEY_FAILED: &str = "Passkey verification failed";

impl From<PasskeyError> for ApiError {
    fn from(err: PasskeyError) -> Self {
        match err {
            PasskeyError::Malformed(e) => Self::Validation(vec![FieldError {
                field: "credential".into(),
                message: format!("not a PublicKeyCredential as toJSON() writes it: {e}"),
            }]),
            PasskeyError::Verification(_) | PasskeyError::CounterWentBack => Self::Unauthorized {
                detail: PASSKEY_FAILED,
                token_rejected: false,
            },
            PasskeyError::AlreadyRegistered => Self::Conflict("Passkey already registered"),
            PasskeyError::Config(_) | PasskeyError::Corrupt(_) => Self::Internal(Box::new(err)),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        Self::invalid_token(match err {
            TokenError::Expired => "Token has expired",
            TokenError::WrongType => "Wrong token type",
            TokenError::Invalid | TokenError::UnknownKey => "Invalid token",
        })
    }
}

/// The `detail` of a sign-in whose provider refused, or whose code or ID token failed.
pub const PROVIDER_FAILED: &str = "Sign-in with the provider failed";
/// The `detail` when an unknown identity's address belongs to an account it may not join.
pub const LINK_FROM_ACCOUNT: &str =
    "An account with this email exists; sign in and link it from your account page";
/// The `detail` for a passkey ceremony that cannot be finished.
pub const INVALID_CHALLENGE: &str = "Invalid or expired challenge";
/// The `detail` for a second step whose `mfa_token` is gone.
pub const INVALID_MFA_TOKEN: &str = "Invalid or expired MFA token";

impl From<SignInError> for ApiError {
    fn from(refused: SignInError) -> Self {
        match refused {
            SignInError::BackedOff { retry_after } => Self::rate_limited(retry_after),
            SignInError::InvalidCredentials => Self::invalid_credentials(),
            SignInError::Inactive => Self::Forbidden("Inactive user"),
            SignInError::Unverified => Self::Forbidden("Email not verified"),
            SignInError::SecondStepUnsupported => Self::Forbidden("Second factor required"),
            SignInError::InvalidMfaToken => Self::invalid_token(INVALID_MFA_TOKEN),
            SignInError::InvalidCode => Self::invalid_token("Invalid code"),
            SignInError::PasskeyFailed => Self::Unauthorized {
                detail: PASSKEY_FAILED,
                token_rejected: false,
            },
            SignInError::InvalidCeremony => Self::BadRequest(INVALID_CHALLENGE.into()),
            SignInError::MalformedCredential(reason) => Self::field(
                "credential",
                format!("not a PublicKeyCredential as toJSON() writes it: {reason}"),
            ),
            SignInError::AccountGone => Self::invalid_token("User not found"),
            SignInError::UnknownProvider => Self::NotFound("Unknown provider"),
            SignInError::InvalidSignIn => {
                Self::invalid_token("Invalid or expired sign-in: start again")
            }
            SignInError::ProviderFailed => Self::invalid_token(PROVIDER_FAILED),
            SignInError::AddressTaken => Self::Conflict(LINK_FROM_ACCOUNT),
            SignInError::IdentityTaken => {
                Self::Conflict("This identity is linked to another account")
            }
            SignInError::Failed(failed) => failed.into(),
        }
    }
}

/// The `detail` when a change would leave the account no way to sign in.
pub const LAST_WAY: &str = "Cannot remove the last way to sign in";

impl From<RoleError> for ApiError {
    fn from(refused: RoleError) -> Self {
        match refused {
            RoleError::Invalid(errors) => {
                Self::Validation(errors.into_iter().map(Into::into).collect())
            }
            RoleError::Exists => Self::Conflict("Role already exists"),
            RoleError::NotFound => Self::NotFound("Role not found"),
            RoleError::UserNotFound => Self::NotFound("User not found"),
            RoleError::Failed(failed) => failed.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(refused: AdminError) -> Self {
        match refused {
            AdminError::UserNotFound => Self::NotFound("User not found"),
            AdminError::Invalid(error) => error.into(),
            AdminError::Failed(failed) => failed.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(refused: AccountError) -> Self {
        match refused {
            AccountError::Unverified => Self::Forbidden("Email not verified"),
            AccountError::AccountGone => Self::invalid_token("User not found"),
            AccountError::PasskeyNotFound => Self::NotFound("Passkey not found"),
            AccountError::IdentityNotFound => Self::NotFound("Identity not found"),
            AccountError::TotpAlreadyEnabled => Self::Conflict("TOTP already enabled"),
            AccountError::TotpNotEnabled => Self::NotFound("TOTP not enabled"),
            AccountError::NoTotpSetup => Self::Conflict("No TOTP setup in progress"),
            AccountError::InvalidCode => Self::BadRequest("Invalid code".into()),
            AccountError::NoSecondFactor => Self::Conflict("No second factor enabled"),
            AccountError::LastWayToSignIn => Self::Conflict(LAST_WAY),
            AccountError::Passkey(refused) => refused.into(),
            AccountError::Failed(failed) => failed.into(),
        }
    }
}

/// The `detail` of a mailed link that cannot be used.
pub const INVALID_LINK: &str = "Invalid or expired token";

impl From<LinkError> for ApiError {
    fn from(refused: LinkError) -> Self {
        match refused {
            LinkError::InvalidToken => Self::BadRequest(INVALID_LINK.into()),
            LinkError::Invalid(invalid) => invalid.into(),
            LinkError::Failed(failed) => failed.into(),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(failed: AppError) -> Self {
        match failed {
            AppError::Repo(error) => error.into(),
            AppError::Auth(error) => error.into(),
            AppError::Passkey(error) => error.into(),
            AppError::Provider(error) => error.into(),
            AppError::Sealed(error) => Self::Internal(Box::new(error)),
        }
    }
}

impl From<OidcError> for ApiError {
    fn from(error: OidcError) -> Self {
        match error {
            OidcError::Unreachable(_) => Self::Unavailable(Box::new(error)),
            OidcError::Config(_) => Self::Internal(Box::new(error)),
            OidcError::Exchange(_) | OidcError::IdToken(_) => {
                tracing::info!(error = %error, "sign-in with a provider refused");
                Self::invalid_token(PROVIDER_FAILED)
            }
        }
    }
}
