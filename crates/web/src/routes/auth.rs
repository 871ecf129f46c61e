//! The starter's authentication routes: register, login, refresh.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::Utc;
use gatehouse_auth::PasswordCheck;
use gatehouse_domain::{NewSession, NewUser, RefreshVerdict, Session, SessionId, User};

use crate::{
    ApiError, AppState,
    dto::{Login, LoginIn, RegisterIn, Registration, TokenOut, UserOut},
    error::Problem,
    extract::{BearerToken, JsonBody},
    metrics::LoginOutcome,
};

/// Longest `User-Agent` kept with a session.
const USER_AGENT_MAX_CHARS: usize = 512;

/// Create an account.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterIn,
    responses(
        (status = 201, description = "Account created", body = UserOut),
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`Email already registered`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_BODY_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or password", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<RegisterIn>,
) -> Result<HttpResponse, ApiError> {
    let Registration { email, password } = body.try_into()?;
    let password_hash = state.hasher.hash(password).await?;
    let user = state
        .users
        .create(NewUser::new(email, password_hash), Utc::now())
        .await?;
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
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`Invalid credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_BODY_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or malformed field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    request: HttpRequest,
    JsonBody(body): JsonBody<LoginIn>,
) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = body.try_into()?;
    let Some(user) = check_credentials(&state, &email, password).await? else {
        state.metrics.record_login(LoginOutcome::InvalidCredentials);
        return Err(ApiError::Unauthorized {
            detail: "Invalid credentials",
            token_rejected: false,
        });
    };
    if !user.is_active {
        state.metrics.record_login(LoginOutcome::Inactive);
        return Err(ApiError::Forbidden("Inactive user"));
    }
    state.metrics.record_login(LoginOutcome::Success);
    let session = open_session(&state, &user, &request).await?;
    let tokens = issue_tokens(&state, &session, true, 0)?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Exchange a refresh token for a new access token (and, with rotation, a new refresh
/// token one generation newer).
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "New tokens", body = TokenOut),
        (status = 401, description = "Missing, invalid, expired, revoked or reused refresh token; deleted or inactive user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    BearerToken(token): BearerToken,
) -> Result<HttpResponse, ApiError> {
    let claims = state.jwt.verify_refresh(&token)?;
    let user = state
        .users
        .find_by_id(claims.user_id)
        .await?
        .ok_or(ApiError::invalid_token("User not found"))?;
    if !user.is_active {
        return Err(ApiError::invalid_token("Inactive user"));
    }
    let session = state
        .sessions
        .find(claims.session_id)
        .await?
        .filter(|session| session.user_id == user.id)
        .ok_or(ApiError::invalid_token("Session has ended"))?;
    if state.options.refresh_rotation {
        rotate(&state, session, claims.generation).await
    } else {
        refresh_without_rotation(&state, &session, token).await
    }
}

/// One refresh token per session: the answer repeats it.
async fn refresh_without_rotation(
    state: &AppState,
    session: &Session,
    refresh_token: String,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    if !session.is_active_at(now) || !state.sessions.touch(session.id, now).await? {
        return Err(ApiError::invalid_token("Session has ended"));
    }
    let access = state
        .jwt
        .issue_access(session.user_id, session.id, false, now)?;
    let ttl = state.jwt.access_ttl().num_seconds();
    Ok(HttpResponse::Ok().json(TokenOut::new(access, refresh_token, ttl)))
}

/// Applies the refresh-generation rule; the conditional update makes check and record
/// one step, and a lost race is re-judged on the row as it now is.
async fn rotate(
    state: &AppState,
    session: Session,
    generation: u32,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let verdict = match session.refresh_verdict(generation, now) {
        RefreshVerdict::Accept
            if state
                .sessions
                .advance_refresh_generation(session.id, generation, now)
                .await? =>
        {
            let tokens = issue_tokens(state, &session, false, generation + 1)?;
            return Ok(HttpResponse::Ok().json(tokens));
        }
        RefreshVerdict::Accept => current_verdict(state, session.id, generation).await?,
        other => other,
    };
    if verdict == RefreshVerdict::Reuse {
        state.sessions.revoke(session.id, now).await?;
        tracing::warn!(session = %session.id, generation, "refresh token reuse detected; session revoked");
        return Err(ApiError::invalid_token(
            "Refresh token reuse detected; session revoked",
        ));
    }
    Err(ApiError::invalid_token("Session has ended"))
}

async fn current_verdict(
    state: &AppState,
    session_id: SessionId,
    generation: u32,
) -> Result<RefreshVerdict, ApiError> {
    Ok(state
        .sessions
        .find(session_id)
        .await?
        .map_or(RefreshVerdict::Reject, |s| {
            s.refresh_verdict(generation, Utc::now())
        }))
}

/// The account for these credentials, or `None` when they do not hold. Unknown emails
/// cost a dummy verification so the two failures are indistinguishable by timing; an
/// outdated hash is upgraded.
async fn check_credentials(
    state: &AppState,
    email: &gatehouse_domain::Email,
    password: gatehouse_domain::Password,
) -> Result<Option<User>, ApiError> {
    let Some(user) = state.users.find_by_email(email).await? else {
        state.hasher.verify_against_dummy(password).await?;
        return Ok(None);
    };
    let check = match state
        .hasher
        .verify(password.clone(), user.password_hash.clone())
        .await
    {
        Ok(check) => check,
        Err(gatehouse_auth::AuthError::MalformedHash(reason)) => {
            tracing::error!(user = %user.id, %reason, "stored password hash is unreadable");
            return Ok(None);
        }
        Err(other) => return Err(other.into()),
    };
    match check {
        PasswordCheck::Mismatch => Ok(None),
        PasswordCheck::Match { needs_rehash } => {
            if needs_rehash {
                upgrade_hash(state, &user, password).await;
            }
            Ok(Some(user))
        }
    }
}

/// Re-hashes with the configured parameters. A failure here must not fail the login.
async fn upgrade_hash(state: &AppState, user: &User, password: gatehouse_domain::Password) {
    let result = match state.hasher.hash(password).await {
        Ok(hash) => state
            .users
            .set_password_hash(user.id, &hash, Utc::now())
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => tracing::info!(user = %user.id, "password hash upgraded to current parameters"),
        Err(e) => {
            tracing::warn!(user = %user.id, error = %crate::error::error_chain(&e), "password hash upgrade failed")
        }
    }
}

async fn open_session(
    state: &AppState,
    user: &User,
    request: &HttpRequest,
) -> Result<Session, ApiError> {
    let now = Utc::now();
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(USER_AGENT_MAX_CHARS).collect());
    let session = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        created_at: now,
        expires_at: now + state.jwt.refresh_ttl(),
        user_agent,
        ip: request.peer_addr().map(|addr| addr.ip().to_string()),
    };
    Ok(state.sessions.create(session).await?)
}

fn issue_tokens(
    state: &AppState,
    session: &Session,
    fresh: bool,
    generation: u32,
) -> Result<TokenOut, ApiError> {
    let now = Utc::now();
    let access = state
        .jwt
        .issue_access(session.user_id, session.id, fresh, now)?;
    let refresh_token = state.jwt.issue_refresh(
        session.user_id,
        session.id,
        generation,
        now,
        session.expires_at,
    )?;
    Ok(TokenOut::new(
        access,
        refresh_token.token,
        state.jwt.access_ttl().num_seconds(),
    ))
}
