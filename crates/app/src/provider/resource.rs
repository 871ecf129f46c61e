//! What a client's tokens open: userinfo (an access token with `openid`), and the
//! client's own calls about its tokens — revocation (RFC 7009) and introspection
//! (RFC 7662, confidential clients).

use chrono::Utc;
use gatehouse_auth::ClientAccessClaims;
use gatehouse_domain::{ClientType, Grant, HeldRoles, Scope, Scopes};

use super::token::{ClientCredentials, authenticate};
use super::{OauthError, grant_of_jti, signer, stored_form};
use crate::client::Client;
use crate::error::AppError;
use crate::services::Services;

/// Why a bearer token opened nothing.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// Not a live access token issued to a client for a user.
    #[error("invalid_token")]
    InvalidToken,
    /// The token lacks the scope the resource needs.
    #[error("insufficient_scope")]
    InsufficientScope,
    /// What the check stands on failed.
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<gatehouse_persistence::RepoError> for ResourceError {
    fn from(error: gatehouse_persistence::RepoError) -> Self {
        Self::Failed(error.into())
    }
}

/// The claims userinfo answers.
#[derive(Debug, Clone)]
pub struct UserInfo {
    /// The user id.
    pub sub: String,
    /// With `email`: the address and whether it is verified.
    pub email: Option<(String, bool)>,
    /// With `profile`: the address again, as the user's name here.
    pub preferred_username: Option<String>,
    /// With `roles`: the roles the account holds now.
    pub roles: Option<HeldRoles>,
}

/// The user behind `bearer`, a client's access token with `openid` whose grant is live.
pub async fn userinfo(services: &Services, bearer: &str) -> Result<UserInfo, ResourceError> {
    let signer = signer(services).map_err(|_| ResourceError::InvalidToken)?;
    let claims = signer
        .verify_access(bearer)
        .map_err(|_| ResourceError::InvalidToken)?;
    let scopes = Scopes::parse(&claims.scope).map_err(|_| ResourceError::InvalidToken)?;
    let grant = live_grant(services, &claims)
        .await?
        .ok_or(ResourceError::InvalidToken)?;
    if !scopes.contains(Scope::OpenId) {
        return Err(ResourceError::InsufficientScope);
    }
    let user = services.users.find_by_id(grant.user_id).await?;
    let user = user
        .filter(|user| user.is_active)
        .ok_or(ResourceError::InvalidToken)?;
    let roles = if scopes.contains(Scope::Roles) {
        Some(services.roles.held_by(user.id).await?)
    } else {
        None
    };
    let email = user.email.as_str().to_owned();
    Ok(UserInfo {
        roles,
        sub: user.id.to_string(),
        email: scopes
            .contains(Scope::Email)
            .then(|| (email.clone(), user.is_verified)),
        preferred_username: scopes.contains(Scope::Profile).then_some(email),
    })
}

/// The live grant of a user's access token, when its client issued it.
async fn live_grant(
    services: &Services,
    claims: &ClientAccessClaims,
) -> Result<Option<Grant>, ResourceError> {
    let Some(id) = grant_of_jti(&claims.jti) else {
        return Ok(None);
    };
    let grant = services.oauth_grants.active_grant(id).await?;
    Ok(grant.filter(|grant| grant.client_id.as_str() == claims.client_id))
}

/// Revokes `token` (a refresh or access token of the calling client) with its grant;
/// anything else, silently nothing (RFC 7009 §2.2).
pub async fn revoke(
    services: &Services,
    client: &Client,
    credentials: &ClientCredentials,
    token: &str,
) -> Result<(), OauthError> {
    let app = authenticate(services, client, credentials).await?;
    let now = Utc::now();
    let by_refresh = services
        .oauth_grants
        .grant_of_refresh(&stored_form(token))
        .await?;
    let grant = match by_refresh {
        Some(grant) => Some(grant.id),
        None => signer(services)?
            .verify_access(token)
            .ok()
            .filter(|claims| claims.client_id == app.id.as_str())
            .and_then(|claims| grant_of_jti(&claims.jti)),
    };
    if let Some(id) = grant {
        let owned = services
            .oauth_grants
            .active_grant(id)
            .await?
            .is_some_and(|grant| grant.client_id == app.id);
        if owned {
            services.oauth_grants.revoke_grant(id, now, None).await?;
        }
    }
    Ok(())
}

/// What introspection says of a live token.
#[derive(Debug, Clone)]
pub struct Introspection {
    /// Its scopes.
    pub scope: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user (or the client, for `client_credentials`).
    pub sub: String,
    /// Its end.
    pub exp: i64,
    /// When it was issued.
    pub iat: i64,
    /// The issuer.
    pub iss: String,
    /// `Bearer` (an access token) or `refresh_token`.
    pub token_type: &'static str,
}

/// Introspects `token` for a confidential client: `None` (inactive) unless it is a live
/// access or refresh token issued to that client.
pub async fn introspect(
    services: &Services,
    client: &Client,
    credentials: &ClientCredentials,
    token: &str,
) -> Result<Option<Introspection>, OauthError> {
    let app = authenticate(services, client, credentials).await?;
    if app.settings.client_type != ClientType::Confidential {
        return Err(OauthError::InvalidClient {
            basic: credentials.basic,
        });
    }
    let signer = signer(services)?;
    if let Ok(claims) = signer.verify_access(token) {
        if claims.client_id != app.id.as_str() {
            return Ok(None);
        }
        // A user's token lives with its grant; a client's own (`client_credentials`)
        // until it expires.
        let live = grant_of_jti(&claims.jti).is_none()
            || live_grant(services, &claims)
                .await
                .map_err(|error| match error {
                    ResourceError::Failed(error) => OauthError::Failed(error),
                    _ => OauthError::InvalidRequest("token"),
                })?
                .is_some();
        return Ok(live.then_some(Introspection {
            scope: claims.scope,
            client_id: claims.client_id,
            sub: claims.sub,
            exp: claims.exp,
            iat: claims.iat,
            iss: claims.iss,
            token_type: "Bearer",
        }));
    }
    let live = services
        .oauth_grants
        .live_refresh(&stored_form(token), Utc::now())
        .await?;
    Ok(live
        .filter(|(grant, _)| grant.client_id == app.id)
        .map(|(grant, expires_at)| Introspection {
            scope: grant.scopes.to_string(),
            client_id: grant.client_id.to_string(),
            sub: grant.user_id.to_string(),
            exp: expires_at.timestamp(),
            iat: grant.last_used_at.timestamp(),
            iss: signer.issuer().to_owned(),
            token_type: "refresh_token",
        }))
}
