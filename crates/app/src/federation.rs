//! Signing in with another OpenID Provider, once it sends the browser back: the sign-in
//! is taken (once, by the browser that started it), the code exchanged and the ID token
//! checked, then the identity signs in, is linked, or creates an account, by the rules
//! of `docs/API.md` ("Sign in with another provider"):
//!
//! - an identity is found by (`iss`, `sub`), never by email alone;
//! - an unknown identity whose email belongs to an account is linked only when the
//!   provider says `email_verified: true` **and** the account's address is verified;
//!   otherwise nobody is signed in, so an address someone typed at a careless provider
//!   cannot take over an account;
//! - an unknown identity with a new email creates an account without a password.
//!
//! An account with a second factor still needs it; every account passes the sign-in
//! gate. Every refusal leaves nobody signed in and nothing created.

use chrono::Utc;
use gatehouse_auth::{OidcError, VerifiedIdentity, hash_one_time_token};
use gatehouse_domain::{
    Assurance, AuditEventType, AuthMethod, Email, NewAuditEvent, NewUser, PasswordHash, User,
    UserId, WayIn,
};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::{NewIdentity, PendingFederation};

use crate::client::Client;
use crate::error::AppError;
use crate::logins::LoginOutcome;
use crate::refusals::SignInError;
use crate::services::Services;
use crate::signin::{SignIn, admit, open_session, record_failed_login, second_step::challenge};

/// The longest address an identity keeps (the column's width).
const MAX_EMAIL_BYTES: usize = 320;
/// The longest `iss` and `sub` kept (the columns' width); longer ones sign nobody in.
const MAX_CLAIM_BYTES: usize = 255;

/// What the provider sent back, with the browser's binding cookie.
#[derive(Debug, Default)]
pub struct ProviderReturn<'a> {
    /// `state`, as `start` sent it.
    pub state: Option<&'a str>,
    /// The provider's authorization code.
    pub code: Option<&'a str>,
    /// Whether the provider answered with an `error` (the person cancelled, or it
    /// refused).
    pub error: bool,
    /// The browser-binding cookie's value, if the browser sent it.
    pub browser: Option<&'a str>,
}

/// How a return from a provider ended.
#[derive(Debug)]
pub enum Federated {
    /// A sign-in: signed in, or a second step to take.
    SignIn(SignIn),
    /// The identity is linked to the account that asked.
    Linked,
}

/// Finishes the sign-in (or link) sent to provider `name`: its outcome, and where the
/// browser goes after.
pub async fn finish_federation(
    services: &Services,
    client: &Client,
    name: &str,
    returned: ProviderReturn<'_>,
) -> Result<(Federated, String), SignInError> {
    let provider = services
        .providers
        .find(name)
        .ok_or(SignInError::UnknownProvider)?;
    let pending = take_pending(services, name, &returned).await?;
    if returned.error {
        return Err(SignInError::ProviderFailed);
    }
    let code = returned.code.ok_or(SignInError::ProviderFailed)?;
    let identity = provider
        .finish(code, &pending.nonce, &pending.pkce_verifier, Utc::now())
        .await
        .map_err(provider_refusal)?;
    if identity.issuer.len() > MAX_CLAIM_BYTES || identity.subject.len() > MAX_CLAIM_BYTES {
        tracing::info!(provider = name, "an iss or sub longer than 255 bytes");
        return Err(SignInError::ProviderFailed);
    }
    let return_to = pending.return_to;
    if let Some((user_id, session_id)) = pending.link {
        // Only while the session that asked is open: a stolen token's link dies with the
        // owner's sign-out.
        let now = Utc::now();
        let open = services
            .sessions
            .find(session_id)
            .await?
            .is_some_and(|session| session.user_id == user_id && session.is_active_at(now));
        if !open {
            return Err(SignInError::InvalidSignIn);
        }
        link(services, client, name, &identity, user_id).await?;
        return Ok((Federated::Linked, return_to));
    }
    let user = account_for(services, client, name, &identity).await?;
    admit(services, client, &user).await?;
    let factors = services.mfa.factors(user.id).await?;
    if factors.any() {
        let step = challenge(services, client, &user, AuthMethod::Federated, factors).await?;
        return Ok((Federated::SignIn(SignIn::SecondStep(step)), return_to));
    }
    services.logins.record(LoginOutcome::Success);
    let session = open_session(services, client, &user, Assurance::federated(), Some(name)).await?;
    Ok((Federated::SignIn(SignIn::Session(session)), return_to))
}

/// The pending sign-in `returned.state` names, taken, if this browser started it.
async fn take_pending(
    services: &Services,
    name: &str,
    returned: &ProviderReturn<'_>,
) -> Result<PendingFederation, SignInError> {
    let sent_state = returned.state.ok_or(SignInError::InvalidSignIn)?;
    // The browser is checked before the sign-in is spent: a stranger who sees the
    // callback's address (a log, a screen) cannot void the owner's sign-in with it.
    let browser = returned.browser.ok_or(SignInError::InvalidSignIn)?;
    services
        .identities
        .take_login(
            &hash_one_time_token(sent_state),
            name,
            &hash_one_time_token(browser),
            Utc::now(),
        )
        .await?
        .ok_or(SignInError::InvalidSignIn)
}

