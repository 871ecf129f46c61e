//! A tiny separate service that trusts Gatehouse's tokens: `GET /hello` answers only to a
//! request with a valid access token, `GET /sensitive` only to one from a login that used
//! a second factor (`aal2`), `GET /staff` only to one whose account holds the role
//! `staff`. With `GATEHOUSE_CLIENT_ID` (the service is an app gatehouse
//! signs users in to, as an OpenID Provider), `GET /app` answers to an access token
//! gatehouse issued to that client, and `GET /contact` only to one with the scope `email`.
//!
//! ```sh
//! # Gatehouse with a key pair publishes its public key; the service fetches it:
//! GATEHOUSE_JWKS_URL=http://127.0.0.1:8000/.well-known/jwks.json \
//!   cargo run -p gatehouse-verifier --example protected_service
//! # …or, with Gatehouse's default HS256, share the secret instead:
//! GATEHOUSE_JWT_SECRET=… cargo run -p gatehouse-verifier --example protected_service
//! curl http://127.0.0.1:8080/hello -H "Authorization: Bearer $ACCESS"
//! ```
//!
//! `LISTEN` sets the address (default `127.0.0.1:8080`; port 0 picks a free one). The
//! first line on stdout is `listening on http://ADDRESS`.
#![allow(
    clippy::print_stdout,
    reason = "the example reports its address on stdout"
)]

use actix_web::{App, HttpResponse, HttpServer, web};
use gatehouse_verifier::{
    Aal2Token, ClientAudience, ClientToken, RequiredRole, RequiredScope, RoleToken, ScopedToken,
    SigningAlgorithm, VerifiedToken, Verifier, VerifierConfig,
};

async fn hello(VerifiedToken(claims): VerifiedToken) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "message": "hello from a service that trusts gatehouse",
        "user_id": claims.user_id.to_string(),
        "session_id": claims.session_id.to_string(),
    }))
}

/// Only for logins that used a second factor: a password alone gets 403.
async fn sensitive(Aal2Token(claims): Aal2Token) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "message": "two factors seen",
        "amr": claims.amr,
    }))
}

/// The role `/staff` needs.
struct Staff;

impl RequiredRole for Staff {
    const ROLE: &'static str = "staff";
}

/// Only for an account holding the role `staff`: 403 `Missing role` otherwise.
async fn staff(RoleToken(claims, _): RoleToken<Staff>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "user_id": claims.user_id.to_string(),
        "roles": claims.roles,
    }))
}

/// A client token for this service's client id.
async fn app(ClientToken(claims): ClientToken) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "sub": claims.sub,
        "client_id": claims.client_id,
        "scope": claims.scope,
    }))
}

/// The scope `/contact` needs.
struct EmailScope;

impl RequiredScope for EmailScope {
    const SCOPE: &'static str = "email";
}

/// Only for a client token with the scope `email`: 403 `Missing scope` otherwise.
async fn contact(ScopedToken(claims, _): ScopedToken<EmailScope>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "sub": claims.sub, "scope": claims.scope }))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = VerifierConfig {
        issuer: std::env::var("GATEHOUSE_JWT_ISSUER").ok(),
        audience: std::env::var("GATEHOUSE_JWT_AUDIENCE").ok(),
    };
    let verifier = match (
        std::env::var("GATEHOUSE_JWKS_URL"),
        std::env::var("GATEHOUSE_JWT_SECRET"),
    ) {
        (Ok(url), _) => Verifier::from_jwks_url(url, config).await?,
        (_, Ok(secret)) => {
            Verifier::from_secret(SigningAlgorithm::HS256, secret.as_bytes(), config)?
        }
        _ => return Err("set GATEHOUSE_JWKS_URL or GATEHOUSE_JWT_SECRET".into()),
    };
    let verifier = web::Data::new(verifier);
    let audience = web::Data::new(ClientAudience(
        std::env::var("GATEHOUSE_CLIENT_ID").unwrap_or_default(),
    ));
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(audience.clone())
            .route("/hello", web::get().to(hello))
            .route("/sensitive", web::get().to(sensitive))
            .route("/staff", web::get().to(staff))
            .route("/app", web::get().to(app))
            .route("/contact", web::get().to(contact))
    })
    .workers(1)
    .bind(&listen)?;
    for address in server.addrs() {
        println!("listening on http://{address}");
    }
    server.run().await?;
    Ok(())
}
