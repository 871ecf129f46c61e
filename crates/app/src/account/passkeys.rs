//! The caller's passkeys: the registration ceremony and the passkey it makes, renamed and
//! removed. Adding one ends the caller's other sessions opened without a second factor;
//! removing one ends the others (whoever holds it may have signed in with it).

use gatehouse_auth::{credential_id_hash, new_user_handle};
use gatehouse_domain::{
    AuditEventType, CeremonyId, CeremonyPurpose, PasskeyId, PasskeyName, PasskeySummary, UserId,
    WayIn,
};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::NewStoredPasskey;
use serde_json::Value;

use super::{Caller, require_verified_address};
use crate::client::Client;
use crate::passkeys::{open_ceremony, take_ceremony};
use crate::refusals::AccountError;
use crate::services::Services;

/// Opens a registration ceremony for `user` (a discoverable credential with user
/// verification, none of the account's passkeys): its id and the browser's options.
pub async fn begin_registration(
    services: &Services,
    user: UserId,
    email: &str,
) -> Result<(CeremonyId, Value), AccountError> {
    require_verified_address(services, user).await?;
    let existing = services.passkeys.credentials_of(user).await?;
    let handle = services
        .users
        .passkey_handle(user, &new_user_handle())
        .await?
        .ok_or(AccountError::AccountGone)?;
    let ceremony = services
        .webauthn
        .start_registration(&handle, email, &existing)?;
    Ok(open_ceremony(
        services,
        CeremonyPurpose::Registration,
        Some(user),
        ceremony,
    )
    .await?)
}

/// Finishes the caller's registration ceremony `challenge` with the browser's
/// `credential` and stores the passkey.
pub async fn add_passkey(
    services: &Services,
    client: &Client,
    caller: Caller<'_>,
    challenge: Option<CeremonyId>,
    credential: Value,
    name: Option<PasskeyName>,
) -> Result<PasskeySummary, AccountError> {
    let user = caller.user.id;
    require_verified_address(services, user).await?;
    let ceremony = take_ceremony(
        services,
        challenge,
        CeremonyPurpose::Registration,
        Some(user),
    )
    .await?;
    // What the options excluded: the account's credentials when they were made.
    let held: Vec<String> = services.passkeys.list_credential_hashes(user).await?;
    let new = services
        .webauthn
        .finish_registration(credential, &ceremony, |id| {
            held.contains(&credential_id_hash(id))
        })
        .inspect_err(|refused| tracing::debug!(error = %refused, "passkey registration refused"))
        .map_err(crate::passkeys::assertion_refusal)?;
    let event = caller.event(AuditEventType::PasskeyAdded, client);
    let stored = NewStoredPasskey {
        credential_id_hash: &credential_id_hash(&new.credential_id),
        credential: &new.stored,
        name,
    };
    let added = services
        .passkeys
        .add(user, stored, caller.session, event.at, &event)
        .await?;
    services.account_mails.notify_added(
        user,
        SecurityNotice::PasskeyAdded,
        WayIn::Passkey(added.id),
    );
    Ok(added)
}

/// Renames the caller's passkey `id`.
pub async fn rename_passkey(
    services: &Services,
    user: UserId,
    id: PasskeyId,
    name: &PasskeyName,
) -> Result<PasskeySummary, AccountError> {
    services
        .passkeys
        .rename(user, id, name)
        .await?
        .ok_or(AccountError::PasskeyNotFound)
}

/// Removes the caller's passkey `id` and tells the owner; with no second factor left,
/// the recovery codes go too.
pub async fn remove_passkey(
    services: &Services,
    client: &Client,
    caller: Caller<'_>,
    id: PasskeyId,
) -> Result<(), AccountError> {
    let event = caller
        .event(AuditEventType::PasskeyRemoved, client)
        .with("passkey_id", id.to_string());
    services
        .passkeys
        .remove(caller.user.id, id, caller.session, event.at, &event)
        .await?
        .ok_or(AccountError::PasskeyNotFound)?;
    services
        .account_mails
        .notify(caller.user.id, SecurityNotice::PasskeyRemoved);
    Ok(())
}
