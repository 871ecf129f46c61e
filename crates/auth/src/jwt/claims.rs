//! What tokens say: the claims on the wire, and the typed claims verification hands out.

use std::fmt;

use chrono::{DateTime, Utc};
use gatehouse_domain::{Aal, Assurance, SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::TokenError;

/// The two kinds of token, as the `type` claim spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Short-lived, presented to protected routes.
    Access,
    /// Long-lived, presented only to `/auth/refresh` and `/auth/logout`.
    Refresh,
}

/// The claims on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireClaims {
    pub(crate) sub: String,
    #[serde(rename = "type")]
    pub(crate) token_type: TokenType,
    pub(crate) jti: String,
    pub(crate) sid: String,
    #[serde(rename = "gen", default, skip_serializing_if = "Option::is_none")]
    pub(crate) generation: Option<u32>,
    pub(crate) iat: i64,
    pub(crate) nbf: i64,
    pub(crate) exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fresh: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) aal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) aud: Option<String>,
    /// `true` on the tokens of a browser session that gatehouse's own pages (or the
    /// federation callback) opened: only those are page sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) page: Option<bool>,
    /// On access tokens: the roles the account held when the token was issued, sorted
    /// (`[]` when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) roles: Option<Vec<String>>,
}

/// A signed token and when it stops being accepted.
#[derive(Clone)]
pub struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// Whose token it is.
    pub user_id: UserId,
    /// Which session it belongs to.
    pub session_id: SessionId,
    /// Issued straight from a password login (not from a refresh).
    pub fresh: bool,
    /// How strongly the session's login was authenticated (`aal1` when the token does
    /// not say: tokens from before second factors existed).
    pub aal: Aal,
    /// The login's methods, RFC 8176 names (`pwd`, `otp`, `hwk`, `mfa`).
    pub amr: Vec<String>,
    /// `iat`: when it was issued (for a page session's handle, the sign-in).
    pub issued_at: DateTime<Utc>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
    /// A handle on a browser session of gatehouse's own pages (claim `page`).
    pub page_session: bool,
    /// The roles the account held when the token was issued, sorted (claim `roles`;
    /// none on tokens from before roles existed). A change shows from the next refresh.
    pub roles: Vec<String>,
}

/// A verified refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshClaims {
    /// Whose token it is.
    pub user_id: UserId,
    /// Which session it belongs to.
    pub session_id: SessionId,
    /// How many refreshes lie between login and this token.
    pub generation: u32,
    /// How the session's login was made (a password alone when the token does not say:
    /// tokens from before second factors existed). Refreshed tokens carry it on.
    pub assurance: Assurance,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
    /// Of a browser session of gatehouse's own pages (claim `page`): refreshed tokens
    /// carry it on.
    pub page_session: bool,
}

/// The verified claims of an access token, in domain types.
pub(crate) fn access_claims(claims: WireClaims) -> Result<AccessClaims, TokenError> {
    Ok(AccessClaims {
        user_id: parse_id(&claims.sub).map(UserId::from_uuid)?,
        session_id: parse_id(&claims.sid).map(SessionId::from_uuid)?,
        fresh: claims.fresh.unwrap_or(false),
        aal: match claims.aal.as_deref() {
            None => Aal::Aal1,
            Some(raw) => Aal::parse(raw).ok_or(TokenError::Invalid)?,
        },
        amr: claims.amr.unwrap_or_default(),
        issued_at: timestamp(claims.iat)?,
        expires_at: timestamp(claims.exp)?,
        page_session: claims.page == Some(true),
        roles: claims.roles.unwrap_or_default(),
    })
}

pub(super) fn parse_id(raw: &str) -> Result<uuid::Uuid, TokenError> {
    uuid::Uuid::parse_str(raw).map_err(|_| TokenError::Invalid)
}

pub(super) fn timestamp(seconds: i64) -> Result<DateTime<Utc>, TokenError> {
    DateTime::from_timestamp(seconds, 0).ok_or(TokenError::Invalid)
}
