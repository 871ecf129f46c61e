//! Signing in with a passkey alone: the assertion of a discoverable credential opens a
//! fresh `aal2` session (`amr` `["hwk"]`).

use gatehouse_domain::{Assurance, CeremonyId, CeremonyPurpose};
use serde_json::Value;

use super::{SignIn, admit, open_session, record_failed_login};
use crate::client::Client;
use crate::logins::LoginOutcome;
use crate::passkeys::{take_ceremony, verify_assertion};
use crate::refusals::SignInError;
use crate::services::Services;

/// Finishes sign-in ceremony `challenge` with the browser's `credential`, admits the
/// passkey's account, and opens its session.
pub async fn passkey_sign_in(
    services: &Services,
    client: &Client,
    challenge: Option<CeremonyId>,
    credential: Value,
) -> Result<SignIn, SignInError> {
    let ceremony = take_ceremony(services, challenge, CeremonyPurpose::SignIn, None).await?;
    let passkey = match verify_assertion(services, credential, &ceremony, None).await {
        Ok(passkey) => passkey,
        Err(refused) => {
            services.logins.record(LoginOutcome::InvalidCredentials);
            // A refused assertion for a credential someone holds (a phishing page's
            // origin, a copied key) is worth its owner's log.
            if let Some(owner) = refused.owner {
                record_failed_login(services, client, Some(owner), refused.reason).await?;
            }
            return Err(refused.error);
        }
    };
    let user = services
        .users
        .find_by_id(passkey.user_id)
        .await?
        .ok_or(SignInError::PasskeyFailed)?;
    admit(services, client, &user).await?;
    services.logins.record(LoginOutcome::Success);
    let session = open_session(services, client, &user, Assurance::passkey(), None).await?;
    Ok(SignIn::Session(session))
}
