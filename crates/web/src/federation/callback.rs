//! The provider sends the browser back: the sign-in is taken (once, by this browser), the
//! code exchanged and the ID token checked, then the identity signs in, is linked, or
//! creates an account, by the rules of `API.md`:
//!
//! - an identity is found by (`iss`, `sub`), never by email alone;
//! - an unknown identity whose email belongs to an account is linked only when the
//!   provider says `email_verified: true` **and** the account's address is verified;
//!   otherwise nobody is signed in (409), so an address someone typed at a careless
//!   provider cannot take over an account;
//! - an unknown identity with a new email creates an account without a password.
//!
//! An account with a second factor still needs it (the pages' second step); inactive
//! accounts are refused. Every failure answers the sign-in page saying why (a problem
//! document with the pages off), with nobody signed in and nothing created.

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use gatehouse_auth::{OidcProvider, VerifiedIdentity, hash_one_time_token};
use gatehouse_domain::{
    Assurance, AuditContext, AuditEventType, AuthMethod, Email, NewAuditEvent, NewUser,
    PasswordHash, User, UserId,
};
use gatehouse_persistence::{NewIdentity, PendingFederation};
use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::{Audit, require_verified_address},
    federation::{UNKNOWN_PROVIDER, binding_cookie_name, provider_error},
    mfa::second_step::challenge,
    operations::metrics::LoginOutcome,
    pages::{
        PageContext, problem_text, see_other,
        sign_in::{login_form, second_step_page},
        signed_in,
    },
    signin::{credentials::record_failed_login, tokens::open_session_via},
    state::AppState,
};

/// The `detail` of every failed check of the provider's answer.
pub(crate) const FAILED: &str = "Sign-in with the provider failed";
const INVALID_STATE: &str = "Invalid or expired sign-in: start again";
/// The longest address an identity keeps (the column's width).
const MAX_EMAIL_BYTES: usize = 320;
/// The longest `iss` and `sub` kept (the columns' width); longer ones sign nobody in.
const MAX_CLAIM_BYTES: usize = 255;
/// The `detail` when an unknown identity's address belongs to an account it may not join.
pub const LINK_FROM_ACCOUNT: &str =
    "An account with this email exists; sign in and link it from your account page";

/// What the provider sends back.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// How a callback ended.
enum Completed {
    /// Signed in: the browser session, then `return_to`.
    SignedIn(gatehouse_domain::Session, String),
    /// The account has a second factor: the pages' second step.
    SecondStep {
        mfa_token: String,
        passkey: bool,
        return_to: String,
    },
    /// Linked to the signed-in account: back to `return_to`.
    Linked(String),
}

/// Where the provider sends the browser back (`{PUBLIC_URL}/auth/oidc/{name}/callback`).
#[utoipa::path(
    get,
    path = "/auth/oidc/{name}/callback",
    tag = "federation",
    params(
        ("name" = String, Path, description = "A provider of `OIDC_PROVIDERS`"),
        ("state" = String, Query, description = "As `start` sent it"),
        ("code" = String, Query, description = "The provider's authorization code"),
    ),
    responses(
        (status = 303, description = "Signed in (the cookie session) or linked: to `return_to`"),
        (status = 200, description = "The account has a second factor: the sign-in page's second step"),
        (status = 401, description = "`Invalid or expired sign-in: start again` (unknown, used, expired, or another browser's `state`) or `Sign-in with the provider failed` (the code or the ID token refused): the sign-in page, nobody signed in"),
        (status = 403, description = "`Inactive user`, or `Email not verified` (with `REQUIRE_VERIFIED_EMAIL`)"),
        (status = 404, description = "`Unknown provider`"),
        (status = 409, description = "`An account with this email exists; sign in and link it from your account page`, or, for a link, `This identity is linked to another account`"),
    )
)]
pub async fn callback(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(audit): Audit,
    name: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let mut answer = match complete(&state, &request, &audit, &name, &query).await {
        Ok(Completed::SignedIn(session, return_to)) => signed_in(&state, &session, &return_to),
        Ok(Completed::Linked(return_to)) => see_other(&return_to),
        Ok(Completed::SecondStep {
            mfa_token,
            passkey,
            return_to,
        }) => second_step_page(&state, &request, mfa_token, return_to, passkey),
        Err(error) if !state.options.ui_enabled => error.error_response(),
        Err(error) => {
            let context =
                PageContext::new(&state, &request, "Sign in").with_problem(problem_text(&error));
            login_form(
                &state,
                context,
                error.status_code(),
                String::new(),
                crate::pages::HOME.to_owned(),
            )
        }
    };
    // The binding has served (or failed): the browser forgets it.
    let mut gone = actix_web::cookie::Cookie::build(binding_cookie_name(&state), "")
        .path("/")
        // (`__Host-` cookies are replaced only by secure ones.)
        .secure(state.options.cookie_secure)
        .finish();
    gone.make_removal();
    let _ = answer.add_cookie(&gone);
    answer
}

