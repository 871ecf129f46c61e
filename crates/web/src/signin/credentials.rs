//! Checking a password: against the account's stored hash, or against a dummy of the same
//! cost when there is no account (no enumeration by timing); outdated hashes upgraded.

use chrono::Utc;
use gatehouse_auth::PasswordCheck;
use gatehouse_domain::{
    AuditContext, AuditEventType, Email, NewAuditEvent, Password, User, UserId,
};

use crate::{error::ApiError, state::AppState};

/// Why credentials did not hold (for the audit log; the client is told the same either
/// way).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refused {
    /// No account has the address.
    UnknownEmail,
    /// The account's password is another.
    WrongPassword(UserId),
}

/// The account for these credentials, or why they do not hold. Unknown emails cost a
/// dummy verification so the two failures are indistinguishable by timing; an outdated
/// hash is upgraded.
pub(crate) async fn check_credentials(
    state: &AppState,
    email: &Email,
    password: Password,
) -> Result<Result<User, Refused>, ApiError> {
    let Some(user) = state.users.find_by_email(email).await? else {
        state.hasher.verify_against_dummy(password).await?;
        return Ok(Err(Refused::UnknownEmail));
    };
    match password_matches(state, &user, password.clone()).await? {
        None => Ok(Err(Refused::WrongPassword(user.id))),
        Some(needs_rehash) => {
            if needs_rehash {
                upgrade_hash(state, &user, password).await;
            }
            Ok(Ok(user))
        }
    }
}

/// Records a failed login: `reason` is `unknown_email`, `wrong_password`, `inactive`,
/// `unverified` or `backoff`. Nothing the client typed is stored: an unknown address may
/// be a password typed into the wrong field.
pub(crate) async fn record_failed_login(
    state: &AppState,
    context: &AuditContext,
    user_id: Option<UserId>,
    reason: &str,
) -> Result<(), ApiError> {
    let event = NewAuditEvent::new(AuditEventType::LoginFailed, user_id, context, Utc::now())
        .with("reason", reason);
    state.audit.record(&event).await?;
    Ok(())
}

/// Whether `password` is `user`'s: `None` when it is not, else whether the stored hash
/// should be upgraded to the current parameters. An unreadable or too costly stored hash
/// matches nothing (and is logged), rather than failing the request.
pub(crate) async fn password_matches(
    state: &AppState,
    user: &User,
    password: Password,
) -> Result<Option<bool>, ApiError> {
    if !user.password_hash.is_set() {
        // An account made by another provider has no password until a reset sets one:
        // nothing matches, in the usual time.
        state.hasher.verify_against_dummy(password).await?;
        return Ok(None);
    }
    match state
        .hasher
        .verify(password.clone(), user.password_hash.clone())
        .await
    {
        Ok(PasswordCheck::Match { needs_rehash }) => Ok(Some(needs_rehash)),
        Ok(PasswordCheck::Mismatch) => Ok(None),
        Err(gatehouse_auth::AuthError::MalformedHash(reason)) => {
            tracing::error!(user = %user.id, %reason, "stored password hash is unreadable");
            Ok(None)
        }
        Err(gatehouse_auth::AuthError::HashTooCostly(reason)) => {
            tracing::error!(user = %user.id, %reason, "stored password hash asks for more argon2 work than allowed; reset the password");
            // The usual time, so the answer does not stand out from any other failure.
            state.hasher.verify_against_dummy(password).await?;
            Ok(None)
        }
        Err(other) => Err(other.into()),
    }
}

/// Re-hashes with the configured parameters. A failure here must not fail the login.
async fn upgrade_hash(state: &AppState, user: &User, password: Password) {
    let result = match state.hasher.hash(password).await {
        Ok(hash) => state
            .users
            .upgrade_password_hash(user.id, &user.password_hash, &hash, Utc::now())
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => tracing::info!(user = %user.id, "password hash upgraded to current parameters"),
        Err(e) => {
            tracing::warn!(user = %user.id, error = %crate::error::error_chain(&e), "password hash upgrade failed")
        }
    }
}
