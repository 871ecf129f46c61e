//! Gatehouse as the OpenID Provider for other apps: the authorization endpoint's
//! decisions and its codes ([`authorize`]), the token endpoint's grants and client
//! authentication ([`token`]), and what a client's tokens open ([`resource`]: userinfo,
//! revocation, introspection).
//!
//! Codes and refresh tokens are 256 random bits stored as their SHA-256. An access token
//! is a signed JWT; a user's names its grant in its `jti`, so revoking the grant (a
//! replayed code or refresh token, `Remove access`, signing out everywhere) ends it
//! wherever gatehouse checks it (userinfo, introspection).

pub mod access;
pub mod authorize;
pub mod logout;
pub mod resource;
pub mod token;

use gatehouse_auth::{ProviderTokens, hash_one_time_token};
use gatehouse_domain::GrantId;

use crate::error::AppError;
use crate::services::Services;

/// Why the token endpoint (or revocation, introspection) refused: OAuth's error codes
/// (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum OauthError {
    /// A parameter is missing, repeated or malformed.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// The client could not be authenticated; `basic` when it tried HTTP Basic.
    #[error("invalid_client")]
    InvalidClient {
        /// It sent `Authorization: Basic`.
        basic: bool,
    },
    /// The code, refresh token or verifier is not good (or not this client's).
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// The client may not use this grant type.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    /// No such grant type.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A scope beyond what may be asked.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// Too many failed client authentications from here.
    #[error("backed off")]
    BackedOff {
        /// How long until a try may be judged.
        retry_after: std::time::Duration,
    },
    /// What the flow stands on failed.
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<gatehouse_persistence::RepoError> for OauthError {
    fn from(error: gatehouse_persistence::RepoError) -> Self {
        Self::Failed(error.into())
    }
}

impl From<gatehouse_auth::AuthError> for OauthError {
    fn from(error: gatehouse_auth::AuthError) -> Self {
        Self::Failed(error.into())
    }
}

impl OauthError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::BackedOff { .. } => "slow_down",
            Self::Failed(_) => "server_error",
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(why) | Self::InvalidGrant(why) => (*why).to_owned(),
            Self::InvalidClient { .. } => "Client authentication failed".into(),
            Self::UnauthorizedClient => "The client may not use this grant type".into(),
            Self::UnsupportedGrantType => "Unsupported grant_type".into(),
            Self::InvalidScope(why) => why.clone(),
            Self::BackedOff { .. } => "Too many failed attempts, retry later".into(),
            Self::Failed(_) => "Internal error".into(),
        }
    }
}

/// The provider's signer, which exists whenever the provider's routes are served.
pub(crate) fn signer(services: &Services) -> Result<&ProviderTokens, OauthError> {
    services
        .provider
        .as_ref()
        .ok_or(OauthError::Failed(AppError::Auth(
            gatehouse_auth::AuthError::KeyMismatch,
        )))
}

/// A new code or refresh token and the hash it is stored as.
pub(crate) fn new_secret() -> (String, String) {
    let token = gatehouse_auth::OneTimeToken::generate();
    (token.secret, token.hash)
}

/// The stored form of a presented code or refresh token.
pub(crate) fn stored_form(secret: &str) -> String {
    hash_one_time_token(secret)
}

/// A user's access token's `jti`: its grant, then randomness of its own.
pub(crate) fn access_jti(grant: GrantId) -> String {
    format!("{grant}.{}", random_hex(16))
}

/// The grant an access token's `jti` names, if it names one.
pub(crate) fn grant_of_jti(jti: &str) -> Option<GrantId> {
    jti.split_once('.')
        .and_then(|(grant, _)| GrantId::parse(grant))
}

/// `len` random hex characters (at most 64).
fn random_hex(len: usize) -> String {
    let (secret, _) = new_secret();
    secret[..len].to_owned()
}
