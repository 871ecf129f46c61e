//! The login's second step over HTTP. A right password for an account with a second
//! factor gets a single-use `mfa_token` that `POST /auth/mfa/verify` exchanges, with a
//! TOTP or recovery code, for the login's answer; or with a passkey, whose ceremony
//! `POST /auth/mfa/passkey/options` begins. The rules are the flow's
//! (`gatehouse_app::signin::second_step`).

use actix_web::{HttpResponse, web};
use gatehouse_app::signin::{finish_second_step, second_step::challenged_account};
use gatehouse_domain::CeremonyPurpose;

use crate::{
    error::{ApiError, INVALID_MFA_TOKEN, Problem},
    extract::{ClientContext, IpThrottled, JsonBody, TrustedOrigin},
    mfa::dto::{MfaPasskeyOptionsIn, MfaVerifyIn},
    passkeys::{begin, dto::CeremonyOut},
    shared_responses::{DatabaseDown, JsonBodyRefused, NetworkLimited, PasswordLimited},
    signin::{dto::TokenOut, signed_in},
    state::AppState,
};

/// Options for a login's second step with a passkey: the `mfa_token` from the 403 gives
/// a ceremony that allows that account's passkeys. Then `POST /auth/mfa/verify` with
/// `challenge_id` and `credential`.
#[utoipa::path(
    post,
    path = "/auth/mfa/passkey/options",
    tag = "mfa",
    request_body = MfaPasskeyOptionsIn,
    responses(
        (status = 200, description = "For `navigator.credentials.get()`", body = CeremonyOut),
        JsonBodyRefused,
        NetworkLimited,
        DatabaseDown,
        (status = 401, description = "`Invalid or expired MFA token`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`No passkey registered` (the account's second factor is TOTP only)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `mfa_token`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn passkey_options(
    _: IpThrottled,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<MfaPasskeyOptionsIn>,
) -> Result<HttpResponse, ApiError> {
    let token = body.token()?;
    let user_id = challenged_account(&state, &token)
        .await?
        .ok_or_else(|| ApiError::invalid_token(INVALID_MFA_TOKEN))?;
    let stored = state.passkeys.credentials_of(user_id).await?;
    if stored.is_empty() {
        return Err(ApiError::Conflict("No passkey registered"));
    }
    let ceremony = state.webauthn.start_second_step(&stored)?;
    begin(&state, CeremonyPurpose::SecondStep, Some(user_id), ceremony).await
}

/// Finish a login with its second factor: the `mfa_token` from the 403 and a TOTP code or
/// a recovery code. Answers as `/auth/login` does, with `aal2` tokens.
#[utoipa::path(
    post,
    path = "/auth/mfa/verify",
    tag = "mfa",
    request_body = MfaVerifyIn,
    responses(
        (status = 200, description = "Logged in", body = TokenOut),
        JsonBodyRefused,
        PasswordLimited,
        DatabaseDown,
        (status = 400, description = "`Invalid or expired challenge` (a passkey's ceremony: unknown, used, expired, or another account's)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`Invalid code` (wrong, replayed or malformed), `Passkey verification failed`, or `Invalid or expired MFA token` (unknown, used, expired, or dead after 5 wrong codes)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `mfa_token`, or not exactly one of `code`, `recovery_code`, and `challenge_id` with `credential`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    _: TrustedOrigin,
    _: IpThrottled,
    state: web::Data<AppState>,
    ClientContext(client): ClientContext,
    JsonBody(body): JsonBody<MfaVerifyIn>,
) -> Result<HttpResponse, ApiError> {
    let (token, proof) = body.parse()?;
    signed_in(
        &state,
        finish_second_step(&state, &client, &token, proof).await?,
    )
    .await
}
