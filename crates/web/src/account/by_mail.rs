//! Forgotten passwords and address verification, by single-use tokens sent by mail.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use gatehouse_auth::hash_one_time_token;
use gatehouse_domain::{
    AuditContext, AuditEventType, Email, NewAuditEvent, OneTimePurpose, Password, User,
};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::LiveToken;

use crate::{
    account::dto::{AcceptedOut, ForgotPasswordIn, ResetPasswordIn, VerifyIn},
    dto::UserOut,
    error::{ApiError, Problem},
    extract::{Audit, AuthenticatedUser, JsonBody},
    shared_responses::{BearerRefused, DatabaseDown, JsonBodyRefused, NetworkLimited},
    state::AppState,
};

const INVALID_TOKEN: &str = "Invalid or expired token";

/// Ask for a password-reset mail. Always 202 with the same body, whether or not an
/// account has this address (no enumeration); the mail, if any, is prepared and sent in
/// the background. Older reset tokens of the account stop working. At most one mail per
/// address a minute (the answer is the same).
#[utoipa::path(
    post,
    path = "/auth/forgot-password",
    tag = "account",
    request_body = ForgotPasswordIn,
    responses(
        (status = 202, description = "Accepted, for every address", body = AcceptedOut),
        JsonBodyRefused,
        NetworkLimited,
        (status = 422, description = "Missing or malformed email", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn forgot_password(
    _: crate::extract::IpThrottled,
    state: web::Data<AppState>,
    Audit(context): Audit,
    JsonBody(body): JsonBody<ForgotPasswordIn>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(
        &body
            .email
            .ok_or_else(|| ApiError::field("email", "field required"))?,
    )?;
    state.account_mails.password_reset(email, context);
    Ok(accepted())
}

/// Set a new password with the token from a reset mail. The token works once; every
/// session of the account ends.
#[utoipa::path(
    post,
    path = "/auth/reset-password",
    tag = "account",
    request_body = ResetPasswordIn,
    responses(
        (status = 204, description = "Password replaced; every session has ended"),
        JsonBodyRefused,
        DatabaseDown,
        (status = 400, description = "`Invalid or expired token` (unknown, used, expired or superseded), or a body that is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing field, or a new password that breaks the rules", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reset_password(
    state: web::Data<AppState>,
    Audit(context): Audit,
    JsonBody(body): JsonBody<ResetPasswordIn>,
) -> Result<HttpResponse, ApiError> {
    let (token, new_password) = body.fields()?;
    reset_with_token(&state, &context, &token, new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sets the password of the account a live reset `token` names (the rules checked before
/// the token is spent), marks its address verified, ends its sessions and pending second
/// steps, clears its back-off, and tells its owner.
pub(crate) async fn reset_with_token(
    state: &AppState,
    context: &AuditContext,
    token: &str,
    new_password: String,
) -> Result<(), ApiError> {
    let live = live_token(state, OneTimePurpose::PasswordReset, token).await?;
    let user = state
        .users
        .find_by_id(live.user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(invalid_token)?;
    // The rules are checked before the token is spent, so a rejected password can be
    // corrected with the same mail.
    let password = Password::parse_new(new_password, "new_password", Some(&user.email))?;
    let now = Utc::now();
    if !state.one_time_tokens.consume(&live, now).await? {
        return Err(invalid_token());
    }
    let hash = state.hasher.hash(password).await?;
    let event = NewAuditEvent::new(AuditEventType::PasswordReset, Some(user.id), context, now);
    // The reset proves the mailbox: the address is verified from now; every session and
    // every login waiting for its second step end.
    state
        .users
        .reset_password(user.id, &hash, now, &event)
        .await?;
    // Whoever reads the address's mail owns it: no back-off from anyone's failures stays,
    // and nothing stays that someone attached by claiming the address unverified.
    state.login_throttles.clear_account(&user.email).await?;
    claim_for_mailbox_owner(state, context, user.id, now).await?;
    state
        .account_mails
        .notify(user.id, SecurityNotice::PasswordReset);
    Ok(())
}

/// Ask for a mail to confirm the caller's address. 202 with the same body as
/// forgot-password; nothing is sent when the address is already verified.
#[utoipa::path(
    post,
    path = "/auth/request-verify",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted", body = AcceptedOut),
        BearerRefused,
        NetworkLimited,
        DatabaseDown,
    )
)]
pub async fn request_verify(
    _: crate::extract::IpThrottled,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    Audit(context): Audit,
) -> Result<HttpResponse, ApiError> {
    if !caller.user.is_verified {
        state.account_mails.verify_email(caller.user.id, context);
    }
    Ok(accepted())
}

/// Confirm an address with the token from a verification mail.
#[utoipa::path(
    post,
    path = "/auth/verify",
    tag = "account",
    request_body = VerifyIn,
    responses(
        (status = 200, description = "Verified", body = UserOut),
        JsonBodyRefused,
        DatabaseDown,
        (status = 400, description = "`Invalid or expired token`, or a body that is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    state: web::Data<AppState>,
    Audit(context): Audit,
    JsonBody(body): JsonBody<VerifyIn>,
) -> Result<HttpResponse, ApiError> {
    let token = body
        .token
        .ok_or_else(|| ApiError::field("token", "field required"))?;
    let user = verify_with_token(&state, &context, &token).await?;
    Ok(HttpResponse::Ok().json(UserOut::from(user)))
}

/// Marks as verified the address of the account a live verification `token` names.
pub(crate) async fn verify_with_token(
    state: &AppState,
    context: &AuditContext,
    token: &str,
) -> Result<User, ApiError> {
    let live = live_token(state, OneTimePurpose::VerifyEmail, token).await?;
    let now = Utc::now();
    if !state.one_time_tokens.consume(&live, now).await? {
        return Err(invalid_token());
    }
    let event = NewAuditEvent::new(
        AuditEventType::EmailVerified,
        Some(live.user_id),
        context,
        now,
    );
    let verified = state
        .users
        .verify_recorded(live.user_id, now, &event)
        .await?
        .ok_or_else(invalid_token)?;
    claim_for_mailbox_owner(state, context, verified.id, now).await?;
    Ok(verified)
}

/// The mailbox's owner proved it: an identity that made the account with an address
/// nobody vouched for goes, with what it may have attached and every session.
async fn claim_for_mailbox_owner(
    state: &AppState,
    context: &AuditContext,
    user_id: gatehouse_domain::UserId,
    now: chrono::DateTime<Utc>,
) -> Result<(), ApiError> {
    let event = NewAuditEvent::new(AuditEventType::IdentityRemoved, Some(user_id), context, now);
    if state
        .identities
        .claim_for_mailbox_owner(user_id, now, &event)
        .await?
    {
        tracing::warn!(user = %user_id, "the mailbox's owner claimed an account made with an unverified address");
    }
    Ok(())
}

async fn live_token(
    state: &AppState,
    purpose: OneTimePurpose,
    token: &str,
) -> Result<LiveToken, ApiError> {
    state
        .one_time_tokens
        .find_live(purpose, &hash_one_time_token(token), Utc::now())
        .await?
        .ok_or_else(invalid_token)
}

fn invalid_token() -> ApiError {
    ApiError::BadRequest(INVALID_TOKEN.into())
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(AcceptedOut {
        detail: "If the account exists, a mail is on its way",
    })
}
