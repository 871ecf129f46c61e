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
use gatehouse_domain::ValidationError;
use serde::Serialize;
use utoipa::ToSchema;

mod mapping;

pub use gatehouse_app::error_chain;
pub use mapping::{
    INVALID_CHALLENGE, INVALID_LINK, INVALID_MFA_TOKEN, LAST_WAY, LINK_FROM_ACCOUNT,
    PASSKEY_FAILED, PROVIDER_FAILED,
};

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

/// Re-renders error answers that did not come from [`ApiError`] (actix's own 404/405, a
/// panic's 500…) as problem documents, so clients see one error format everywhere.
pub fn render_bare_errors<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Problem documents, the pages' own error pages, and the OpenID Provider's errors in
    // OAuth's JSON format (nothing else answers an error as plain JSON) are answers
    // already.
    let is_answer = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            value.as_bytes().starts_with(PROBLEM_JSON.as_bytes())
                || value.as_bytes().starts_with(b"text/html")
                || value.as_bytes().starts_with(b"application/json")
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
