//! Signing in with a password, and creating an account with one. A password is checked
//! against the account's stored hash, or against a dummy of the same cost when there is
//! no account (no enumeration by timing); outdated hashes are upgraded.

use chrono::Utc;
use gatehouse_auth::{AuthError, PasswordCheck};
use gatehouse_domain::{
    Assurance, AuditEventType, AuthMethod, Email, NewAuditEvent, NewUser, Password, User,
};

use super::{
    SignIn, admit, backoff::PasswordAttempt, open_session, record_failed_login,
    second_step::challenge,
};
use crate::client::Client;
use crate::error::AppError;
use crate::error::error_chain;
use crate::logins::LoginOutcome;
use crate::refusals::SignInError;
use crate::services::Services;

/// Which way a password sign-in came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `/auth/login` and the sign-in page: an account with a second factor gets a
    /// challenge.
    Login,
    /// `/auth/token`: one step only (Swagger's Authorize has no second), so an account
    /// with a second factor is refused.
    Token,
}

/// Creates the account (recording `user.registered`) and, when sign-ins need a verified
/// address, sends the verification mail: the new account could not otherwise ask for it
/// (request-verify needs a sign-in).
pub async fn register(
    services: &Services,
    client: &Client,
    email: Email,
    password: Password,
) -> Result<User, AppError> {
    let password_hash = services.hasher.hash(password).await?;
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::UserRegistered, None, &client.audit, now);
    let user = services
        .users
        .create_recorded(NewUser::new(email, password_hash), now, event)
        .await?;
    if services.policy.require_verified_email {
        services
            .account_mails
            .verify_email(user.id, client.audit.clone());
    }
    Ok(user)
}

/// Checks the credentials under the account's back-off, admits the account, and opens a
/// session, or a challenge when the account has a second factor.
pub async fn password_sign_in(
    services: &Services,
    client: &Client,
    email: &Email,
    password: Password,
    grant: Grant,
) -> Result<SignIn, SignInError> {
    let attempt = match PasswordAttempt::begin(services, email, client).await {
        Ok(attempt) => attempt,
        Err(refused) => {
            record_failed_login(services, client, None, "backoff").await?;
            return Err(refused);
        }
    };
    let user = match services.users.find_by_email(email).await {
        Ok(user) => user,
        Err(unjudged) => {
            // Nothing was judged (the database failed): the reserved count goes back, so a
            // stranger's flood cannot back the owner off.
            attempt.passed().await?;
            return Err(unjudged.into());
        }
    };
    let matched = match &user {
        Some(user) => password_matches(services, user, password.clone()).await,
        None => services
            .hasher
            .verify_against_dummy(password.clone())
            .await
            .map(|()| None)
            .map_err(AppError::from),
    };
    let needs_rehash = match matched {
        Ok(matched) => matched,
        Err(unjudged) => {
            // The hashing pool was full: as above.
            attempt.passed().await?;
            return Err(unjudged.into());
        }
    };
    let (user, needs_rehash) = match (user, needs_rehash) {
        (Some(user), Some(needs_rehash)) => (user, needs_rehash),
        (user, _) => {
            services.logins.record(LoginOutcome::InvalidCredentials);
            attempt.failed();
            let (user_id, reason) = match user {
                Some(user) => (Some(user.id), "wrong_password"),
                None => (None, "unknown_email"),
            };
            record_failed_login(services, client, user_id, reason).await?;
            return Err(SignInError::InvalidCredentials);
        }
    };
    if needs_rehash {
        upgrade_hash(services, &user, password).await;
    }
    if let Err(refused) = admit(services, client, &user).await {
        attempt.passed().await?;
        return Err(refused);
    }
    let factors = services.mfa.factors(user.id).await?;
    if factors.any() {
        // Not signed in yet: the network's failures stay until the second step is done.
        attempt.passed().await?;
        return match grant {
            Grant::Login => Ok(SignIn::SecondStep(
                challenge(services, client, &user, AuthMethod::Password, factors).await?,
            )),
            Grant::Token => Err(SignInError::SecondStepUnsupported),
        };
    }
    attempt.completed().await?;
    services.logins.record(LoginOutcome::Success);
    let session = open_session(services, client, &user, Assurance::password(), None).await?;
    Ok(SignIn::Session(session))
}

/// Whether `password` is `user`'s: `None` when it is not, else whether the stored hash
/// should be upgraded to the current parameters. An unreadable or too costly stored hash
/// matches nothing (and is logged), rather than failing the request.
pub async fn password_matches(
    services: &Services,
    user: &User,
    password: Password,
) -> Result<Option<bool>, AppError> {
    if !user.password_hash.is_set() {
        // An account made by another provider has no password until a reset sets one:
        // nothing matches, in the usual time.
        services.hasher.verify_against_dummy(password).await?;
        return Ok(None);
    }
    match services
        .hasher
        .verify(password.clone(), user.password_hash.clone())
        .await
    {
        Ok(PasswordCheck::Match { needs_rehash }) => Ok(Some(needs_rehash)),
        Ok(PasswordCheck::Mismatch) => Ok(None),
        Err(AuthError::MalformedHash(reason)) => {
            tracing::error!(user = %user.id, %reason, "stored password hash is unreadable");
            Ok(None)
        }
        Err(AuthError::HashTooCostly(reason)) => {
            tracing::error!(user = %user.id, %reason, "stored password hash asks for more argon2 work than allowed; reset the password");
            // The usual time, so the answer does not stand out from any other failure.
            services.hasher.verify_against_dummy(password).await?;
            Ok(None)
        }
        Err(other) => Err(other.into()),
    }
}

/// Re-hashes with the configured parameters. A failure here must not fail the sign-in.
async fn upgrade_hash(services: &Services, user: &User, password: Password) {
    let result = match services.hasher.hash(password).await {
        Ok(hash) => services
            .users
            .upgrade_password_hash(user.id, &user.password_hash, &hash, Utc::now())
            .await
            .map(|_| ())
            .map_err(AppError::from),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => tracing::info!(user = %user.id, "password hash upgraded to current parameters"),
        Err(e) => {
            tracing::warn!(user = %user.id, error = %error_chain(&e), "password hash upgrade failed")
        }
    }
}
