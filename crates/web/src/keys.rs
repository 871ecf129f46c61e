//! The public keys that verify Gatehouse's tokens, for other services.

use actix_web::{HttpResponse, http::header, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// A JWK set (RFC 7517 §5).
#[derive(Serialize, ToSchema)]
pub struct JwkSetOut {
    /// The public signing keys: `kty`, `kid` (RFC 7638 thumbprint), `alg`, `use: sig`
    /// and the key's parameters. A secret is never published: with an HMAC algorithm only
    /// the OpenID Provider's key is listed (none in production without one).
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// The public keys of the token signer and of the OpenID Provider's signer (when it is
/// another key), as a JWK set. Tokens name their key in the `kid` header. With managed
/// keys this lists the `next` key (before it signs) and the `retiring` ones (until their
/// last token has expired).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "operations",
    responses((status = 200, description = "JWK set", body = JwkSetOut))
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    // Verifiers may cache the set for a while (half the time a new key is published
    // ahead of its first token); a key they do not know reaches them anyway, because they
    // fetch again when a token names an unknown `kid`.
    let mut set = state.jwt.jwks();
    let provider_keys = state.provider.as_ref().map(|provider| provider.jwks());
    for jwk in provider_keys.into_iter().flat_map(|keys| keys.keys) {
        let listed = set
            .keys
            .iter()
            .any(|key| key.common.key_id == jwk.common.key_id);
        if !listed {
            set.keys.push(jwk);
        }
    }
    let max_age = state.options.jwks_max_age_seconds;
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .json(set)
}
