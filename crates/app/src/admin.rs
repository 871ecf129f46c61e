//! What an administrator does to an account: change it, delete it, take its second
//! factors away. One flow each, for every door an administrator comes through (the admin
//! API, the admin pages): the same rules (the last active superuser stays), the same
//! audit events with the administrator as actor, the same mails to the account.

use chrono::Utc;
use gatehouse_domain::{
    AuditContext, AuditEventType, Email, NewAuditEvent, Password, SessionId, User, UserId,
    UserUpdate, ValidationError,
};
use gatehouse_mail::SecurityNotice;

use crate::{error::AppError, services::Services};

/// Why an administrator's change did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No account has this id.
    #[error("user not found")]
    UserNotFound,
    /// A new address or password breaks the rules; the error names its field.
    #[error("invalid change")]
    Invalid(ValidationError),
    /// What the flow stands on failed, or a rule of the database held (a taken address,
    /// the last superuser): the HTTP layer says which.
    #[error(transparent)]
    Failed(#[from] AppError),
}

/// An account's fields as an administrator sends them; `None` leaves one as it is.
#[derive(Debug, Default, Clone)]
pub struct AccountChange {
    /// A new address (as given): it is unproven until verified again, and voids the
    /// links already mailed.
    pub email: Option<String>,
    /// A new password (as given): it ends the account's sessions and tells the owner.
    pub password: Option<String>,
    /// `false` deactivates the account and ends its sessions.
    pub is_active: Option<bool>,
    /// Superuser or not.
    pub is_superuser: Option<bool>,
    /// The address marked verified, or not.
    pub is_verified: Option<bool>,
}

/// Changes account `id` as `change` says, on behalf of the administrator `acting` names
/// (`actor_id`); one `user.updated` event, in the change's transaction.
pub async fn change_account(
    services: &Services,
    acting: &AuditContext,
    id: UserId,
    change: AccountChange,
) -> Result<User, AdminError> {
    let current = services
        .users
        .find_by_id(id)
        .await
        .map_err(AppError::from)?
        .ok_or(AdminError::UserNotFound)?;
    let email = change
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(AdminError::Invalid)?;
    let new_email = email.as_ref().filter(|email| **email != current.email);
    let password = change
        .password
        .map(|raw| Password::parse_new(raw, "password", Some(new_email.unwrap_or(&current.email))))
        .transpose()
        .map_err(AdminError::Invalid)?;
    let password_hash = match password {
        Some(password) => Some(
            services
                .hasher
                .hash(password)
                .await
                .map_err(AppError::from)?,
        ),
        None => None,
    };
    let email_changed = new_email.is_some();
    let password_changed = password_hash.is_some();
    // The repository ends the sessions (a new password, a deactivation) and the mailed
    // links (a new address) in the same transaction.
    let update = UserUpdate {
        // A new address is unproven until verified again.
        is_verified: change.is_verified.or(email_changed.then_some(false)),
        email,
        password_hash,
        is_active: change.is_active,
        is_superuser: change.is_superuser,
    };
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::UserUpdated, Some(id), acting, now);
    let user = services
        .users
        .update_as_admin_recorded(id, update, now, Some(&event))
        .await
        .map_err(AppError::from)?
        .ok_or(AdminError::UserNotFound)?;
    if password_changed {
        services
            .account_mails
            .notify(user.id, SecurityNotice::PasswordChanged);
    }
    Ok(user)
}

/// Deletes account `id` with its sessions, on behalf of the administrator `acting`
/// names; one `user.deleted` event, in the delete's transaction.
pub async fn delete_account(
    services: &Services,
    acting: &AuditContext,
    id: UserId,
) -> Result<(), AdminError> {
    let event = NewAuditEvent::new(AuditEventType::UserDeleted, Some(id), acting, Utc::now());
    let deleted = services
        .users
        .delete_as_admin_recorded(id, Some(&event))
        .await
        .map_err(AppError::from)?;
    if deleted {
        Ok(())
    } else {
        Err(AdminError::UserNotFound)
    }
}

/// Removes account `id`'s second factors (TOTP, recovery codes, passkeys), for an owner
/// who lost them: every session of the account ends, an `mfa.reset` event is recorded and
/// the owner is told by mail.
pub async fn reset_second_factor(
    services: &Services,
    acting: &AuditContext,
    id: UserId,
) -> Result<(), AdminError> {
    services
        .users
        .find_by_id(id)
        .await
        .map_err(AppError::from)?
        .ok_or(AdminError::UserNotFound)?;
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::MfaReset, Some(id), acting, now);
    services
        .mfa
        .reset(id, now, &event)
        .await
        .map_err(AppError::from)?;
    services
        .account_mails
        .notify(id, SecurityNotice::SecondFactorRemoved);
    Ok(())
}

/// Ends session `session` of account `user` (`session.ended`, reason `admin`, recorded
/// when it was open): `false` when the account has no such session.
pub async fn end_account_session(
    services: &Services,
    acting: &AuditContext,
    user: UserId,
    session: SessionId,
) -> Result<bool, AdminError> {
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::SessionEnded, Some(user), acting, now)
        .with("reason", "admin")
        .in_session(session);
    Ok(services
        .sessions
        .revoke_own_recorded(user, session, now, Some(&event))
        .await
        .map_err(AppError::from)?
        .is_some())
}

/// Mails account `id` a password-reset link, as if its owner had asked: the same
/// cool-down, no mail to a deactivated account, and `password.reset_requested` recorded
/// with the administrator as actor when the mail is prepared.
pub async fn send_reset_link(
    services: &Services,
    acting: &AuditContext,
    id: UserId,
) -> Result<User, AdminError> {
    let user = services
        .users
        .find_by_id(id)
        .await
        .map_err(AppError::from)?
        .ok_or(AdminError::UserNotFound)?;
    services
        .account_mails
        .password_reset(user.email.clone(), acting.clone());
    Ok(user)
}