async fn complete(
    state: &AppState,
    request: &HttpRequest,
    audit: &AuditContext,
    name: &str,
    query: &CallbackQuery,
) -> Result<Completed, ApiError> {
    let provider = state
        .providers
        .find(name)
        .ok_or(ApiError::NotFound(UNKNOWN_PROVIDER))?;
    let pending = take_pending(state, request, name, query).await?;
    if query.error.is_some() {
        // The person cancelled at the provider, or it refused: nobody signs in.
        return Err(ApiError::invalid_token(FAILED));
    }
    let code = query
        .code
        .as_deref()
        .ok_or_else(|| ApiError::invalid_token(FAILED))?;
    let identity = provider
        .finish(code, &pending.nonce, &pending.pkce_verifier, Utc::now())
        .await
        .map_err(provider_error)?;
    if identity.issuer.len() > MAX_CLAIM_BYTES || identity.subject.len() > MAX_CLAIM_BYTES {
        tracing::info!(provider = name, "an iss or sub longer than 255 bytes");
        return Err(ApiError::invalid_token(FAILED));
    }
    if let Some((user_id, session_id)) = pending.link {
        // Only while the session that asked is open: a stolen token's link dies with the
        // owner's sign-out.
        let now = Utc::now();
        let open = state
            .sessions
            .find(session_id)
            .await?
            .is_some_and(|session| session.user_id == user_id && session.is_active_at(now));
        if !open {
            return Err(ApiError::invalid_token(INVALID_STATE));
        }
        return link(
            state,
            audit,
            provider,
            &identity,
            user_id,
            pending.return_to,
        )
        .await;
    }
    let user = account_for(state, audit, provider, &identity).await?;
    if !user.is_active {
        state.metrics.record_login(LoginOutcome::Inactive);
        record_failed_login(state, audit, Some(user.id), "inactive").await?;
        return Err(ApiError::Forbidden("Inactive user"));
    }
    if state.options.accounts.require_verified_email && !user.is_verified {
        state.metrics.record_login(LoginOutcome::Unverified);
        record_failed_login(state, audit, Some(user.id), "unverified").await?;
        return Err(ApiError::Forbidden("Email not verified"));
    }
    let factors = state.mfa.factors(user.id).await?;
    if factors.any() {
        return match challenge(state, &user, AuthMethod::Federated, factors, audit).await? {
            ApiError::SecondFactorRequired { mfa_token, methods } => Ok(Completed::SecondStep {
                mfa_token: mfa_token.0,
                passkey: methods.contains(&"passkey"),
                return_to: pending.return_to,
            }),
            other => Err(other),
        };
    }
    state.metrics.record_login(LoginOutcome::Success);
    let session = open_session_via(
        state,
        &user,
        Assurance::federated(),
        request,
        audit,
        Some(&provider.config().name),
    )
    .await?;
    Ok(Completed::SignedIn(session, pending.return_to))
}

