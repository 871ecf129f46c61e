//! Discovery (OpenID Connect Discovery 1.0 and RFC 8414): one document under both
//! well-known names.

use actix_web::{HttpResponse, http::header, web};
use gatehouse_domain::Scope;
use serde_json::{Value, json};

use super::authorize::issuer;
use crate::state::AppState;

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "openid-provider",
    responses((status = 200, description = "The provider's metadata (also at `/.well-known/oauth-authorization-server`)", content_type = "application/json"))
)]
pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(metadata(&state))
}

fn metadata(state: &AppState) -> Value {
    let issuer = issuer(state);
    let at = |path: &str| format!("{issuer}{path}");
    let algorithms: Vec<String> = state
        .provider
        .iter()
        .map(|provider| format!("{:?}", provider.algorithm()))
        .collect();
    let client_auth = ["client_secret_basic", "client_secret_post", "none"];
    json!({
        "issuer": issuer,
        "authorization_endpoint": at("/oauth/authorize"),
        "token_endpoint": at("/oauth/token"),
        "userinfo_endpoint": at("/oauth/userinfo"),
        "jwks_uri": at("/.well-known/jwks.json"),
        "revocation_endpoint": at("/oauth/revoke"),
        "introspection_endpoint": at("/oauth/introspect"),
        "end_session_endpoint": at("/oauth/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": Scope::ALL.map(Scope::as_str),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": [
            "sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "sid", "acr", "amr",
            "at_hash", "email", "email_verified", "preferred_username", "roles"
        ],
        "acr_values_supported": ["aal1", "aal2"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
    })
}
