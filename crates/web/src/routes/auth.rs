//! The starter's authentication routes: register, login, refresh.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::Utc;
use gatehouse_auth::{IssuedToken, PasswordCheck, RefreshClaims};
use gatehouse_domain::{
    NewSession, NewUser, RefreshRotation, RefreshVerdict, Session, SessionId, User,
};

use crate::{
    ApiError, AppState,
    backoff::PasswordAttempt,
    cookies::{TrustedOrigin, token_cookies},
    dto::{Login, LoginIn, RegisterIn, Registration, TokenForm, TokenOut, UserOut},
    error::Problem,
    extract::{JsonBody, RefreshToken, session_and_account},
    metrics::LoginOutcome,
    rate_limit::{IpThrottled, client_ip},
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
        (status = 429, description = "Too many requests from this IP; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
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
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`Invalid credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_BODY_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or malformed field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this IP, or for this account (back-off); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
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
        (status = 401, description = "`Invalid credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/x-www-form-urlencoded", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `username` or `password`, or a `grant_type` other than `password`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this IP, or for this account (back-off); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
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
        (status = 429, description = "Too many requests from this IP; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    _: IpThrottled,
    state: web::Data<AppState>,
    RefreshToken(token): RefreshToken,
) -> Result<HttpResponse, ApiError> {
    let claims = state.jwt.verify_refresh(&token)?;
    let policy = state.options.refresh;
    let now = Utc::now();
    // The common case in one statement: the update checks session, account and rule.
    let accepted = state
        .sessions
        .record_refresh(
            claims.session_id,
            claims.user_id,
            claims.generation,
            now,
            policy,
        )
        .await?;
    if accepted {
        return refreshed(&state, &claims, token, now);
    }
    // Refused: read what is stored to tell the client why (or to find that a racing
    // refresh changed the row and the token is still good).
    let (session, user) = session_and_account(&state, claims.session_id, claims.user_id).await?;
    if !user.is_active {
        return Err(ApiError::invalid_token("Inactive user"));
    }
    let session = session.ok_or(ApiError::invalid_token("Session has ended"))?;
    match judge_refresh(&state, &session, claims.generation, now).await? {
        RefreshVerdict::Accept => refreshed(&state, &claims, token, now),
        RefreshVerdict::Reuse => {
            state.sessions.revoke(session.id, now).await?;
            tracing::warn!(session = %session.id, generation = claims.generation, "refresh token reuse detected; session revoked");
            Err(ApiError::invalid_token(
                "Refresh token reuse detected; session revoked",
            ))
        }
        RefreshVerdict::Reject => Err(ApiError::invalid_token("Session has ended")),
    }
}

/// The answer to an accepted refresh: a new access token and, with rotation, the refresh
/// token of the next generation (which expires with the presented one: a refresh never
/// extends the session).
fn refreshed(
    state: &AppState,
    claims: &RefreshClaims,
    presented: String,
    now: chrono::DateTime<Utc>,
) -> Result<HttpResponse, ApiError> {
    let access = state
        .jwt
        .issue_access(claims.user_id, claims.session_id, false, now)?;
    let refresh = if state.options.refresh.rotation == RefreshRotation::Off {
        IssuedToken {
            token: presented,
            expires_at: claims.expires_at,
        }
    } else {
        // A session refreshed u32::MAX times has nowhere to go; it ends.
        let next = claims
            .generation
            .checked_add(1)
            .ok_or(ApiError::invalid_token("Session has ended"))?;
        state.jwt.issue_refresh(
            claims.user_id,
            claims.session_id,
            next,
            now,
            claims.expires_at,
        )?
    };
    Ok(tokens_response(state, access, refresh))
}

/// Applies the refresh rule to the stored session and, when it accepts, records the
/// refresh with one conditional update. When the update finds the row changed by a racing
/// request, the token is judged again on the row as it is now; it cannot have become
/// acceptable (generations only grow).
async fn judge_refresh(
    state: &AppState,
    session: &Session,
    generation: u32,
    now: chrono::DateTime<Utc>,
) -> Result<RefreshVerdict, ApiError> {
    let policy = state.options.refresh;
    let verdict = session.refresh_verdict(generation, now, policy);
    if verdict != RefreshVerdict::Accept
        || state
            .sessions
            .record_refresh(session.id, session.user_id, generation, now, policy)
            .await?
    {
        return Ok(verdict);
    }
    let stored = state.sessions.find(session.id).await?;
    Ok(
        match stored.map(|s| s.refresh_verdict(generation, now, policy)) {
            Some(RefreshVerdict::Reuse) => RefreshVerdict::Reuse,
            _ => RefreshVerdict::Reject,
        },
    )
}

/// A 200 answer carrying tokens, never to be stored by caches (RFC 6749 §5.1); in cookie
/// mode it also sets the token and CSRF cookies, and in cookies-only mode the body carries
/// no token (so page script cannot read one).
fn tokens_response(state: &AppState, access: IssuedToken, refresh: IssuedToken) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if state.options.token_location.cookies {
        for cookie in token_cookies(
            &access.token,
            access.expires_at,
            &refresh.token,
            refresh.expires_at,
            state.options.cookie_secure,
        ) {
            response.cookie(cookie);
        }
    }
    let ttl = state.jwt.access_ttl().num_seconds();
    if state.options.token_location.headers {
        response.json(TokenOut::new(access, refresh.token, ttl))
    } else {
        response.json(TokenOut::without_tokens(ttl))
    }
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
    match password_matches(state, &user, password.clone()).await? {
        None => Ok(None),
        Some(needs_rehash) => {
            if needs_rehash {
                upgrade_hash(state, &user, password).await;
            }
            Ok(Some(user))
        }
    }
}

/// Whether `password` is `user`'s: `None` when it is not, else whether the stored hash
/// should be upgraded to the current parameters. An unreadable or too costly stored hash
/// matches nothing (and is logged), rather than failing the request.
pub(crate) async fn password_matches(
    state: &AppState,
    user: &User,
    password: gatehouse_domain::Password,
) -> Result<Option<bool>, ApiError> {
    match state
        .hasher
        .verify(password.clone(), user.password_hash.clone())
        .await
    {
        Ok(PasswordCheck::Match { needs_rehash }) => Ok(Some(needs_rehash)),
        Ok(PasswordCheck::Mismatch) => Ok(None),
        Err(gatehouse_auth::AuthError::MalformedHash(reason)) => {
            tracing::error!(user = %user.id, %reason, "stored password hash is unreadable");
            Ok(None)
        }
        Err(gatehouse_auth::AuthError::HashTooCostly(reason)) => {
            tracing::error!(user = %user.id, %reason, "stored password hash asks for more argon2 work than allowed; reset the password");
            // The usual time, so the answer does not stand out from any other failure.
            state.hasher.verify_against_dummy(password).await?;
            Ok(None)
        }
        Err(other) => Err(other.into()),
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
        ip: client_ip(request, &state.options.rate_limits.trusted_proxies).map(|ip| ip.to_string()),
    };
    Ok(state.sessions.create(session).await?)
}

fn issue_tokens(
    state: &AppState,
    session: &Session,
    fresh: bool,
    generation: u32,
) -> Result<(IssuedToken, IssuedToken), ApiError> {
    let now = Utc::now();
    let access = state
        .jwt
        .issue_access(session.user_id, session.id, fresh, now)?;
    let refresh = state.jwt.issue_refresh(
        session.user_id,
        session.id,
        generation,
        now,
        session.expires_at,
    )?;
    Ok((access, refresh))
}