/// What the client learns of a provider's refusal: its code or ID token refused is a
/// failed sign-in; an unreachable or misconfigured provider is ours.
fn provider_refusal(error: OidcError) -> SignInError {
    match error {
        OidcError::Exchange(_) | OidcError::IdToken(_) => {
            tracing::info!(error = %error, "sign-in with a provider refused");
            SignInError::ProviderFailed
        }
        other => SignInError::Failed(AppError::Provider(other)),
    }
}

/// The account `identity` signs in to: its own, one it may join by a verified address,
/// or a new one.
pub async fn account_for(
    services: &Services,
    client: &Client,
    provider: &str,
    identity: &VerifiedIdentity,
) -> Result<User, SignInError> {
    if let Some(known) = services
        .identities
        .find(&identity.issuer, &identity.subject)
        .await?
    {
        return services
            .users
            .find_by_id(known.user_id)
            .await?
            .ok_or(SignInError::ProviderFailed);
    }
    let email = identity
        .email
        .as_deref()
        .and_then(|email| Email::parse(email).ok())
        .ok_or_else(|| {
            tracing::info!(provider, "the provider gave no usable email address");
            SignInError::ProviderFailed
        })?;
    let address = email.as_str().to_owned();
    let mut new = NewIdentity {
        provider,
        issuer: &identity.issuer,
        subject: &identity.subject,
        email: Some(&address),
        vouched: identity.email_verified,
    };
    let now = Utc::now();
    let linked = NewAuditEvent::new(AuditEventType::IdentityLinked, None, &client.audit, now);
    if let Some(existing) = services.users.find_by_email(&email).await? {
        // Both must vouch for the address: the provider, and this service's own check.
        if !(identity.email_verified && existing.is_verified) {
            record_failed_login(services, client, Some(existing.id), "identity_not_linked").await?;
            return Err(SignInError::AddressTaken);
        }
        if !existing.is_active {
            // Refused by the gate; nothing is linked to an account that cannot sign in.
            return Ok(existing);
        }
        new.vouched = true;
        let event = NewAuditEvent {
            user_id: Some(existing.id),
            ..linked
        };
        let identity = services
            .identities
            .link(existing.id, new, now, &event)
            .await?;
        tell_of_link(services, &identity);
        return Ok(existing);
    }
    let registered = NewAuditEvent::new(AuditEventType::UserRegistered, None, &client.audit, now);
    Ok(services
        .identities
        .create_account(
            NewUser::new(email, PasswordHash::none()),
            identity.email_verified,
            new,
            now,
            &registered,
            &linked,
        )
        .await?)
}

/// Links `identity` to `user_id` (a link that came back).
async fn link(
    services: &Services,
    client: &Client,
    provider: &str,
    identity: &VerifiedIdentity,
    user_id: UserId,
) -> Result<(), SignInError> {
    // Verified when the link began; checked again now that it is made.
    if !address_verified(services, user_id).await? {
        return Err(SignInError::Unverified);
    }
    if let Some(known) = services
        .identities
        .find(&identity.issuer, &identity.subject)
        .await?
    {
        return if known.user_id == user_id {
            Ok(())
        } else {
            Err(SignInError::IdentityTaken)
        };
    }
    let new = NewIdentity {
        provider,
        issuer: &identity.issuer,
        subject: &identity.subject,
        // An address too long to be one is not kept.
        email: identity
            .email
            .as_deref()
            .filter(|email| email.len() <= MAX_EMAIL_BYTES),
        // The account linked it itself.
        vouched: true,
    };
    let now = Utc::now();
    let event = NewAuditEvent::new(
        AuditEventType::IdentityLinked,
        Some(user_id),
        &client.audit,
        now,
    );
    let identity = services.identities.link(user_id, new, now, &event).await?;
    tell_of_link(services, &identity);
    Ok(())
}

/// Whether the account's address is verified, as the database says now (not a cached
/// copy): adding a way in to an address nobody proved could prepare the account for its
/// taker before its owner signs up.
pub async fn address_verified(services: &Services, user_id: UserId) -> Result<bool, AppError> {
    Ok(services
        .users
        .find_by_id(user_id)
        .await?
        .is_some_and(|user| user.is_verified))
}

/// The account's owner hears of a new identity, with the link that undoes it (an account
/// made by an identity is told nothing: that identity is how it began).
fn tell_of_link(services: &Services, identity: &gatehouse_domain::Identity) {
    services.account_mails.notify_added(
        identity.user_id,
        SecurityNotice::IdentityLinked,
        WayIn::Identity(identity.id),
    );
}
