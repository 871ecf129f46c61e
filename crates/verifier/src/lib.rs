//! Protect actix-web routes with Gatehouse access tokens.
//!
//! Put a [`Verifier`] in the app data and take a [`VerifiedToken`] in a handler's
//! signature: the handler runs only for a request with a valid access token in
//! `Authorization: Bearer …`; every other request gets a 401 problem document with a
//! `WWW-Authenticate: Bearer` challenge, like Gatehouse's own.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use gatehouse_verifier::{VerifiedToken, Verifier, VerifierConfig};
//!
//! async fn hello(token: VerifiedToken) -> String {
//!     format!("hello, {}", token.0.user_id)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::from_jwks_url(
//!     "https://auth.example.com/.well-known/jwks.json",
//!     VerifierConfig::default(),
//! )
//! .await?;
//! let verifier = web::Data::new(verifier);
//! HttpServer::new(move || App::new().app_data(verifier.clone()).route("/hello", web::get().to(hello)))
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Services that gatehouse signs users in to as an OpenID Provider take
//! [`ClientToken`] (an access token issued to their client id, named by a
//! `web::Data<ClientAudience>`) or [`ScopedToken`] (one that also carries a scope, declared
//! by a type implementing [`RequiredScope`]: 403 `Missing scope` without it).
//!
//! A route that needs a role of the account (made and granted in gatehouse by a
//! superuser) takes [`RoleToken`], the role declared by a type implementing
//! [`RequiredRole`]: 403 `Missing role` without it. A token carries the roles of when it
//! was issued; a revocation shows from its next refresh, so a route that must see one at
//! once wants a short access lifetime.
//!
//! Tokens are checked locally (signature, algorithm, expiry, type, issuer and audience),
//! with no call to Gatehouse per request. The price: a token of a session that was logged
//! out stays valid here until it expires (`ACCESS_TOKEN_EXPIRES_MIN`, 15 minutes by
//! default). Routes that must see a logout at once ask Gatehouse's `/users/me` instead.

mod extract;
mod jwks;

pub use extract::{
    Aal2Token, ClientAudience, ClientToken, RequiredRole, RequiredScope, RoleToken, ScopedToken,
    VerifiedToken, VerifyError,
};
pub use gatehouse_auth::{
    Aal, AccessClaims, ClientAccessClaims, SigningAlgorithm, TokenError, TokenVerifier,
    VerifierConfig,
};
pub use jwks::{DEFAULT_MIN_REFETCH_INTERVAL, JwksError, JwksVerifier};

/// How tokens are verified: with the shared secret, or with Gatehouse's published keys.
#[derive(Debug)]
pub enum Verifier {
    /// A fixed verifier (shared HMAC secret, or a key set read once).
    Static(TokenVerifier),
    /// Gatehouse's JWK set, fetched from its URL and fetched again when a token names a
    /// key it does not have.
    Remote(JwksVerifier),
}

impl Verifier {
    /// A verifier with the shared secret of an HMAC algorithm (`JWT_SECRET_KEY`).
    pub fn from_secret(
        algorithm: SigningAlgorithm,
        secret: &[u8],
        config: VerifierConfig,
    ) -> Result<Self, gatehouse_auth::AuthError> {
        TokenVerifier::from_secret(algorithm, secret, config).map(Self::Static)
    }

    /// A verifier for the key set at `url` (`…/.well-known/jwks.json`), fetched now.
    pub async fn from_jwks_url(
        url: impl Into<String>,
        config: VerifierConfig,
    ) -> Result<Self, JwksError> {
        JwksVerifier::fetch(url, config).await.map(Self::Remote)
    }

    /// Verifies an access token.
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        match self {
            Self::Static(verifier) => verifier.verify_access(token),
            Self::Remote(verifier) => verifier.verify_access(token).await,
        }
    }

    /// Verifies an access token gatehouse issued, as an OpenID Provider, to the client
    /// `audience` (`typ` `at+jwt`).
    pub async fn verify_client_access(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<ClientAccessClaims, TokenError> {
        match self {
            Self::Static(verifier) => verifier.verify_client_access(token, audience),
            Self::Remote(verifier) => verifier.verify_client_access(token, audience).await,
        }
    }
}
