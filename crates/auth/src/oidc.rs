//! Signing in with another OpenID Provider (the authorization code flow with PKCE), over
//! the `openidconnect` crate: discovery, the authorization URL with `state`, `nonce` and an
//! S256 challenge, the code exchanged with the client secret and the verifier, and the ID
//! token checked (signature by the provider's JWKS, `iss`, `aud`, `azp`, `exp`, `iat`,
//! `nonce`).
//!
//! The provider's document is fetched at the first sign-in (a provider that is down does
//! not stop the server starting) and kept; its keys are fetched again when a token names a
//! key they do not hold, at most once a minute (a provider rotating its keys is followed,
//! a flood of forged `kid`s does not turn into a flood of fetches).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    core::{
        CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreIdTokenVerifier,
        CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    },
};
use tokio::sync::RwLock;

/// How often, at most, the provider's keys are fetched again for an unknown key id.
const KEYS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How far an ID token's `iat` may lie in the future (clocks differ) or in the past.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
const MAX_TOKEN_AGE: chrono::Duration = chrono::Duration::minutes(10);

/// One provider, as configured.
#[derive(Clone)]
pub struct OidcProviderConfig {
    /// The name in the routes (`/auth/oidc/{name}/…`) and in identities' `provider`.
    pub name: String,
    /// What the sign-in button says.
    pub label: String,
    /// The issuer, whose `/.well-known/openid-configuration` is read.
    pub issuer: String,
    /// The client registered at the provider.
    pub client_id: String,
    /// Its secret (sent at the code exchange).
    pub client_secret: String,
    /// Asked for at the provider (`openid` is always asked for).
    pub scopes: Vec<String>,
    /// Where the provider sends the browser back: `{PUBLIC_URL}/auth/oidc/{name}/callback`.
    pub redirect_url: String,
}

impl std::fmt::Debug for OidcProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviderConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("scopes", &self.scopes)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in with a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The configuration cannot work (an issuer or redirect URL that is not a URL).
    #[error("provider configuration: {0}")]
    Config(String),
    /// The provider could not be asked (down, or its document unreadable).
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    /// The provider refused the code (unknown, used, or its PKCE verifier wrong).
    #[error("code exchange refused: {0}")]
    Exchange(String),
    /// The ID token did not pass a check.
    #[error("ID token refused: {0}")]
    IdToken(String),
}

/// What the browser is sent to, and what must be kept to finish.
pub struct AuthorizationStart {
    /// The provider's authorization URL, with every parameter.
    pub url: String,
    /// The `state` parameter (single use; the caller keeps its hash).
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier the code exchange must present.
    pub pkce_verifier: String,
}

/// Who the provider says signed in, after every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// `iss`.
    pub issuer: String,
    /// `sub`: with `iss`, who this is, for good.
    pub subject: String,
    /// `email`, when the provider gives one.
    pub email: Option<String>,
    /// Only `email_verified: true` counts; absent is false.
    pub email_verified: bool,
}

/// The provider's document as last fetched, and when its keys were last fetched again.
struct Discovered {
    metadata: CoreProviderMetadata,
    keys_refetched_at: Option<Instant>,
}

/// A configured provider.
pub struct OidcProvider {
    config: OidcProviderConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    discovered: RwLock<Option<Discovered>>,
}

