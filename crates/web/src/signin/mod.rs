//! Sign-in and tokens over HTTP: registering, logging in (JSON or the OAuth2 password
//! grant) and refreshing. The flows are `gatehouse_app::signin`'s; a login answers with
//! its tokens (`tokens.rs`); [`refresh`] holds the refresh flow.

use actix_web::{HttpResponse, web};
use gatehouse_app::{
    SignIn,
    signin::{Grant, password_sign_in},
};

use crate::{
    dto::UserOut,
    error::{ApiError, Problem},
    extract::{ClientContext, IpThrottled, JsonBody, TrustedOrigin},
    shared_responses::{DatabaseDown, JsonBodyRefused, NetworkLimited, PasswordLimited},
    state::AppState,
};

pub mod dto;
pub mod refresh;
pub(crate) mod tokens;

use dto::{Login, LoginIn, RegisterIn, Registration, TokenForm, TokenOut};
pub(crate) use tokens::tokens_for;

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
    ClientContext(client): ClientContext,
    JsonBody(body): JsonBody<RegisterIn>,
) -> Result<HttpResponse, ApiError> {
    let Registration { email, password } = body.try_into()?;
    let user = gatehouse_app::signin::register(&state, &client, email, password).await?;
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
        (status = 403, description = "`Second factor required` (the password was right; the problem document carries `mfa_token` and `methods` for `POST /auth/mfa/verify`); `Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or malformed field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    _: TrustedOrigin,
    _: IpThrottled,
    state: web::Data<AppState>,
    ClientContext(client): ClientContext,
    JsonBody(body): JsonBody<LoginIn>,
) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = body.try_into()?;
    signed_in(
        &state,
        password_sign_in(&state, &client, &email, password, Grant::Login).await?,
    )
    .await
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
    ClientContext(client): ClientContext,
    web::Form(form): web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = form.try_into()?;
    signed_in(
        &state,
        password_sign_in(&state, &client, &email, password, Grant::Token).await?,
    )
    .await
}

/// The JSON API's answer to a sign-in: the token pair of the session it opened, or 403
/// `Second factor required` carrying the challenge's `mfa_token`.
pub(crate) async fn signed_in(state: &AppState, outcome: SignIn) -> Result<HttpResponse, ApiError> {
    match outcome {
        SignIn::Session(session) => tokens_for(state, &session).await,
        SignIn::SecondStep(step) => Err(ApiError::SecondFactorRequired {
            mfa_token: crate::error::MfaToken(step.mfa_token),
            methods: step.methods,
        }),
    }
}
