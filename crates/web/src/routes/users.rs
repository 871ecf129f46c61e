//! The caller's own account.

use actix_web::HttpResponse;

use crate::{ApiError, AuthenticatedUser, dto::UserOut, error::Problem};

/// The authenticated user.
#[utoipa::path(
    get,
    path = "/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserOut),
        (status = 401, description = "Missing, invalid, expired or revoked token; `User not found` when the account was deleted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(caller: AuthenticatedUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UserOut::from(caller.user)))
}
