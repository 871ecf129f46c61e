//! The caller's identities at other providers: listed, and removed unless the account
//! would be left with no way to sign in.

use actix_web::{HttpResponse, web};
use gatehouse_app::account::unlink_identity;
use gatehouse_domain::IdentityId;

use crate::{
    error::{ApiError, Problem},
    extract::{AuthenticatedUser, ClientContext, FreshUser},
    federation::dto::IdentityOut,
    shared_responses::{BearerRefused, DatabaseDown},
    state::AppState,
};

/// The caller's identities at other providers, oldest first.
#[utoipa::path(
    get,
    path = "/auth/identities",
    tag = "federation",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's identities", body = [IdentityOut]),
        BearerRefused,
        DatabaseDown,
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    let identities = state.identities.list(caller.user.id).await?;
    Ok(HttpResponse::Ok().json(
        identities
            .into_iter()
            .map(IdentityOut::from)
            .collect::<Vec<_>>(),
    ))
}

/// Removes one of the caller's identities and ends the caller's other sessions (whoever
/// holds the identity may have signed in with it); refused when the account has no
/// password, no other identity and no passkey (it could not sign in again).
#[utoipa::path(
    delete,
    path = "/auth/identities/{id}",
    tag = "federation",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The identity's id")),
    responses(
        (status = 204, description = "Removed"),
        BearerRefused,
        DatabaseDown,
        (status = 403, description = "`Fresh token required` or `Stronger authentication required`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`Identity not found` (none of the caller's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`Cannot remove the last way to sign in`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An `id` that is not a UUID", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove(
    state: web::Data<AppState>,
    FreshUser(caller): FreshUser,
    ClientContext(client): ClientContext,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = IdentityId::parse(&id).ok_or_else(|| ApiError::field("id", "must be a UUID"))?;
    unlink_identity(&state, &client, caller.caller(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}
