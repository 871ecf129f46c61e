//! The second factor: TOTP with recovery codes. Enrolment and management here; the
//! login's second step in [`second_step`].

pub mod dto;
pub mod second_step;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use gatehouse_auth::{RecoveryCodes, TotpSecret};
use gatehouse_domain::{
    AuditContext, AuditEventType, NewAuditEvent, UserId, WayIn, parse_totp_code,
};
use gatehouse_mail::SecurityNotice;

use gatehouse_app::signin::second_step::{unix_seconds, unseal};

use crate::{
    error::{ApiError, Problem},
    extract::{Audit, AuthenticatedUser, FreshUser, JsonBody, require_verified_address},
    mfa::dto::{MfaStatusOut, RecoveryCodesOut, TotpCodeIn, TotpSetupOut},
    openapi::responses::{BearerRefused, DatabaseDown, JsonBodyRefused},
    state::AppState,
};

const INVALID_CODE: &str = "Invalid code";

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
    let secret = begin_totp_setup(&state, caller.user.id).await?;
    let issuer = &state.options.accounts.app_name;
    let mut response = HttpResponse::Ok();
    response.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    Ok(response.json(TotpSetupOut {
        secret: secret.base32(),
        otpauth_uri: secret.otpauth_uri(issuer, caller.user.email.as_str()),
    }))
}

/// A new secret for `user`'s authenticator, stored sealed as a setup to confirm
/// (replacing one not confirmed); 409 when TOTP is on already.
pub(crate) async fn begin_totp_setup(
    state: &AppState,
    user: UserId,
) -> Result<TotpSecret, ApiError> {
    require_verified_address(state, user).await?;
    let secret = TotpSecret::generate();
    let sealed = state.sealer.seal(user, &secret);
    state
        .mfa
        .start_totp_setup(user, &sealed.key_id, &sealed.sealed, Utc::now())
        .await?;
    Ok(secret)
}

/// The secret of `user`'s setup in progress, if there is one.
pub(crate) async fn totp_in_setup(
    state: &AppState,
    user: UserId,
) -> Result<Option<TotpSecret>, ApiError> {
    match state.mfa.totp(user).await?.filter(|totp| !totp.confirmed) {
        Some(stored) => Ok(Some(unseal(state, user, stored)?)),
        None => Ok(None),
    }
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
    Audit(context): Audit,
    JsonBody(body): JsonBody<TotpCodeIn>,
) -> Result<HttpResponse, ApiError> {
    let codes = confirm_totp_setup(&state, &caller, &context, &body.code()?).await?;
    Ok(recovery_codes_answer(codes))
}

/// Turns on the setup in progress if `typed` is its current code: the recovery codes,
/// and every other session of the caller ends.
pub(crate) async fn confirm_totp_setup(
    state: &AppState,
    caller: &AuthenticatedUser,
    context: &AuditContext,
    typed: &str,
) -> Result<RecoveryCodes, ApiError> {
    require_verified_address(state, caller.user.id).await?;
    let no_setup = || ApiError::Conflict("No TOTP setup in progress");
    let stored = state
        .mfa
        .totp(caller.user.id)
        .await?
        .filter(|totp| !totp.confirmed)
        .ok_or_else(no_setup)?;
    let secret = unseal(state, caller.user.id, stored)?;
    let now = Utc::now();
    let step = parse_totp_code(typed)
        .and_then(|code| secret.matching_step(&code, unix_seconds(now)))
        .ok_or_else(|| ApiError::BadRequest(INVALID_CODE.into()))?;
    let codes = RecoveryCodes::generate(&state.sealer);
    let event = NewAuditEvent::new(
        AuditEventType::TotpEnabled,
        Some(caller.user.id),
        context,
        now,
    )
    .in_session(caller.session.id);
    state
        .mfa
        .confirm_totp(
            caller.user.id,
            step,
            &codes.hashes,
            caller.session.id,
            now,
            &event,
        )
        .await?
        .ok_or_else(no_setup)?;
    state.account_mails.notify_added(
        caller.user.id,
        SecurityNotice::SecondFactorAdded,
        WayIn::Totp(now.timestamp()),
    );
    Ok(codes)
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
    Audit(context): Audit,
) -> Result<HttpResponse, ApiError> {
    disable_totp_of(&state, &caller, &context).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Turns the caller's TOTP off (404 `TOTP not enabled` when it is not on) and tells the
/// owner.
pub(crate) async fn disable_totp_of(
    state: &AppState,
    caller: &AuthenticatedUser,
    context: &AuditContext,
) -> Result<(), ApiError> {
    let event = NewAuditEvent::new(
        AuditEventType::TotpDisabled,
        Some(caller.user.id),
        context,
        Utc::now(),
    )
    .in_session(caller.session.id);
    if !state.mfa.disable_totp(caller.user.id, &event).await? {
        return Err(ApiError::NotFound("TOTP not enabled"));
    }
    state
        .account_mails
        .notify(caller.user.id, SecurityNotice::SecondFactorRemoved);
    Ok(())
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
    Audit(context): Audit,
) -> Result<HttpResponse, ApiError> {
    let codes = RecoveryCodes::generate(&state.sealer);
    let now = Utc::now();
    let event = NewAuditEvent::new(
        AuditEventType::RecoveryCodesRenewed,
        Some(caller.user.id),
        &context,
        now,
    )
    .in_session(caller.session.id);
    if !state
        .mfa
        .renew_recovery_codes(caller.user.id, &codes.hashes, now, &event)
        .await?
    {
        return Err(ApiError::Conflict("No second factor enabled"));
    }
    state
        .account_mails
        .notify(caller.user.id, SecurityNotice::RecoveryCodesRenewed);
    Ok(recovery_codes_answer(codes))
}

fn recovery_codes_answer(codes: RecoveryCodes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(RecoveryCodesOut {
            recovery_codes: codes.codes,
        })
}
