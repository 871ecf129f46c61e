//! The one place that knows HTTP status codes.
//!
//! Every failure a handler, extractor or middleware can produce becomes an [`ApiError`],
//! rendered as an RFC 9457 problem document (`application/problem+json`). 5xx answers are
//! generic; their cause chain goes to the log, never to the client.

use std::{error::Error as StdError, fmt};

use actix_web::{
    HttpResponse, ResponseError,
    body::MessageBody,
    dev::ServiceResponse,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
    middleware::ErrorHandlerResponse,
};
use gatehouse_app::{AppError, SignInError, account::AccountError};
use gatehouse_auth::{AuthError, OidcError, PasskeyError, TokenError};
use gatehouse_domain::{Conflict, ValidationError};
use gatehouse_persistence::RepoError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One rejected input field of a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field as the client spelled it (`email`, `password`, or `body`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl From<ValidationError> for FieldError {
    fn from(err: ValidationError) -> Self {
        Self {
            field: err.field.to_owned(),
            message: err.reason,
        }
    }
}

/// RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status code says what kind of problem it is.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub problem_type: &'static str,
    /// The status code's reason phrase.
    #[schema(example = "Conflict")]
    pub title: &'static str,
    /// The HTTP status code.
    #[schema(example = 409)]
    pub status: u16,
    /// Human-readable explanation; the Python starter's clients read this.
    #[schema(example = "Email already registered")]
    pub detail: String,
    /// On 422 only: one entry per rejected field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// On 403 `Second factor required` only: the single-use token (valid 5 minutes) to
    /// present to `POST /auth/mfa/verify` with a code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// On 403 `Second factor required` only: what the second step accepts, a subset of
    /// `totp`, `passkey`, `recovery_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["totp", "recovery_code"]))]
    pub methods: Option<Vec<&'static str>>,
}

/// An `mfa_token` on its way to the client; never printed.
pub struct MfaToken(pub String);

impl fmt::Debug for MfaToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaToken([REDACTED])")
    }
}

/// Everything that can go wrong in a request, by what the client should learn.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (or not readable).
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or credentials that do not hold. `token_rejected` marks a token
    /// that was presented and refused (RFC 6750 `error="invalid_token"`).
    #[error("{detail}")]
    Unauthorized {
        /// Text for `detail`.
        detail: &'static str,
        /// Whether a token was presented and rejected.
        token_rejected: bool,
    },
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The password was right; the account's second factor is still to come.
    #[error("Second factor required")]
    SecondFactorRequired {
        /// What finishes the login at `/auth/mfa/verify`.
        mfa_token: MfaToken,
        /// What the second step accepts.
        methods: Vec<&'static str>,
    },
    /// Unknown route or resource.
    #[error("{0}")]
    NotFound(&'static str),
    /// The route exists but not for this method.
    #[error("Method Not Allowed")]
    MethodNotAllowed {
        /// The methods the route does answer, for the `Allow` header.
        allow: String,
    },
    /// A uniqueness rule refused the change.
    #[error("{0}")]
    Conflict(&'static str),
    /// The body exceeds the configured limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The body is not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// JSON parsed but fields are missing, mistyped or invalid.
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    /// Too many requests; try again after the given time.
    #[error("Too many requests; try again later")]
    TooManyRequests {
        /// How long until a request may succeed.
        retry_after: std::time::Duration,
    },
    /// The database did not answer in time.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// Every hashing slot is busy and the wait would be too long: 503 with the expected
    /// wait as `Retry-After`.
    #[error("service temporarily unavailable")]
    Saturated {
        /// How long the request would have waited.
        retry_after: std::time::Duration,
        /// The hasher's refusal.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A failure that is ours, not the client's.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
    /// A bare status produced outside our handlers (e.g. actix's 405), re-rendered.
    #[error("{0}")]
    Status(StatusCode),
}

impl ApiError {
    /// 401 for a missing or unusable `Authorization` header.
    pub const fn not_authenticated() -> Self {
        Self::Unauthorized {
            detail: "Not authenticated",
            token_rejected: false,
        }
    }

    /// 401 for an unknown email or a wrong password.
    pub const fn invalid_credentials() -> Self {
        Self::Unauthorized {
            detail: "Invalid credentials",
            token_rejected: false,
        }
    }

    /// 401 for a token that was presented and refused.
    pub const fn invalid_token(detail: &'static str) -> Self {
        Self::Unauthorized {
            detail,
            token_rejected: true,
        }
    }

    /// 429 for a spent budget.
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        Self::TooManyRequests { retry_after }
    }

    /// 422 for a single field.
    pub fn field(field: &str, message: impl fmt::Display) -> Self {
        Self::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.to_string(),
        }])
    }

    fn detail(&self) -> String {
        match self {
            Self::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                _ => "Request validation failed".to_owned(),
            },
            Self::Unavailable(_) | Self::Saturated { .. } => {
                "Service temporarily unavailable; try again shortly".into()
            }
            Self::Internal(_) => "Internal server error".into(),
            Self::Status(status) => status.canonical_reason().unwrap_or("Error").to_owned(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::SecondFactorRequired { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Saturated { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Status(status) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %error_chain(self), "request failed");
        }
        let problem = Problem {
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            mfa_token: match self {
                Self::SecondFactorRequired { mfa_token, .. } => Some(mfa_token.0.clone()),
                _ => None,
            },
            methods: match self {
                Self::SecondFactorRequired { methods, .. } => Some(methods.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type(PROBLEM_JSON);
        match self {
            Self::Unauthorized {
                token_rejected: true,
                ..
            } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                ));
            }
            Self::Unauthorized { .. } => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            Self::TooManyRequests { retry_after } | Self::Saturated { retry_after, .. } => {
                // Whole seconds, rounded up: never tell a client to come back too early.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response.insert_header((header::RETRY_AFTER, seconds.max(1).to_string()));
            }
            Self::SecondFactorRequired { .. } => {
                // It carries the `mfa_token`: no cache keeps it.
                response
                    .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
            }
            Self::MethodNotAllowed { allow } => {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    response.insert_header((header::ALLOW, value));
                }
            }
            _ => {}
        }
        response.json(problem)
    }
}

pub use gatehouse_app::error_chain;

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

/// Re-renders error answers that did not come from [`ApiError`] (actix's own 404/405, a
/// panic's 500…) as problem documents, so clients see one error format everywhere.
pub fn render_bare_errors<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Problem documents, and the pages' own error pages, are answers already.
    let is_answer = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            value.as_bytes().starts_with(PROBLEM_JSON.as_bytes())
                || value.as_bytes().starts_with(b"text/html")
        });
    if is_answer {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (request, _bare) = response.into_parts();
    let problem = ApiError::Status(status).error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, problem).map_into_right_body::<B>(),
    ))
}
