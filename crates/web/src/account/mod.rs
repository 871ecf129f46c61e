//! The caller's own account: reading it, changing its password, and what goes by mail —
//! forgotten passwords and address verification with single-use tokens, prepared off the
//! request path by the account-mail worker (`gatehouse_app::mails`).

use actix_web::{HttpResponse, web};
use gatehouse_persistence::AuditFilter;

use crate::{
    account::dto::ActivityOut,
    dto::UserOut,
    error::{ApiError, Problem},
    extract::AuthenticatedUser,
    shared_responses::{BearerRefused, DatabaseDown},
    state::AppState,
};

pub mod by_mail;
pub mod dto;
pub mod password;

pub use gatehouse_app::{AccountMails, AccountOptions};

/// The authenticated user.
#[utoipa::path(
    get,
    path = "/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserOut),
        BearerRefused,
        DatabaseDown,
        (status = 401, description = "Missing, invalid, expired or revoked token; `User not found` when the account was deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(caller: AuthenticatedUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UserOut::from(caller.user)))
}

/// How many of their own events `GET /auth/activity` shows a user.
const ACTIVITY_SHOWN: u64 = 50;

/// The caller's own recent activity: their last 50 audit events, newest first.
#[utoipa::path(
    get,
    path = "/auth/activity",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's last 50 events, newest first", body = Vec<ActivityOut>),
        BearerRefused,
        DatabaseDown,
    )
)]
pub async fn activity(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    let mine = AuditFilter {
        user_id: Some(caller.user.id),
        ..AuditFilter::default()
    };
    let (events, _) = state.audit.list(&mine, None, ACTIVITY_SHOWN).await?;
    let shown: Vec<ActivityOut> = events.into_iter().map(ActivityOut::from).collect();
    Ok(HttpResponse::Ok().json(shown))
}
