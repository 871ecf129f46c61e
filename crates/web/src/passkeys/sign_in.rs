//! Signing in with a passkey alone over HTTP: options for any discoverable credential,
//! then the assertion, which the flow (`gatehouse_app::signin::passkey`) turns into a
//! fresh `aal2` session (`amr` `["hwk"]`).

use actix_web::{HttpResponse, web};
use gatehouse_app::signin::passkey_sign_in;
use gatehouse_domain::CeremonyPurpose;

use crate::{
    error::{ApiError, Problem},
    extract::{ClientContext, IpThrottled, JsonBody, TrustedOrigin},
    passkeys::{
        begin,
        dto::{CeremonyOut, PasskeyLoginIn},
    },
    shared_responses::{DatabaseDown, JsonBodyRefused, NetworkLimited},
    signin::{dto::TokenOut, signed_in},
    state::AppState,
};

/// Options to sign in with any passkey of this site the browser holds (empty
/// `allowCredentials`, user verification required). Ask with `mediation: "conditional"`
/// for the autofill list, or without for a "Sign in with a passkey" button.
#[utoipa::path(
    post,
    path = "/auth/passkeys/login/options",
    tag = "passkeys",
    responses(
        (status = 200, description = "For `navigator.credentials.get()`", body = CeremonyOut),
        NetworkLimited,
        DatabaseDown,
    )
)]
pub async fn login_options(
    _: IpThrottled,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ceremony = state.webauthn.start_discoverable()?;
    begin(&state, CeremonyPurpose::SignIn, None, ceremony).await
}

/// Signs in with the passkey the browser chose: a fresh session at `aal2`. Answers as
/// `/auth/login` does. The per-IP budget was spent by the options (an assertion cannot be
/// guessed, and a sign-in should cost one try, not two).
#[utoipa::path(
    post,
    path = "/auth/passkeys/login",
    tag = "passkeys",
    request_body = PasskeyLoginIn,
    responses(
        (status = 200, description = "Signed in", body = TokenOut),
        JsonBodyRefused,
        DatabaseDown,
        (status = 400, description = "`Invalid or expired challenge`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`Passkey verification failed`: any failed check, an unknown credential, or a counter that went back", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`, `Email not verified` (with `REQUIRE_VERIFIED_EMAIL`), or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `challenge_id` or `credential`, or a credential of the wrong shape", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    _: TrustedOrigin,
    state: web::Data<AppState>,
    ClientContext(client): ClientContext,
    JsonBody(body): JsonBody<PasskeyLoginIn>,
) -> Result<HttpResponse, ApiError> {
    let (challenge, credential) = body.parse()?;
    signed_in(
        &state,
        passkey_sign_in(&state, &client, challenge, credential).await?,
    )
    .await
}
