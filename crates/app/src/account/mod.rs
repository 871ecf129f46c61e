//! What the signed-in owner does to their own account: the password ([`change_password`]),
//! the second factor ([`totp`]), passkeys ([`passkeys`]) and identities at other providers
//! ([`unlink_identity`]). Each change is recorded with the session that made it, and the
//! owner hears of it by mail.

use chrono::Utc;
use gatehouse_domain::{AuditEventType, IdentityId, NewAuditEvent, Password, SessionId, User};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::IdentityRemoval;

use crate::client::Client;
use crate::logins::LoginOutcome;
pub use crate::refusals::AccountError;
use crate::refusals::SignInError;
use crate::services::Services;
use crate::signin::{backoff::PasswordAttempt, password_matches};

pub mod passkeys;
pub mod totp;

/// The signed-in caller of an account change: the account, and the session acting.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The caller's account.
    pub user: &'a User,
    /// The session the change comes from (it stays open when others end).
    pub session: SessionId,
}

impl Caller<'_> {
    /// An event about the caller's account, from this session.
    fn event(&self, kind: AuditEventType, client: &Client) -> NewAuditEvent {
        NewAuditEvent::new(kind, Some(self.user.id), &client.audit, Utc::now())
            .in_session(self.session)
    }
}

/// Refuses ([`AccountError::Unverified`]) unless the account's address is verified, as
/// the database says now (not a cached copy): adding a way in (an authenticator app, a
/// passkey, an identity) to an address nobody proved could prepare the account for its
/// taker before its owner signs up.
pub async fn require_verified_address(
    services: &Services,
    user: gatehouse_domain::UserId,
) -> Result<(), AccountError> {
    if crate::federation::address_verified(services, user).await? {
        Ok(())
    } else {
        Err(AccountError::Unverified)
    }
}

/// Checks `current` under the account's back-off (a stolen fresh token must not guess the
/// password faster than a login could), sets `new`, ends every session of the caller but
/// this one, and tells the owner.
pub async fn change_password(
    services: &Services,
    client: &Client,
    caller: Caller<'_>,
    current: Password,
    new: Password,
) -> Result<(), SignInError> {
    let user = caller.user;
    let attempt = PasswordAttempt::begin(services, &user.email, client).await?;
    // The caller's account may come from the session cache, which keeps no password
    // hash: the stored one decides.
    let stored = services
        .users
        .find_by_id(user.id)
        .await?
        .ok_or(SignInError::AccountGone)?;
    if password_matches(services, &stored, current)
        .await?
        .is_none()
    {
        services.logins.record(LoginOutcome::InvalidCredentials);
        attempt.failed();
        return Err(SignInError::InvalidCredentials);
    }
    attempt.completed().await?;
    let hash = services.hasher.hash(new).await?;
    let event = caller.event(AuditEventType::PasswordChanged, client);
    services
        .users
        .change_password(user.id, &hash, Some(caller.session), event.at, &event)
        .await?;
    services
        .account_mails
        .notify(user.id, SecurityNotice::PasswordChanged);
    Ok(())
}

/// Removes the caller's identity `id` and ends the caller's other sessions (whoever holds
/// the identity may have signed in with it); refused when the account has no password,
/// no other identity and no passkey (it could not sign in again).
pub async fn unlink_identity(
    services: &Services,
    client: &Client,
    caller: Caller<'_>,
    id: IdentityId,
) -> Result<(), AccountError> {
    let event = caller
        .event(AuditEventType::IdentityRemoved, client)
        .with("identity_id", id.to_string());
    match services
        .identities
        .remove(caller.user.id, id, caller.session, event.at, &event)
        .await?
    {
        IdentityRemoval::Removed => Ok(()),
        IdentityRemoval::NotFound => Err(AccountError::IdentityNotFound),
        IdentityRemoval::LastWayToSignIn => Err(AccountError::LastWayToSignIn),
    }
}
