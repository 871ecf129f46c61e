//! The authorization endpoint's decisions: whom the request may go back to, whether the
//! user must sign in or consent first, and the code that ends it.

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    Aal, AuditContext, AuditEventType, AuthorizationCode, AuthorizationError,
    AuthorizationParameters, AuthorizationRequest, CODE_LIFETIME, NewAuditEvent, OauthClient,
    Session, UntrustedTarget, User,
};

use super::{new_secret, stored_form};
use crate::error::AppError;
use crate::services::Services;

/// A request's client and the registered redirect URI it names: where answers may go.
#[derive(Debug, Clone)]
pub struct Target {
    /// The client.
    pub client: OauthClient,
    /// One of its redirect URIs, string for string.
    pub redirect_uri: String,
}

/// Why the request cannot go back to its client.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Unknown client or unregistered redirect URI: a page says so, nothing redirects.
    #[error("untrusted target")]
    Untrusted(UntrustedTarget),
    /// What the check stands on failed.
    #[error(transparent)]
    Failed(#[from] AppError),
}

/// The client and redirect URI of `parameters`, when the client exists and registered
/// that exact URI.
pub async fn target(
    services: &Services,
    parameters: &AuthorizationParameters,
) -> Result<Target, TargetError> {
    let (client_id, redirect_uri) = parameters.target().map_err(TargetError::Untrusted)?;
    let client = services
        .oauth_clients
        .find(&client_id)
        .await
        .map_err(AppError::from)?
        .ok_or(TargetError::Untrusted(UntrustedTarget::UnknownClient))?
        .client;
    if !client.redirects_to(redirect_uri) {
        return Err(TargetError::Untrusted(
            UntrustedTarget::UnregisteredRedirect,
        ));
    }
    Ok(Target {
        client,
        redirect_uri: redirect_uri.to_owned(),
    })
}

/// What the authorization endpoint does next.
#[derive(Debug)]
pub enum Decision {
    /// The user signs in (again) first, then comes back to the request.
    SignIn,
    /// The user is asked to allow the client what it asks for.
    Consent,
    /// Back to the client with this code.
    Code(String),
    /// Back to the client with this error.
    Refuse(AuthorizationError),
}

/// The browser's account and session, when it is signed in.
#[derive(Debug, Clone, Copy)]
pub struct Browser<'a> {
    /// The account.
    pub user: &'a User,
    /// The browser session.
    pub session: &'a Session,
}

/// The user's answer on the consent page, when there was one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAnswer {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

/// Decides `request` to `target` for `browser` (`None`: nobody signed in), given the
/// user's `answer` on the consent page when the request comes from it.
pub async fn decide(
    services: &Services,
    context: &AuditContext,
    (target, request): (&Target, &AuthorizationRequest),
    browser: Option<Browser<'_>>,
    answer: Option<ConsentAnswer>,
) -> Result<Decision, AppError> {
    let now = Utc::now();
    let sign_in = || {
        if request.prompt.none {
            Decision::Refuse(AuthorizationError::LoginRequired)
        } else {
            Decision::SignIn
        }
    };
    let Some(Browser { user, session }) = browser else {
        return Ok(sign_in());
    };
    let has_second_factor = services.mfa.factors(user.id).await?.any();
    if request.wants_aal2 && session.assurance.aal() == Aal::Aal1 && !has_second_factor {
        return Ok(Decision::Refuse(
            AuthorizationError::UnmetAuthenticationRequirements,
        ));
    }
    if request.needs_sign_in(
        session.created_at,
        &session.assurance,
        has_second_factor,
        now,
    ) {
        return Ok(sign_in());
    }
    let client = &target.client;
    match answer {
        Some(ConsentAnswer::Deny) => return Ok(Decision::Refuse(AuthorizationError::AccessDenied)),
        Some(ConsentAnswer::Allow) => {
            let event = NewAuditEvent::new(
                AuditEventType::OauthConsentGranted,
                Some(user.id),
                context,
                now,
            )
            .in_session(session.id)
            .with("client_id", client.id.as_str())
            .with("scope", request.scopes.to_string());
            services
                .oauth_grants
                .remember_consent(user.id, &client.id, &request.scopes, now, Some(&event))
                .await?;
        }
        None => {
            let granted = services.oauth_grants.consent(user.id, &client.id).await?;
            if request.needs_consent(client.settings.first_party, granted.as_ref()) {
                return Ok(if request.prompt.none {
                    Decision::Refuse(AuthorizationError::ConsentRequired)
                } else {
                    Decision::Consent
                });
            }
            let listed = granted.is_some_and(|granted| request.scopes.is_within(&granted));
            if !listed {
                // A first-party app asks nobody, but the account page still lists it
                // (and can take its access away).
                services
                    .oauth_grants
                    .remember_consent(user.id, &client.id, &request.scopes, now, None)
                    .await?;
            }
        }
    }
    issue_code(services, target, request, Browser { user, session }, now)
        .await
        .map(Decision::Code)
}

async fn issue_code(
    services: &Services,
    target: &Target,
    request: &AuthorizationRequest,
    browser: Browser<'_>,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let (code, hash) = new_secret();
    debug_assert_eq!(stored_form(&code), hash);
    let bound = AuthorizationCode {
        client_id: target.client.id.clone(),
        user_id: browser.user.id,
        session_id: browser.session.id,
        redirect_uri: target.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        scopes: request.scopes.clone(),
        auth_time: browser.session.created_at,
        assurance: browser.session.assurance.clone(),
        expires_at: now + CODE_LIFETIME,
    };
    services.oauth_grants.store_code(&hash, &bound).await?;
    Ok(code)
}
