//! The second factor: TOTP with recovery codes. Enrolment and management here; the
//! login's second step in [`second_step`].

pub mod dto;
pub mod second_step;

use actix_web::{HttpResponse, web};
use gatehouse_app::account::totp;
use gatehouse_auth::RecoveryCodes;

use crate::{
    error::{ApiError, Problem},
    extract::{AuthenticatedUser, ClientContext, FreshUser, JsonBody},
    mfa::dto::{MfaStatusOut, RecoveryCodesOut, TotpCodeIn, TotpSetupOut},
    shared_responses::{BearerRefused, DatabaseDown, JsonBodyRefused},
    state::AppState,
};

/// What second factors the caller has.
#[utoipa::path(
    get,
    path = "/auth/mfa",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's second factors", body = MfaStatusOut),
        BearerRefused,
        DatabaseDown,
    )
)]
pub async fn status(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    let factors = state.mfa.factors(caller.user.id).await?;
    Ok(HttpResponse::Ok().json(MfaStatusOut {
        totp: factors.totp,
        passkeys: factors.passkeys,
        recovery_codes_left: factors.recovery_codes_left,
    }))
}

/// Start setting up TOTP: a new secret for the authenticator app (replacing a setup not
/// confirmed yet). TOTP is not on until `/auth/mfa/totp/confirm` proves the app has it.
#[utoipa::path(
    post,
    path = "/auth/mfa/totp/setup",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret, as text and as an otpauth URI", body = TotpSetupOut),
        BearerRefused,
        DatabaseDown,
        (status = 403, description = "`Fresh token required`, `Stronger authentication required` (an account with a second factor needs aal2), `Email not verified` (only a verified address may add a way in), or `Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`TOTP already enabled`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn totp_setup(
    state: web::Data<AppState>,
    FreshUser(caller): FreshUser,
) -> Result<HttpResponse, ApiError> {
    let secret = totp::begin_totp_setup(&state, caller.user.id).await?;
    let issuer = &state.options.accounts.app_name;
    let mut response = HttpResponse::Ok();
    response.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    Ok(response.json(TotpSetupOut {
        secret: secret.base32(),
        otpauth_uri: secret.otpauth_uri(issuer, caller.user.email.as_str()),
    }))
}

/// Finish setting up TOTP with a code from the app: TOTP is on from now, ten recovery
/// codes are issued (shown this once), and every other session of the caller ends.
#[utoipa::path(
    post,
    path = "/auth/mfa/totp/confirm",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = TotpCodeIn,
    responses(
        (status = 200, description = "TOTP is on; the recovery codes", body = RecoveryCodesOut),
        JsonBodyRefused,
        BearerRefused,
        DatabaseDown,
        (status = 400, description = "`Invalid code`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Email not verified` (only a verified address may add a way in), or `Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`No TOTP setup in progress`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `code`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn totp_confirm(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    ClientContext(client): ClientContext,
    JsonBody(body): JsonBody<TotpCodeIn>,
) -> Result<HttpResponse, ApiError> {
    let typed = body.code()?;
    let codes = totp::confirm_totp_setup(&state, &client, caller.caller(), &typed).await?;
    Ok(recovery_codes_answer(codes))
}

/// Turn TOTP off. Needs a fresh aal2 token; with no other second factor left, the
/// recovery codes go too.
#[utoipa::path(
    delete,
    path = "/auth/mfa/totp",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "TOTP is off"),
        BearerRefused,
        DatabaseDown,
        (status = 403, description = "`Fresh token required`, `Stronger authentication required`, or `Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`TOTP not enabled`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn totp_disable(
    state: web::Data<AppState>,
    FreshUser(caller): FreshUser,
    ClientContext(client): ClientContext,
) -> Result<HttpResponse, ApiError> {
    totp::disable_totp(&state, &client, caller.caller()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ten new recovery codes; the old ones stop working. Needs a fresh aal2 token and a
/// second factor the codes can stand in for.
#[utoipa::path(
    post,
    path = "/auth/mfa/recovery-codes",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once", body = RecoveryCodesOut),
        BearerRefused,
        DatabaseDown,
        (status = 403, description = "`Fresh token required`, `Stronger authentication required`, or `Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`No second factor enabled`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn renew_recovery_codes(
    state: web::Data<AppState>,
    FreshUser(caller): FreshUser,
    ClientContext(client): ClientContext,
) -> Result<HttpResponse, ApiError> {
    let codes = totp::renew_recovery_codes(&state, &client, caller.caller()).await?;
    Ok(recovery_codes_answer(codes))
}

fn recovery_codes_answer(codes: RecoveryCodes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(RecoveryCodesOut {
            recovery_codes: codes.codes,
        })
}
