//! The caller's own account: reading it, changing its password, and what goes by mail —
//! forgotten passwords and address verification with single-use tokens, prepared off the
//! request path by the [`mail_worker`].

use actix_web::HttpResponse;

use crate::{
    dto::UserOut,
    error::{ApiError, Problem},
    extract::AuthenticatedUser,
    openapi::responses::{BearerRefused, DatabaseDown},
};

pub mod by_mail;
pub mod dto;
pub mod mail_worker;
pub mod password;

pub use mail_worker::{AccountMails, AccountOptions};

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
