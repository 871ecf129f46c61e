//! Sign-in and tokens: registering, logging in (JSON or the OAuth2 password grant) and
//! refreshing. Credentials are checked in [`credentials`] under the per-account
//! [`backoff`]; a login opens a session and answers with [`tokens`]; [`refresh`] holds the
//! refresh flow.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use gatehouse_domain::NewUser;

use crate::{
    dto::UserOut,
    error::{ApiError, Problem},
    extract::{IpThrottled, JsonBody, TrustedOrigin},
    openapi::responses::{DatabaseDown, JsonBodyRefused, NetworkLimited, PasswordLimited},
    operations::metrics::LoginOutcome,
    state::AppState,
};

pub(crate) mod backoff;
pub(crate) mod credentials;
pub mod dto;
pub mod refresh;
pub(crate) mod tokens;

use backoff::PasswordAttempt;
use credentials::check_credentials;
use dto::{Login, LoginIn, RegisterIn, Registration, TokenForm, TokenOut};
use tokens::{issue_tokens, open_session, tokens_response};

/// Create an account.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterIn,
    responses(
        (status = 201, description = "Account created", body = UserOut),
        JsonBodyRefused,
        NetworkLimited,
        DatabaseDown,
        (status = 409, description = "`Email already registered`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or password", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    _: IpThrottled,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<RegisterIn>,
) -> Result<HttpResponse, ApiError> {
    let Registration { email, password } = body.try_into()?;
    let password_hash = state.hasher.hash(password).await?;
    let user = state
        .users
        .create(NewUser::new(email, password_hash), Utc::now())
        .await?;
    // When logins need a verified address, the new account could not otherwise ask for
    // the mail (request-verify needs a login).
    if state.options.accounts.require_verified_email {
        state.account_mails.verify_email(user.id);
    }
    Ok(HttpResponse::Created().json(UserOut::from(user)))
}

/// Log in with email and password: opens a session and returns a token pair.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginIn,
    responses(
        (status = 200, description = "Logged in", body = TokenOut),
        JsonBodyRefused,
        PasswordLimited,
        DatabaseDown,
        (status = 401, description = "`Invalid credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or malformed field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    _: TrustedOrigin,
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    JsonBody(body): JsonBody<LoginIn>,
) -> Result<HttpResponse, ApiError> {
    password_login(&state, &request, body.try_into()?).await
}

/// OAuth2 password grant (RFC 6749 §4.3), form-encoded: what Swagger UI's "Authorize"
/// button and OAuth2 client libraries send. `username` is the email. Answers as
/// `/auth/login` does.
#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "auth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Logged in", body = TokenOut),
        PasswordLimited,
        DatabaseDown,
        (status = 401, description = "`Invalid credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/x-www-form-urlencoded", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `username` or `password`, or a `grant_type` other than `password`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn token(
    _: TrustedOrigin,
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    web::Form(form): web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    password_login(&state, &request, form.try_into()?).await
}

/// Checks the credentials, opens a session and answers with a fresh token pair.
async fn password_login(
    state: &AppState,
    request: &HttpRequest,
    Login { email, password }: Login,
) -> Result<HttpResponse, ApiError> {
    let attempt = PasswordAttempt::begin(state, &email, request).await?;
    let Some(user) = check_credentials(state, &email, password).await? else {
        state.metrics.record_login(LoginOutcome::InvalidCredentials);
        attempt.failed().await?;
        return Err(ApiError::invalid_credentials());
    };
    attempt.succeeded().await?;
    if !user.is_active {
        state.metrics.record_login(LoginOutcome::Inactive);
        return Err(ApiError::Forbidden("Inactive user"));
    }
    if state.options.accounts.require_verified_email && !user.is_verified {
        state.metrics.record_login(LoginOutcome::Unverified);
        return Err(ApiError::Forbidden("Email not verified"));
    }
    state.metrics.record_login(LoginOutcome::Success);
    let session = open_session(state, &user, request).await?;
    let (access, refresh) = issue_tokens(state, &session, true, 0)?;
    Ok(tokens_response(state, access, refresh))
}
