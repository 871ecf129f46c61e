//! Logging out and managing one's own sessions.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use gatehouse_app::sessions::{Ending, end_every_session, end_session};
use gatehouse_domain::SessionId;

use crate::{
    cookies::cleared_cookies,
    error::{ApiError, Problem},
    extract::{AnyToken, AuthenticatedUser, ClientContext},
    shared_responses::{BearerRefused, DatabaseDown},
    state::AppState,
};

pub mod dto;

use dto::SessionOut;

/// End the session of the presented token (access or refresh): every token of that login
/// stops working at once. Idempotent: an already ended session answers 204 too.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session has ended"),
        DatabaseDown,
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    ClientContext(client): ClientContext,
    AnyToken(token): AnyToken,
) -> Result<HttpResponse, ApiError> {
    let (_, user_id, session_id) = state.jwt.verify_any(&token)?;
    end_session(&state, &client, user_id, session_id, Ending::Logout).await?;
    Ok(logged_out(&state))
}

/// 204, clearing the cookies in cookie mode.
fn logged_out(state: &AppState) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    if state.options.token_location.cookies {
        for cookie in cleared_cookies(state.options.cookie_secure) {
            response.cookie(cookie);
        }
    }
    response.finish()
}

/// End every session of the caller, this one included.
#[utoipa::path(
    post,
    path = "/auth/logout-all",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session has ended"),
        BearerRefused,
        DatabaseDown,
    )
)]
pub async fn logout_all(
    state: web::Data<AppState>,
    ClientContext(client): ClientContext,
    caller: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    end_every_session(&state, &client, caller.user.id, caller.session.id).await?;
    Ok(logged_out(&state))
}

/// The caller's open sessions, newest first; `current` marks the one of this token.
#[utoipa::path(
    get,
    path = "/auth/sessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Open sessions, newest first", body = Vec<SessionOut>),
        BearerRefused,
        DatabaseDown,
    )
)]
pub async fn list_sessions(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    let sessions = state
        .sessions
        .list_active_for_user(caller.user.id, Utc::now())
        .await?;
    let current = caller.session.id;
    let body: Vec<SessionOut> = sessions
        .into_iter()
        .map(|session| SessionOut::new(session, current))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// End one of the caller's own sessions (e.g. a lost device). Someone else's session id
/// is 404, exactly like an unknown one, so ids cannot be probed.
#[utoipa::path(
    delete,
    path = "/auth/sessions/{id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id, from `GET /auth/sessions`")),
    responses(
        (status = 204, description = "The session has ended"),
        BearerRefused,
        DatabaseDown,
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`Session not found`: unknown, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_session(
    state: web::Data<AppState>,
    ClientContext(client): ClientContext,
    caller: AuthenticatedUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = SessionId::parse(&id).ok_or_else(|| ApiError::field("id", "must be a UUID"))?;
    if !end_session(&state, &client, caller.user.id, id, Ending::Revoked).await? {
        return Err(ApiError::NotFound("Session not found"));
    }
    Ok(HttpResponse::NoContent().finish())
}
