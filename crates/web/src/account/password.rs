//! Changing a password while logged in.

use actix_web::{HttpResponse, web};
use gatehouse_app::{Client, account};

use crate::{
    account::dto::{ChangePasswordIn, PasswordChange},
    error::{ApiError, Problem},
    extract::{AuthenticatedUser, ClientContext, FreshUser, IpThrottled, JsonBody},
    shared_responses::{DatabaseDown, JsonBodyRefused, PasswordLimited},
    state::AppState,
};

/// Change the caller's password. Needs a fresh access token (straight from a password
/// login) and the current password; every other session of the user ends, this one stays.
#[utoipa::path(
    post,
    path = "/auth/change-password",
    tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordIn,
    responses(
        (status = 204, description = "Password changed; every other session has ended"),
        JsonBodyRefused,
        PasswordLimited,
        DatabaseDown,
        (status = 401, description = "`Invalid credentials` (wrong current password), or a missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Fresh token required` (a token from a refresh), or `Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing field, or a new password that breaks the rules", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    _: IpThrottled,
    state: web::Data<AppState>,
    ClientContext(client): ClientContext,
    FreshUser(caller): FreshUser,
    JsonBody(body): JsonBody<ChangePasswordIn>,
) -> Result<HttpResponse, ApiError> {
    let change = body.parse(&caller.user.email)?;
    change_password_of(&state, &client, &caller, change).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes the caller's password (the flow's rules: `gatehouse_app::account`).
pub(crate) async fn change_password_of(
    state: &AppState,
    client: &Client,
    caller: &AuthenticatedUser,
    change: PasswordChange,
) -> Result<(), ApiError> {
    let PasswordChange { current, new } = change;
    Ok(account::change_password(state, client, caller.caller(), current, new).await?)
}