/// The pending sign-in this `state` names, taken, if this browser started it.
async fn take_pending(
    state: &AppState,
    request: &HttpRequest,
    name: &str,
    query: &CallbackQuery,
) -> Result<PendingFederation, ApiError> {
    let invalid = || ApiError::invalid_token(INVALID_STATE);
    let sent_state = query.state.as_deref().ok_or_else(invalid)?;
    // The browser is checked before the sign-in is spent: a stranger who sees the
    // callback's address (a log, a screen) cannot void the owner's sign-in with it.
    let browser = request
        .cookie(binding_cookie_name(state))
        .ok_or_else(invalid)?;
    state
        .identities
        .take_login(
            &hash_one_time_token(sent_state),
            name,
            &hash_one_time_token(browser.value()),
            Utc::now(),
        )
        .await?
        .ok_or_else(invalid)
}

/// The account `identity` signs in to: its own, one it may join by a verified address,
/// or a new one.
async fn account_for(
    state: &AppState,
    audit: &AuditContext,
    provider: &OidcProvider,
    identity: &VerifiedIdentity,
) -> Result<User, ApiError> {
    let name = provider.config().name.as_str();
    if let Some(known) = state
        .identities
        .find(&identity.issuer, &identity.subject)
        .await?
    {
        return state
            .users
            .find_by_id(known.user_id)
            .await?
            .ok_or_else(|| ApiError::invalid_token(FAILED));
    }
    let email = identity
        .email
        .as_deref()
        .and_then(|email| Email::parse(email).ok())
        .ok_or_else(|| {
            tracing::info!(provider = name, "the provider gave no usable email address");
            ApiError::invalid_token(FAILED)
        })?;
    let address = email.as_str().to_owned();
    let mut new = NewIdentity {
        provider: name,
        issuer: &identity.issuer,
        subject: &identity.subject,
        email: Some(&address),
        vouched: identity.email_verified,
    };
    let now = Utc::now();
    let linked = NewAuditEvent::new(AuditEventType::IdentityLinked, None, audit, now);
    if let Some(existing) = state.users.find_by_email(&email).await? {
        // Both must vouch for the address: the provider, and this service's own check.
        if !(identity.email_verified && existing.is_verified) {
            record_failed_login(state, audit, Some(existing.id), "identity_not_linked").await?;
            return Err(ApiError::Conflict(LINK_FROM_ACCOUNT));
        }
        if !existing.is_active {
            // Refused by the caller; nothing is linked to an account that cannot sign in.
            return Ok(existing);
        }
        new.vouched = true;
        let event = NewAuditEvent {
            user_id: Some(existing.id),
            ..linked
        };
        let identity = state.identities.link(existing.id, new, now, &event).await?;
        tell_of_link(state, &identity);
        return Ok(existing);
    }
    let registered = NewAuditEvent::new(AuditEventType::UserRegistered, None, audit, now);
    Ok(state
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

/// Links `identity` to `user_id` (a `link` that came back).
async fn link(
    state: &AppState,
    audit: &AuditContext,
    provider: &OidcProvider,
    identity: &VerifiedIdentity,
    user_id: UserId,
    return_to: String,
) -> Result<Completed, ApiError> {
    // Verified when the link began; checked again now that it is made.
    require_verified_address(state, user_id).await?;
    if let Some(known) = state
        .identities
        .find(&identity.issuer, &identity.subject)
        .await?
    {
        return if known.user_id == user_id {
            Ok(Completed::Linked(return_to))
        } else {
            Err(ApiError::Conflict(
                "This identity is linked to another account",
            ))
        };
    }
    let new = NewIdentity {
        provider: &provider.config().name,
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
    let event = NewAuditEvent::new(AuditEventType::IdentityLinked, Some(user_id), audit, now);
    let identity = state.identities.link(user_id, new, now, &event).await?;
    tell_of_link(state, &identity);
    Ok(Completed::Linked(return_to))
}

/// The account's owner hears of a new identity, with the link that undoes it (an account
/// made by an identity is told nothing: that identity is how it began).
fn tell_of_link(state: &AppState, identity: &gatehouse_domain::Identity) {
    state.account_mails.notify_added(
        identity.user_id,
        gatehouse_mail::SecurityNotice::IdentityLinked,
        gatehouse_domain::WayIn::Identity(identity.id),
    );
}
