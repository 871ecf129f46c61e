//! The bodies of the client routes.

use chrono::{DateTime, Utc};
use gatehouse_domain::{ClientRequest, OauthClient, RedirectUri};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A client's registration (`POST`), or the fields to change (`PATCH`: the others stay).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ClientIn {
    /// Shown on the consent page (1–100 characters).
    #[serde(default)]
    pub name: Option<String>,
    /// Where codes may be sent (1–10; `https`, or `http` on a loopback host; exact match).
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// Where the browser may go after an RP-initiated logout (up to 10, the same rule).
    #[serde(default)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `confidential` (the default: it gets a secret) or `public` (PKCE alone).
    #[serde(default, rename = "type")]
    pub client_type: Option<String>,
    /// A first-party app asks for no consent.
    #[serde(default)]
    pub first_party: Option<bool>,
    /// `authorization_code`, `refresh_token` (the default pair), `client_credentials`
    /// (confidential clients only).
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
}

impl ClientIn {
    /// The registration this body asks for, over `current`'s where a field is absent.
    pub(crate) fn over(self, current: Option<&OauthClient>) -> ClientRequest {
        let settings = current.map(|client| &client.settings);
        let uris = |list: &[RedirectUri]| list.iter().map(|uri| uri.as_str().to_owned()).collect();
        ClientRequest {
            name: self.name.or_else(|| settings.map(|s| s.name.clone())),
            redirect_uris: self
                .redirect_uris
                .or_else(|| settings.map(|s| uris(&s.redirect_uris)))
                .unwrap_or_default(),
            post_logout_redirect_uris: self
                .post_logout_redirect_uris
                .or_else(|| settings.map(|s| uris(&s.post_logout_redirect_uris)))
                .unwrap_or_default(),
            client_type: self
                .client_type
                .or_else(|| settings.map(|s| s.client_type.as_str().to_owned())),
            first_party: self
                .first_party
                .or_else(|| settings.map(|s| s.first_party))
                .unwrap_or(false),
            grant_types: self
                .grant_types
                .or_else(|| {
                    settings.map(|s| {
                        s.grant_types
                            .iter()
                            .map(|g| g.as_str().to_owned())
                            .collect()
                    })
                })
                .unwrap_or_default(),
        }
    }
}

/// A registered client (never its secret, but at creation and renewal).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientOut {
    /// Its id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// `confidential` or `public`.
    #[serde(rename = "type")]
    pub client_type: &'static str,
    /// Whether it asks for no consent.
    pub first_party: bool,
    /// Where codes may be sent.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser.
    pub post_logout_redirect_uris: Vec<String>,
    /// What it may exchange at the token endpoint.
    pub grant_types: Vec<&'static str>,
    /// When it was registered (RFC 3339).
    #[serde(serialize_with = "crate::dto::rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When it last changed (RFC 3339).
    #[serde(serialize_with = "crate::dto::rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Its secret: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<OauthClient> for ClientOut {
    fn from(client: OauthClient) -> Self {
        let settings = client.settings;
        let uris =
            |list: Vec<RedirectUri>| list.iter().map(|uri| uri.as_str().to_owned()).collect();
        Self {
            client_id: client.id.as_str().to_owned(),
            name: settings.name,
            client_type: settings.client_type.as_str(),
            first_party: settings.first_party,
            redirect_uris: uris(settings.redirect_uris),
            post_logout_redirect_uris: uris(settings.post_logout_redirect_uris),
            grant_types: settings
                .grant_types
                .iter()
                .map(|grant| grant.as_str())
                .collect(),
            created_at: client.created_at,
            updated_at: client.updated_at,
            client_secret: None,
        }
    }
}

/// A new secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecretOut {
    /// The client's id.
    pub client_id: String,
    /// Its new secret (the old one no longer works).
    pub client_secret: String,
}

/// The token endpoint's form (`application/x-www-form-urlencoded`); the client
/// authenticates by HTTP Basic or `client_id` + `client_secret` (a public client by
/// `client_id` alone).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the form; the handler reads it field by field"
)]
pub struct OauthTokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    pub grant_type: String,
    /// The code (`authorization_code`).
    pub code: Option<String>,
    /// The request's redirect URI (`authorization_code`).
    pub redirect_uri: Option<String>,
    /// The PKCE verifier (`authorization_code`).
    pub code_verifier: Option<String>,
    /// The refresh token (`refresh_token`).
    pub refresh_token: Option<String>,
    /// Narrower scopes (`refresh_token`).
    pub scope: Option<String>,
    /// The client, when not by HTTP Basic.
    pub client_id: Option<String>,
    /// The client's secret, when not by HTTP Basic.
    pub client_secret: Option<String>,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the answer, which the handler writes as JSON"
)]
pub struct OauthTokenOut {
    /// A JWT (`typ` `at+jwt`).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// What it allows.
    pub scope: String,
    /// With `openid`.
    pub id_token: Option<String>,
    /// With `offline_access`.
    pub refresh_token: Option<String>,
}

/// An OAuth error (RFC 6749 §5.2).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the answer, which the handler writes as JSON"
)]
pub struct OauthErrorOut {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `slow_down`.
    pub error: String,
    /// In words.
    pub error_description: String,
}

/// Revocation's and introspection's form.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the form; the handler reads it field by field"
)]
pub struct OauthTokenIn {
    /// The token.
    pub token: String,
    /// Ignored: both kinds are looked for.
    pub token_type_hint: Option<String>,
}

/// Introspection's answer (RFC 7662): `{"active": false}`, or the live token's claims.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the answer, which the handler writes as JSON"
)]
pub struct IntrospectionOut {
    /// Whether the token is live and the caller's.
    pub active: bool,
    /// Its scopes.
    pub scope: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// The user (or the client, for `client_credentials`).
    pub sub: Option<String>,
    /// Its end (Unix seconds).
    pub exp: Option<i64>,
    /// When it was issued.
    pub iat: Option<i64>,
    /// The issuer.
    pub iss: Option<String>,
    /// `Bearer` or `refresh_token`.
    pub token_type: Option<String>,
}

/// Userinfo's answer.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the answer, which the handler writes as JSON"
)]
pub struct UserInfoOut {
    /// The user id.
    pub sub: String,
    /// With `email`.
    pub email: Option<String>,
    /// With `email`.
    pub email_verified: Option<bool>,
    /// With `profile`: the address.
    pub preferred_username: Option<String>,
    /// With `roles`: the roles the account holds now, sorted.
    pub roles: Option<Vec<String>>,
}
