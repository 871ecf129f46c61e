//! The caller's authenticator app (TOTP) and recovery codes: set up (a secret to confirm
//! with a code), confirmed (the recovery codes, and every other session ends), turned
//! off, and the codes renewed.

use chrono::Utc;
use gatehouse_auth::{RecoveryCodes, TotpSecret};
use gatehouse_domain::{AuditEventType, Conflict, UserId, WayIn, parse_totp_code};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::RepoError;

use super::{Caller, require_verified_address};
use crate::client::Client;
use crate::refusals::AccountError;
use crate::services::Services;
use crate::signin::second_step::{unix_seconds, unseal};

/// A new secret for `user`'s authenticator, stored sealed as a setup to confirm
/// (replacing one not confirmed); a conflict when TOTP is on already.
pub async fn begin_totp_setup(
    services: &Services,
    user: UserId,
) -> Result<TotpSecret, AccountError> {
    require_verified_address(services, user).await?;
    let secret = TotpSecret::generate();
    let sealed = services.sealer.seal(user, &secret);
    services
        .mfa
        .start_totp_setup(user, &sealed.key_id, &sealed.sealed, Utc::now())
        .await
        .map_err(|error| match error {
            RepoError::Conflict(Conflict::TotpAlreadyEnabled) => AccountError::TotpAlreadyEnabled,
            other => other.into(),
        })?;
    Ok(secret)
}

/// The secret of `user`'s setup in progress, if there is one.
pub async fn totp_in_setup(
    services: &Services,
    user: UserId,
) -> Result<Option<TotpSecret>, AccountError> {
    match services
        .mfa
        .totp(user)
        .await?
        .filter(|totp| !totp.confirmed)
    {
        Some(stored) => Ok(Some(unseal(services, user, stored)?)),
        None => Ok(None),
    }
}

/// Turns on the setup in progress if `typed` is its current code: the recovery codes,
/// and every other session of the caller ends.
pub async fn confirm_totp_setup(
    services: &Services,
    client: &Client,
    caller: Caller<'_>,
    typed: &str,
) -> Result<RecoveryCodes, AccountError> {
    let user = caller.user.id;
    require_verified_address(services, user).await?;
    let stored = services
        .mfa
        .totp(user)
        .await?
        .filter(|totp| !totp.confirmed)
        .ok_or(AccountError::NoTotpSetup)?;
    let secret = unseal(services, user, stored)?;
    let event = caller.event(AuditEventType::TotpEnabled, client);
    let now = event.at;
    let step = parse_totp_code(typed)
        .and_then(|code| secret.matching_step(&code, unix_seconds(now)))
        .ok_or(AccountError::InvalidCode)?;
    let codes = RecoveryCodes::generate(&services.sealer);
    services
        .mfa
        .confirm_totp(user, step, &codes.hashes, caller.session, now, &event)
        .await?
        .ok_or(AccountError::NoTotpSetup)?;
    services.account_mails.notify_added(
        user,
        SecurityNotice::SecondFactorAdded,
        WayIn::Totp(now.timestamp()),
    );
    Ok(codes)
}

/// Turns the caller's TOTP off and tells the owner; with no other second factor left,
/// the recovery codes go too.
pub async fn disable_totp(
    services: &Services,
    client: &Client,
    caller: Caller<'_>,
) -> Result<(), AccountError> {
    let event = caller.event(AuditEventType::TotpDisabled, client);
    if !services.mfa.disable_totp(caller.user.id, &event).await? {
        return Err(AccountError::TotpNotEnabled);
    }
    services
        .account_mails
        .notify(caller.user.id, SecurityNotice::SecondFactorRemoved);
    Ok(())
}

/// Ten new recovery codes; the old ones stop working. Needs a second factor the codes can
/// stand in for.
pub async fn renew_recovery_codes(
    services: &Services,
    client: &Client,
    caller: Caller<'_>,
) -> Result<RecoveryCodes, AccountError> {
    let codes = RecoveryCodes::generate(&services.sealer);
    let event = caller.event(AuditEventType::RecoveryCodesRenewed, client);
    if !services
        .mfa
        .renew_recovery_codes(caller.user.id, &codes.hashes, event.at, &event)
        .await?
    {
        return Err(AccountError::NoSecondFactor);
    }
    services
        .account_mails
        .notify(caller.user.id, SecurityNotice::RecoveryCodesRenewed);
    Ok(codes)
}