impl OidcProvider {
    /// The provider of `config`; `http` must not follow redirects (against SSRF by
    /// redirect).
    pub fn new(config: OidcProviderConfig, http: reqwest::Client) -> Result<Self, OidcError> {
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|error| OidcError::Config(format!("issuer: {error}")))?;
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|error| OidcError::Config(format!("redirect URL: {error}")))?;
        Ok(Self {
            config,
            issuer,
            redirect,
            http,
            discovered: RwLock::new(None),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &OidcProviderConfig {
        &self.config
    }

    /// The provider's document, fetched at the first call.
    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        if let Some(found) = self.discovered.read().await.as_ref() {
            return Ok(found.metadata.clone());
        }
        let mut slot = self.discovered.write().await;
        if let Some(found) = slot.as_ref() {
            return Ok(found.metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|error| OidcError::Unreachable(error_chain(&error)))?;
        *slot = Some(Discovered {
            metadata: metadata.clone(),
            keys_refetched_at: None,
        });
        Ok(metadata)
    }

    /// Starts a sign-in: the URL to send the browser to, and what to keep.
    pub async fn start(&self) -> Result<AuthorizationStart, OidcError> {
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.url();
        Ok(AuthorizationStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: exchanges `code` (with the client secret and `pkce_verifier`)
    /// and checks the ID token against `nonce`.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdentity, OidcError> {
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| OidcError::Config(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|error| OidcError::Exchange(error_chain(&error)))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::IdToken("no ID token in the answer".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims = match id_token.claims(&pinned(client.id_token_verifier()), &nonce) {
            Ok(claims) => claims.clone(),
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                // A key the provider may have added since: fetch its keys again, at most
                // once a minute, and check once more.
                let metadata = self.refetch_keys().await?;
                let client = CoreClient::from_provider_metadata(
                    metadata,
                    ClientId::new(self.config.client_id.clone()),
                    Some(ClientSecret::new(self.config.client_secret.clone())),
                );
                id_token
                    .claims(&pinned(client.id_token_verifier()), &nonce)
                    .map_err(|error| OidcError::IdToken(error_chain(&error)))?
                    .clone()
            }
            Err(error) => return Err(OidcError::IdToken(error_chain(&error))),
        };
        self.check_claims(&claims, now)
    }

    /// What the crate's verifier leaves to the caller: `azp` (when present, this client),
    /// and `iat` (not in the future, not too old).
    fn check_claims(
        &self,
        claims: &CoreIdTokenClaims,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdentity, OidcError> {
        if let Some(party) = claims.authorized_party()
            && party.as_str() != self.config.client_id
        {
            return Err(OidcError::IdToken(format!(
                "azp {} is not this client",
                party.as_str()
            )));
        }
        let issued = claims.issue_time();
        if issued > now + CLOCK_SKEW || issued < now - MAX_TOKEN_AGE {
            return Err(OidcError::IdToken(format!("iat {issued} is not recent")));
        }
        Ok(VerifiedIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|email| email.as_str().to_owned()),
            email_verified: claims.email_verified() == Some(true),
        })
    }

    /// The provider's keys fetched again, unless that was done less than a minute ago.
    async fn refetch_keys(&self) -> Result<CoreProviderMetadata, OidcError> {
        let mut slot = self.discovered.write().await;
        let Some(found) = slot.as_mut() else {
            return Err(OidcError::IdToken("no provider document".into()));
        };
        if found
            .keys_refetched_at
            .is_some_and(|at| at.elapsed() < KEYS_REFETCH_INTERVAL)
        {
            return Err(OidcError::IdToken(
                "the token names an unknown key (keys fetched again less than a minute ago)".into(),
            ));
        }
        found.keys_refetched_at = Some(Instant::now());
        let keys = CoreJsonWebKeySet::fetch_async(found.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|error| OidcError::Unreachable(error_chain(&error)))?;
        found.metadata = found.metadata.clone().set_jwks(keys);
        Ok(found.metadata.clone())
    }
}

/// The verifier with asymmetric algorithms only: a provider's document may list HS256,
/// which would make the client secret (known to the provider and to us) a signing key.
fn pinned(verifier: CoreIdTokenVerifier<'_>) -> CoreIdTokenVerifier<'_> {
    use CoreJwsSigningAlgorithm as A;
    verifier.set_allowed_algs([
        A::RsaSsaPkcs1V15Sha256,
        A::RsaSsaPkcs1V15Sha384,
        A::RsaSsaPkcs1V15Sha512,
        A::RsaSsaPssSha256,
        A::RsaSsaPssSha384,
        A::RsaSsaPssSha512,
        A::EcdsaP256Sha256,
        A::EcdsaP384Sha384,
        A::EcdsaP521Sha512,
        A::EdDsa,
    ])
}

/// An error and its sources, on one line (the crate's errors say little at the top).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
