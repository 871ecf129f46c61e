//! What a link from a mail does: a reset sets a new password, a verification proves the
//! address, and "this wasn't me" ([`not_me`]) undoes a way in the owner did not add. Each
//! link is a single-use token whose hash alone is stored; every refusal is the same
//! [`LinkError::InvalidToken`], whatever made the token unusable.

use chrono::{DateTime, Utc};
use gatehouse_auth::hash_one_time_token;
use gatehouse_domain::{AuditEventType, NewAuditEvent, OneTimePurpose, Password, User, UserId};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::LiveToken;

use crate::client::Client;
pub use crate::refusals::LinkError;
use crate::services::Services;

pub mod not_me;

/// Sets the password of the account a live reset `token` names (the rules checked before
/// the token is spent), marks its address verified, ends its sessions and pending second
/// steps, clears its back-off, and tells its owner.
pub async fn reset_with_token(
    services: &Services,
    client: &Client,
    token: &str,
    new_password: String,
) -> Result<(), LinkError> {
    let live = live_token(services, OneTimePurpose::PasswordReset, token).await?;
    let user = active_owner(services, &live).await?;
    // The rules are checked before the token is spent, so a rejected password can be
    // corrected with the same mail.
    let password = Password::parse_new(new_password, "new_password", Some(&user.email))?;
    let now = Utc::now();
    if !services.one_time_tokens.consume(&live, now).await? {
        return Err(LinkError::InvalidToken);
    }
    let hash = services.hasher.hash(password).await?;
    let event = NewAuditEvent::new(
        AuditEventType::PasswordReset,
        Some(user.id),
        &client.audit,
        now,
    );
    // The reset proves the mailbox: the address is verified from now; every session and
    // every login waiting for its second step end.
    services
        .users
        .reset_password(user.id, &hash, now, &event)
        .await?;
    // Whoever reads the address's mail owns it: no back-off from anyone's failures stays,
    // and nothing stays that someone attached by claiming the address unverified.
    services.login_throttles.clear_account(&user.email).await?;
    claim_for_mailbox_owner(services, client, user.id, now).await?;
    services
        .account_mails
        .notify(user.id, SecurityNotice::PasswordReset);
    Ok(())
}

/// Marks as verified the address of the account a live verification `token` names.
pub async fn verify_with_token(
    services: &Services,
    client: &Client,
    token: &str,
) -> Result<User, LinkError> {
    let live = live_token(services, OneTimePurpose::VerifyEmail, token).await?;
    let now = Utc::now();
    if !services.one_time_tokens.consume(&live, now).await? {
        return Err(LinkError::InvalidToken);
    }
    let event = NewAuditEvent::new(
        AuditEventType::EmailVerified,
        Some(live.user_id),
        &client.audit,
        now,
    );
    let verified = services
        .users
        .verify_recorded(live.user_id, now, &event)
        .await?
        .ok_or(LinkError::InvalidToken)?;
    claim_for_mailbox_owner(services, client, verified.id, now).await?;
    Ok(verified)
}

/// The mailbox's owner proved it: an identity that made the account with an address
/// nobody vouched for goes, with what it may have attached and every session.
async fn claim_for_mailbox_owner(
    services: &Services,
    client: &Client,
    user_id: UserId,
    now: DateTime<Utc>,
) -> Result<(), LinkError> {
    let event = NewAuditEvent::new(
        AuditEventType::IdentityRemoved,
        Some(user_id),
        &client.audit,
        now,
    );
    if services
        .identities
        .claim_for_mailbox_owner(user_id, now, &event)
        .await?
    {
        tracing::warn!(user = %user_id, "the mailbox's owner claimed an account made with an unverified address");
    }
    Ok(())
}

/// The account `live` belongs to, if it is active (a deactivated account is the
/// administrators' to recover or secure).
async fn active_owner(services: &Services, live: &LiveToken) -> Result<User, LinkError> {
    services
        .users
        .find_by_id(live.user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or(LinkError::InvalidToken)
}

/// The live token of `purpose` whose secret is `token`.
async fn live_token(
    services: &Services,
    purpose: OneTimePurpose,
    token: &str,
) -> Result<LiveToken, LinkError> {
    services
        .one_time_tokens
        .find_live(purpose, &hash_one_time_token(token), Utc::now())
        .await?
        .ok_or(LinkError::InvalidToken)
}
