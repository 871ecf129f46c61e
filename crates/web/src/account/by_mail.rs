//! Forgotten passwords and address verification, by single-use tokens sent by mail.

use actix_web::{HttpResponse, web};
use gatehouse_app::by_mail::{reset_with_token, verify_with_token};
use gatehouse_domain::Email;

use crate::{
    account::dto::{AcceptedOut, ForgotPasswordIn, ResetPasswordIn, VerifyIn},
    dto::UserOut,
    error::{ApiError, Problem},
    extract::{Audit, AuthenticatedUser, ClientContext, JsonBody},
    shared_responses::{BearerRefused, DatabaseDown, JsonBodyRefused, NetworkLimited},
    state::AppState,
};

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
    ClientContext(client): ClientContext,
    JsonBody(body): JsonBody<ResetPasswordIn>,
) -> Result<HttpResponse, ApiError> {
    let (token, new_password) = body.fields()?;
    reset_with_token(&state, &client, &token, new_password).await?;
    Ok(HttpResponse::NoContent().finish())
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
    ClientContext(client): ClientContext,
    JsonBody(body): JsonBody<VerifyIn>,
) -> Result<HttpResponse, ApiError> {
    let token = body
        .token
        .ok_or_else(|| ApiError::field("token", "field required"))?;
    let user = verify_with_token(&state, &client, &token).await?;
    Ok(HttpResponse::Ok().json(UserOut::from(user)))
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(AcceptedOut {
        detail: "If the account exists, a mail is on its way",
    })
}
