//! What the signed-in owner does to their own account.

use chrono::Utc;
use gatehouse_domain::{AuditEventType, NewAuditEvent, Password, SessionId, User};
use gatehouse_mail::SecurityNotice;

use crate::{
    Client, LoginOutcome, Services, SignInError,
    signin::{backoff::PasswordAttempt, password_matches},
};

/// Checks `current` under the account's back-off (a stolen fresh token must not guess the
/// password faster than a login could), sets `new`, ends every session of `caller` but
/// `session`, and tells the owner.
pub async fn change_password(
    services: &Services,
    client: &Client,
    caller: &User,
    session: SessionId,
    current: Password,
    new: Password,
) -> Result<(), SignInError> {
    let attempt = PasswordAttempt::begin(services, &caller.email, client).await?;
    // The caller's account may come from the session cache, which keeps no password
    // hash: the stored one decides.
    let stored = services
        .users
        .find_by_id(caller.id)
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
    let now = Utc::now();
    let event = NewAuditEvent::new(
        AuditEventType::PasswordChanged,
        Some(caller.id),
        &client.audit,
        now,
    )
    .in_session(session);
    services
        .users
        .change_password(caller.id, &hash, Some(session), now, &event)
        .await?;
    services
        .account_mails
        .notify(caller.id, SecurityNotice::PasswordChanged);
    Ok(())
}
