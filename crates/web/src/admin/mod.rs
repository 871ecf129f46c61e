//! The administrators' view of every account: list, read, change, delete.

use actix_web::{HttpResponse, web};
use gatehouse_app::admin::{AccountChange, change_account, delete_account, reset_second_factor};
use gatehouse_domain::UserId;

use crate::{
    error::{ApiError, Problem},
    extract::{Audit, JsonBody, Superuser, SuperuserChange},
    shared_responses::{
        DatabaseDown, JsonBodyRefused, SuperuserChangeRefused, SuperuserRefused, UnknownUser,
    },
    state::AppState,
};

pub mod dto;

use dto::{AdminUserOut, PageQuery, UserPatchIn, UsersPage};

/// Accounts, oldest first, a page at a time. Superusers only.
#[utoipa::path(
    get,
    path = "/users",
    tag = "admin",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of accounts", body = UsersPage),
        SuperuserRefused,
        DatabaseDown,
        (status = 422, description = "`limit` outside 1–100, or a non-numeric `limit`/`offset`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: Superuser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = query.parse()?;
    let (users, total) = state.users.list(limit, offset).await?;
    let ids: Vec<UserId> = users.iter().map(|user| user.id).collect();
    let mut roles = state.roles.held_by_each(&ids).await?;
    Ok(HttpResponse::Ok().json(UsersPage {
        items: users
            .into_iter()
            .map(|user| {
                let held = roles.remove(&user.id).unwrap_or_default();
                AdminUserOut::new(user, &held)
            })
            .collect(),
        total,
        limit,
        offset,
    }))
}

/// One account. Superusers only.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account, with its roles", body = AdminUserOut),
        SuperuserRefused,
        UnknownUser,
        DatabaseDown,
    )
)]
pub async fn get_user(
    state: web::Data<AppState>,
    _admin: Superuser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .users
        .find_by_id(user_id(&id)?)
        .await?
        .ok_or(USER_NOT_FOUND)?;
    let roles = state.roles.held_by(user.id).await?;
    Ok(HttpResponse::Ok().json(AdminUserOut::new(user, &roles)))
}

/// Change an account: address, password, active, superuser, verified. Deactivating or
/// setting a password ends the account's sessions; a new address voids the links already
/// mailed. Superusers only; the last active superuser cannot be deactivated or demoted.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    request_body = UserPatchIn,
    responses(
        (status = 200, description = "The account as changed, with its roles", body = AdminUserOut),
        JsonBodyRefused,
        SuperuserChangeRefused,
        UnknownUser,
        DatabaseDown,
        (status = 409, description = "`Email already registered`, or `Cannot remove the last superuser`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Non-UUID id, invalid email, or a password that breaks the rules", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_user(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    id: web::Path<String>,
    JsonBody(body): JsonBody<UserPatchIn>,
) -> Result<HttpResponse, ApiError> {
    let change = AccountChange {
        email: body.email,
        password: body.password,
        is_active: body.is_active,
        is_superuser: body.is_superuser,
        is_verified: body.is_verified,
    };
    let user = change_account(&state, &admin.as_actor(context), user_id(&id)?, change).await?;
    let roles = state.roles.held_by(user.id).await?;
    Ok(HttpResponse::Ok().json(AdminUserOut::new(user, &roles)))
}

/// Delete an account with its sessions. Superusers only; the last active superuser
/// cannot be deleted.
#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Deleted"),
        SuperuserChangeRefused,
        UnknownUser,
        DatabaseDown,
        (status = 409, description = "`Cannot remove the last superuser`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_user(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    delete_account(&state, &admin.as_actor(context), user_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove an account's second factors (TOTP, recovery codes, passkeys), for a user who
/// lost them; every session of the account ends. Superusers only.
#[utoipa::path(
    delete,
    path = "/users/{id}/mfa",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "The account has no second factor any more; its sessions have ended"),
        SuperuserChangeRefused,
        UnknownUser,
        DatabaseDown,
    )
)]
pub async fn reset_mfa(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    reset_second_factor(&state, &admin.as_actor(context), user_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

const USER_NOT_FOUND: ApiError = ApiError::NotFound("User not found");

/// An account id from a path: a 422 naming `id` when it is no UUID.
pub(crate) fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or_else(|| ApiError::field("id", "must be a UUID"))
}
