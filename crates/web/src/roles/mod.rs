//! Roles, made and granted by superusers; the same flows as `gatehouse roles` and
//! `gatehouse users grant|revoke` (`gatehouse_app::roles`). Tokens carry an account's
//! roles from its next refresh or sign-in; no route of gatehouse itself reads them.

use actix_web::{HttpResponse, web};
use gatehouse_app::roles::{
    RoleActor, RoleError, create_role, delete_role, grant_role, revoke_role,
};
use gatehouse_domain::RoleName;

use crate::{
    admin::user_id,
    dto::required,
    error::{ApiError, Problem},
    extract::{Audit, JsonBody, Superuser, SuperuserChange},
    shared_responses::{DatabaseDown, JsonBodyRefused, SuperuserChangeRefused, SuperuserRefused},
    state::AppState,
};

pub mod dto;

use dto::{RoleIn, RoleOut};

/// Every role, by name, with how many accounts hold it. Superusers only.
#[utoipa::path(
    get,
    path = "/roles",
    tag = "roles",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The roles", body = [RoleOut]),
        SuperuserRefused,
        DatabaseDown,
    )
)]
pub async fn list(state: web::Data<AppState>, _admin: Superuser) -> Result<HttpResponse, ApiError> {
    let roles = state.roles.list().await?;
    Ok(HttpResponse::Ok().json(roles.into_iter().map(RoleOut::from).collect::<Vec<_>>()))
}

/// Make a role. Superusers only.
#[utoipa::path(
    post,
    path = "/roles",
    tag = "roles",
    security(("bearer" = [])),
    request_body = RoleIn,
    responses(
        (status = 201, description = "The role, with no members", body = RoleOut),
        JsonBodyRefused,
        SuperuserChangeRefused,
        DatabaseDown,
        (status = 409, description = "`Role already exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A name outside 1–64 of `a-z 0-9 _ . : -`, or a description over 400 characters; each field named", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    JsonBody(body): JsonBody<RoleIn>,
) -> Result<HttpResponse, ApiError> {
    let name = required("name", body.name).map_err(|error| ApiError::Validation(vec![error]))?;
    let context = admin.as_actor(context);
    let role = create_role(
        &state.roles,
        RoleActor::Admin(&context),
        &name,
        body.description.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created().json(RoleOut::from(role)))
}

/// Delete a role: every account holding it loses it. Superusers only.
#[utoipa::path(
    delete,
    path = "/roles/{name}",
    tag = "roles",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The role's name")),
    responses(
        (status = 204, description = "Deleted; its members lost it"),
        SuperuserChangeRefused,
        DatabaseDown,
        (status = 404, description = "`Role not found` (also for a name that breaks the rule: no role could have it)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // A name that breaks the rule names no role that could exist.
    let name = RoleName::parse(&name).map_err(|_| RoleError::NotFound)?;
    let context = admin.as_actor(context);
    delete_role(&state.roles, RoleActor::Admin(&context), &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Give an account a role (one it holds already: nothing changes). Its tokens carry the
/// role from their next refresh. Superusers only.
#[utoipa::path(
    put,
    path = "/users/{id}/roles/{name}",
    tag = "roles",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "Account id"),
        ("name" = String, Path, description = "The role's name"),
    ),
    responses(
        (status = 204, description = "The account holds the role"),
        SuperuserChangeRefused,
        DatabaseDown,
        (status = 404, description = "`User not found` or `Role not found` (also for a name that breaks the rule)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A non-UUID id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn grant(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let id = user_id(&id)?;
    let Ok(name) = RoleName::parse(&name) else {
        // No role could have this name; the account is looked for all the same, so that
        // an unknown one is named first, as it is for a well-formed name.
        state
            .users
            .find_by_id(id)
            .await?
            .ok_or(RoleError::UserNotFound)?;
        return Err(RoleError::NotFound.into());
    };
    let context = admin.as_actor(context);
    grant_role(&state.roles, RoleActor::Admin(&context), id, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Take a role from an account (one it does not hold: nothing changes). Its tokens stop
/// carrying the role from their next refresh. Superusers only.
#[utoipa::path(
    delete,
    path = "/users/{id}/roles/{name}",
    tag = "roles",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "Account id"),
        ("name" = String, Path, description = "The role's name"),
    ),
    responses(
        (status = 204, description = "The account does not hold the role (also when it did not, or no role has the name)"),
        SuperuserChangeRefused,
        DatabaseDown,
        (status = 404, description = "`User not found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A non-UUID id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let id = user_id(&id)?;
    state
        .users
        .find_by_id(id)
        .await?
        .ok_or(RoleError::UserNotFound)?;
    // A name that breaks the rule is no role the account could hold: nothing to take.
    if let Ok(name) = RoleName::parse(&name) {
        let context = admin.as_actor(context);
        revoke_role(&state.roles, RoleActor::Admin(&context), id, &name).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}
