//! Signing in with a passkey alone: options for any discoverable credential, then the
//! assertion, which opens a fresh `aal2` session (`amr` `["hwk"]`). The assertion check
//! here is shared with the login's second step.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use gatehouse_auth::{PasskeyError, PresentedCredential, credential_id_hash};
use gatehouse_domain::{Assurance, AuditContext, CeremonyId, CeremonyPurpose, Session, UserId};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::StoredPasskey;
use serde_json::Value;

use crate::{
    error::{ApiError, PASSKEY_FAILED, Problem},
    extract::{Audit, IpThrottled, JsonBody, TrustedOrigin},
    openapi::responses::{DatabaseDown, JsonBodyRefused, NetworkLimited},
    operations::metrics::LoginOutcome,
    passkeys::{
        begin,
        dto::{CeremonyOut, PasskeyLoginIn},
        take,
    },
    signin::{
        credentials::record_failed_login,
        dto::TokenOut,
        tokens::{issue_tokens, open_session, tokens_response},
    },
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
    request: HttpRequest,
    Audit(context): Audit,
    JsonBody(body): JsonBody<PasskeyLoginIn>,
) -> Result<HttpResponse, ApiError> {
    let (challenge, credential) = body.parse()?;
    let session = passkey_sign_in(&state, &request, &context, challenge, credential).await?;
    let (access, refresh) = issue_tokens(&state, &session, true, 0)?;
    Ok(tokens_response(&state, access, refresh))
}

/// Finishes sign-in ceremony `challenge` with the browser's `credential`: the session it
/// opens (shared with the sign-in page).
pub(crate) async fn passkey_sign_in(
    state: &AppState,
    request: &HttpRequest,
    context: &AuditContext,
    challenge: Option<CeremonyId>,
    credential: Value,
) -> Result<Session, ApiError> {
    let ceremony = take(state, challenge, CeremonyPurpose::SignIn, None).await?;
    let passkey = match verify_assertion(state, credential, &ceremony, None).await {
        Ok(passkey) => passkey,
        Err(refused) => {
            state.metrics.record_login(LoginOutcome::InvalidCredentials);
            // A refused assertion for a credential someone holds (a phishing page's
            // origin, a copied key) is worth its owner's log.
            if let Some(owner) = refused.owner {
                record_failed_login(state, context, Some(owner), refused.reason).await?;
            }
            return Err(refused.error);
        }
    };
    let user = state
        .users
        .find_by_id(passkey.user_id)
        .await?
        .ok_or_else(passkey_failed)?;
    if !user.is_active {
        state.metrics.record_login(LoginOutcome::Inactive);
        record_failed_login(state, context, Some(user.id), "inactive").await?;
        return Err(ApiError::Forbidden("Inactive user"));
    }
    if state.options.accounts.require_verified_email && !user.is_verified {
        state.metrics.record_login(LoginOutcome::Unverified);
        record_failed_login(state, context, Some(user.id), "unverified").await?;
        return Err(ApiError::Forbidden("Email not verified"));
    }
    state.metrics.record_login(LoginOutcome::Success);
    open_session(state, &user, Assurance::passkey(), request, context).await
}

/// Why an assertion was refused: the answer, and whose credential it was when one was
/// found (the caller records it).
pub(crate) struct Refused {
    pub(crate) error: ApiError,
    pub(crate) owner: Option<UserId>,
    pub(crate) reason: &'static str,
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            owner: None,
            reason: "passkey",
        }
    }
}

impl Refused {
    fn of(owner: UserId, error: ApiError) -> Self {
        Self {
            error,
            owner: Some(owner),
            reason: "passkey",
        }
    }
}

/// Checks an assertion against the ceremony `ceremony_state` and the stored passkey it
/// names, which must be `owner`'s (a second step) or, with no owner, the account its user
/// handle names (a sign-in). Records the use; a counter that went back flags the passkey
/// and tells its owner. Any refusal is 401 `Passkey verification failed`.
pub(crate) async fn verify_assertion(
    state: &AppState,
    credential: Value,
    ceremony_state: &str,
    owner: Option<UserId>,
) -> Result<StoredPasskey, Refused> {
    let presented = PresentedCredential::parse(credential).map_err(ApiError::from)?;
    let passkey = state
        .passkeys
        .find_by_credential(&credential_id_hash(presented.credential_id()))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(passkey_failed)?;
    let owners = match owner {
        Some(owner) => owner == passkey.user_id,
        None => {
            let handle = state
                .users
                .stored_passkey_handle(passkey.user_id)
                .await
                .map_err(ApiError::from)?;
            presented.held_for(handle.as_deref(), passkey.user_id.as_uuid())
        }
    };
    if !owners {
        // Not this credential's owner asking: nothing to tell its owner.
        return Err(passkey_failed().into());
    }
    let now = Utc::now();
    let refused = |error| Refused::of(passkey.user_id, error);
    match state
        .webauthn
        .finish_authentication(&presented, ceremony_state, &passkey.credential)
    {
        Ok(used) => {
            // Two uses racing with one counter value: the one that stored first wins.
            let recorded = state
                .passkeys
                .record_use(&passkey, used.updated.as_deref(), now)
                .await
                .map_err(|e| refused(e.into()))?;
            if !recorded {
                return Err(refused(passkey_failed()));
            }
            Ok(passkey)
        }
        Err(PasskeyError::CounterWentBack) => {
            tracing::warn!(passkey = %passkey.id, user = %passkey.user_id, "passkey counter went back: possibly cloned; flagged");
            state
                .passkeys
                .flag_possibly_cloned(passkey.id, now)
                .await
                .map_err(|e| refused(e.into()))?;
            state
                .account_mails
                .notify(passkey.user_id, SecurityNotice::PasskeyPossiblyCloned);
            Err(Refused {
                reason: "passkey_possibly_cloned",
                ..refused(passkey_failed())
            })
        }
        Err(error) => {
            tracing::debug!(%error, "passkey assertion refused");
            Err(refused(error.into()))
        }
    }
}

fn passkey_failed() -> ApiError {
    ApiError::Unauthorized {
        detail: PASSKEY_FAILED,
        token_rejected: false,
    }
}
