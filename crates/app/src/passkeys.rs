//! Passkey ceremonies and the assertion check shared by a passkey sign-in and a second
//! step. Every ceremony is stored (any instance finishes what another began), serves one
//! purpose and account, lives 5 minutes and is taken once.

use chrono::{Duration, Utc};
use gatehouse_auth::{Ceremony, PasskeyError, PresentedCredential, credential_id_hash};
use gatehouse_domain::{CeremonyId, CeremonyPurpose, UserId};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::StoredPasskey;
use serde_json::Value;

use crate::error::AppError;
use crate::refusals::SignInError;
use crate::services::Services;

/// How long a ceremony may take (the authenticator's own timeout is as long).
const CEREMONY_TTL: Duration = Duration::minutes(5);

/// Stores `ceremony` for `purpose` (and `user`, when it is one account's): its id, and
/// the options for the browser.
pub async fn open_ceremony(
    services: &Services,
    purpose: CeremonyPurpose,
    user: Option<UserId>,
    ceremony: Ceremony,
) -> Result<(CeremonyId, Value), AppError> {
    let now = Utc::now();
    let id = services
        .passkeys
        .open_ceremony(purpose, user, &ceremony.state, now + CEREMONY_TTL, now)
        .await?;
    Ok((id, ceremony.options))
}

/// The state of ceremony `id`, taken (no one else can finish it now), if it is live and
/// was begun for `purpose` and `user`; else [`SignInError::InvalidCeremony`].
pub async fn take_ceremony(
    services: &Services,
    id: Option<CeremonyId>,
    purpose: CeremonyPurpose,
    user: Option<UserId>,
) -> Result<String, SignInError> {
    let id = id.ok_or(SignInError::InvalidCeremony)?;
    services
        .passkeys
        .take_ceremony(id, purpose, user, Utc::now())
        .await?
        .ok_or(SignInError::InvalidCeremony)
}

/// Why an assertion was refused, and whose credential it was when one was found (its
/// owner's log records the refusal).
#[derive(Debug)]
pub struct AssertionRefused {
    /// What the client learns.
    pub error: SignInError,
    /// The account whose credential was presented, when it is known.
    pub owner: Option<UserId>,
    /// The `login.failed` reason.
    pub reason: &'static str,
}

impl<E: Into<SignInError>> From<E> for AssertionRefused {
    fn from(error: E) -> Self {
        Self {
            error: error.into(),
            owner: None,
            reason: "passkey",
        }
    }
}

/// Checks an assertion against the ceremony `ceremony_state` and the stored passkey it
/// names, which must be `owner`'s (a second step) or, with no owner, the account its user
/// handle names (a sign-in). Records the use; a counter that went back flags the passkey
/// and tells its owner.
pub async fn verify_assertion(
    services: &Services,
    credential: Value,
    ceremony_state: &str,
    owner: Option<UserId>,
) -> Result<StoredPasskey, AssertionRefused> {
    let presented = PresentedCredential::parse(credential).map_err(assertion_refusal)?;
    let passkey = services
        .passkeys
        .find_by_credential(&credential_id_hash(presented.credential_id()))
        .await?
        .ok_or(SignInError::PasskeyFailed)?;
    let owners = match owner {
        Some(owner) => owner == passkey.user_id,
        None => {
            let handle = services
                .users
                .stored_passkey_handle(passkey.user_id)
                .await?;
            presented.held_for(handle.as_deref(), passkey.user_id.as_uuid())
        }
    };
    if !owners {
        // Not this credential's owner asking: nothing to tell its owner.
        return Err(SignInError::PasskeyFailed.into());
    }
    let now = Utc::now();
    let refused = |error: SignInError, reason| AssertionRefused {
        error,
        owner: Some(passkey.user_id),
        reason,
    };
    match services
        .webauthn
        .finish_authentication(&presented, ceremony_state, &passkey.credential)
    {
        Ok(used) => {
            // Two uses racing with one counter value: the one that stored first wins.
            let recorded = services
                .passkeys
                .record_use(&passkey, used.updated.as_deref(), now)
                .await
                .map_err(|e| refused(e.into(), "passkey"))?;
            if !recorded {
                return Err(refused(SignInError::PasskeyFailed, "passkey"));
            }
            Ok(passkey)
        }
        Err(PasskeyError::CounterWentBack) => {
            tracing::warn!(passkey = %passkey.id, user = %passkey.user_id, "passkey counter went back: possibly cloned; flagged");
            services
                .passkeys
                .flag_possibly_cloned(passkey.id, now)
                .await
                .map_err(|e| refused(e.into(), "passkey"))?;
            services
                .account_mails
                .notify(passkey.user_id, SecurityNotice::PasskeyPossiblyCloned);
            Err(refused(
                SignInError::PasskeyFailed,
                "passkey_possibly_cloned",
            ))
        }
        Err(error) => {
            tracing::debug!(%error, "passkey assertion refused");
            Err(refused(assertion_refusal(error), "passkey"))
        }
    }
}

/// What the client learns of a passkey library's refusal.
pub(crate) fn assertion_refusal(error: PasskeyError) -> SignInError {
    match error {
        PasskeyError::Malformed(reason) => SignInError::MalformedCredential(reason.to_string()),
        PasskeyError::Verification(_) | PasskeyError::CounterWentBack => SignInError::PasskeyFailed,
        other => SignInError::Failed(other.into()),
    }
}
