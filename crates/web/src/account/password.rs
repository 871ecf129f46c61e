//! Changing a password while logged in.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use gatehouse_domain::{AuditContext, AuditEventType, NewAuditEvent};
use gatehouse_mail::SecurityNotice;

use crate::{
    account::dto::{ChangePasswordIn, PasswordChange},
    error::{ApiError, Problem},
    extract::{Audit, AuthenticatedUser, FreshUser, IpThrottled, JsonBody},
    openapi::responses::{DatabaseDown, JsonBodyRefused, PasswordLimited},
    operations::metrics::LoginOutcome,
    signin::{backoff::PasswordAttempt, credentials::password_matches},
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
    request: HttpRequest,
    Audit(context): Audit,
    FreshUser(caller): FreshUser,
    JsonBody(body): JsonBody<ChangePasswordIn>,
) -> Result<HttpResponse, ApiError> {
    let change = body.parse(&caller.user.email)?;
    change_password_of(&state, &request, &context, &caller, change).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Checks `change.current` under the account's back-off, sets `change.new`, ends every
/// other session of the caller, and tells the owner.
pub(crate) async fn change_password_of(
    state: &AppState,
    request: &HttpRequest,
    context: &AuditContext,
    caller: &AuthenticatedUser,
    change: PasswordChange,
) -> Result<(), ApiError> {
    // A stolen fresh token must not open a way to guess the password faster than login.
    let attempt = PasswordAttempt::begin(state, &caller.user.email, request).await?;
    // The caller's account may come from the session cache, which keeps no password
    // hash: the stored one decides.
    let stored = state
        .users
        .find_by_id(caller.user.id)
        .await?
        .ok_or(ApiError::invalid_token("User not found"))?;
    if password_matches(state, &stored, change.current)
        .await?
        .is_none()
    {
        state.metrics.record_login(LoginOutcome::InvalidCredentials);
        attempt.failed();
        return Err(ApiError::invalid_credentials());
    }
    attempt.completed().await?;
    let hash = state.hasher.hash(change.new).await?;
    let now = Utc::now();
    let event = NewAuditEvent::new(
        AuditEventType::PasswordChanged,
        Some(caller.user.id),
        context,
        now,
    )
    .in_session(caller.session.id);
    state
        .users
        .change_password(caller.user.id, &hash, Some(caller.session.id), now, &event)
        .await?;
    state
        .account_mails
        .notify(caller.user.id, SecurityNotice::PasswordChanged);
    Ok(())
}
