//! Sign-in and tokens: registering, logging in (JSON or the OAuth2 password grant) and
//! refreshing. Credentials are checked in [`credentials`] under the per-account
//! [`backoff`]; a login opens a session and answers with [`tokens`]; [`refresh`] holds the
//! refresh flow.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use gatehouse_domain::{
    Assurance, AuditContext, AuditEventType, AuthMethod, NewAuditEvent, NewUser,
};

use crate::{
    dto::UserOut,
    error::{ApiError, Problem},
    extract::{Audit, IpThrottled, JsonBody, TrustedOrigin},
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
use credentials::{Refused, check_credentials, record_failed_login};
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
    Audit(context): Audit,
    JsonBody(body): JsonBody<RegisterIn>,
) -> Result<HttpResponse, ApiError> {
    let user = create_account(&state, &context, body.try_into()?).await?;
    Ok(HttpResponse::Created().json(UserOut::from(user)))
}

/// Creates the account (recording `user.registered`) and, when logins need a verified
/// address, sends the verification mail: the new account could not otherwise ask for it
/// (request-verify needs a login).
pub(crate) async fn create_account(
    state: &AppState,
    context: &AuditContext,
    Registration { email, password }: Registration,
) -> Result<gatehouse_domain::User, ApiError> {
    let password_hash = state.hasher.hash(password).await?;
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::UserRegistered, None, context, now);
    let user = state
        .users
        .create_recorded(NewUser::new(email, password_hash), now, event)
        .await?;
    if state.options.accounts.require_verified_email {
        state.account_mails.verify_email(user.id, context.clone());
    }
    Ok(user)
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
        (status = 403, description = "`Second factor required` (the password was right; the problem document carries `mfa_token` and `methods` for `POST /auth/mfa/verify`); `Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or malformed field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    _: TrustedOrigin,
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    JsonBody(body): JsonBody<LoginIn>,
) -> Result<HttpResponse, ApiError> {
    let session =
        password_login(&state, &request, &context, body.try_into()?, Grant::Login).await?;
    tokens_for(&state, &session)
}

/// The login answer for a session just opened: a fresh token pair (and cookies).
pub(crate) fn tokens_for(
    state: &AppState,
    session: &gatehouse_domain::Session,
) -> Result<HttpResponse, ApiError> {
    let (access, refresh) = issue_tokens(state, session, true, 0)?;
    Ok(tokens_response(state, access, refresh))
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
        (status = 403, description = "`Second factor required` (this route has no second step: use `/auth/login`); `Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
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
    Audit(context): Audit,
    web::Form(form): web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    let session =
        password_login(&state, &request, &context, form.try_into()?, Grant::Token).await?;
    tokens_for(&state, &session)
}

/// Which route a password login came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// `/auth/login`: an account with a second factor gets a challenge.
    Login,
    /// `/auth/token`: one step only (Swagger's Authorize has no second), so an account
    /// with a second factor is refused.
    Token,
}

/// Checks the credentials and opens a session; an account with a second factor gets
/// [`ApiError::SecondFactorRequired`] (with its challenge) instead.
pub(crate) async fn password_login(
    state: &AppState,
    request: &HttpRequest,
    context: &AuditContext,
    Login { email, password }: Login,
    grant: Grant,
) -> Result<gatehouse_domain::Session, ApiError> {
    let attempt = match PasswordAttempt::begin(state, &email, request).await {
        Ok(attempt) => attempt,
        Err(refused) => {
            record_failed_login(state, context, None, "backoff").await?;
            return Err(refused);
        }
    };
    let checked = match check_credentials(state, &email, password).await {
        Ok(checked) => checked,
        Err(unjudged) => {
            // Nothing was judged (the hashing pool was full, the database failed): the
            // reserved count goes back, so a stranger's flood cannot back the owner off.
            attempt.passed().await?;
            return Err(unjudged);
        }
    };
    let user = match checked {
        Ok(user) => user,
        Err(refused) => {
            state.metrics.record_login(LoginOutcome::InvalidCredentials);
            attempt.failed();
            let (user_id, reason) = match refused {
                Refused::UnknownEmail => (None, "unknown_email"),
                Refused::WrongPassword(id) => (Some(id), "wrong_password"),
            };
            record_failed_login(state, context, user_id, reason).await?;
            return Err(ApiError::invalid_credentials());
        }
    };
    if !user.is_active {
        attempt.passed().await?;
        state.metrics.record_login(LoginOutcome::Inactive);
        record_failed_login(state, context, Some(user.id), "inactive").await?;
        return Err(ApiError::Forbidden("Inactive user"));
    }
    if state.options.accounts.require_verified_email && !user.is_verified {
        attempt.passed().await?;
        state.metrics.record_login(LoginOutcome::Unverified);
        record_failed_login(state, context, Some(user.id), "unverified").await?;
        return Err(ApiError::Forbidden("Email not verified"));
    }
    let factors = state.mfa.factors(user.id).await?;
    if factors.any() {
        // Not signed in yet: the network's failures stay until the second step is done.
        attempt.passed().await?;
        return Err(match grant {
            Grant::Login => {
                crate::mfa::second_step::challenge(
                    state,
                    &user,
                    AuthMethod::Password,
                    factors,
                    context,
                )
                .await?
            }
            Grant::Token => ApiError::Forbidden("Second factor required"),
        });
    }
    attempt.completed().await?;
    state.metrics.record_login(LoginOutcome::Success);
    open_session(state, &user, Assurance::password(), request, context).await
}
