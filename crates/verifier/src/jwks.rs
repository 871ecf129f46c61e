//! A key set fetched over HTTP, and fetched again when the issuer's key changes.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use gatehouse_auth::{AccessClaims, ClientAccessClaims, TokenError, TokenVerifier, VerifierConfig};

/// The default shortest time between two fetches caused by unknown key ids: tokens naming
/// random `kid`s must not turn into a flood of requests to the issuer.
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How many redirects a fetch follows (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// Why the key set could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The request failed or the answer was not 200.
    #[error("cannot fetch the JWK set from {url}")]
    Fetch {
        /// Where from.
        url: String,
        /// The HTTP failure.
        #[source]
        source: reqwest::Error,
    },
    /// The URL is plain `http://` to a host that is not this machine: anyone on the path
    /// could hand over keys of their own and sign tokens with them.
    #[error(
        "refusing to fetch the JWK set from {url}: use https (plain http only for a loopback host, or with JwksVerifier::fetch_over_plain_http)"
    )]
    InsecureUrl {
        /// The refused URL.
        url: String,
    },
    /// The answer is not a usable JWK set.
    #[error("the JWK set from {url} is not usable")]
    Keys {
        /// Where from.
        url: String,
        /// What is wrong with it.
        #[source]
        source: gatehouse_auth::AuthError,
    },
}

/// Verifies access tokens with the key set published at a URL.
pub struct JwksVerifier {
    url: String,
    config: VerifierConfig,
    client: reqwest::Client,
    current: RwLock<Arc<TokenVerifier>>,
    /// When the set was last fetched; one refetch at a time.
    last_fetch: tokio::sync::Mutex<Instant>,
    min_refetch_interval: Duration,
}

impl std::fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksVerifier {
    /// Fetches the key set at `url` and builds a verifier from it. The URL must be
    /// `https://`, or `http://` to a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`).
    pub async fn fetch(url: impl Into<String>, config: VerifierConfig) -> Result<Self, JwksError> {
        let url = url.into();
        if !is_https_or_loopback(&url) {
            return Err(JwksError::InsecureUrl { url });
        }
        // Nor may a redirect lead to plain http elsewhere.
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if is_https_or_loopback(attempt.url().as_str()) {
                attempt.follow()
            } else {
                attempt.error("redirected to plain http")
            }
        });
        Self::fetch_with(url, config, policy).await
    }

    /// [`fetch`](Self::fetch) without the https rule: for a key set on a network the
    /// caller trusts not to rewrite answers (a sidecar, a private link). Whoever can change
    /// the answer on the way can sign tokens this verifier accepts.
    pub async fn fetch_over_plain_http(
        url: impl Into<String>,
        config: VerifierConfig,
    ) -> Result<Self, JwksError> {
        let policy = reqwest::redirect::Policy::limited(MAX_REDIRECTS);
        Self::fetch_with(url.into(), config, policy).await
    }

    async fn fetch_with(
        url: String,
        config: VerifierConfig,
        redirects: reqwest::redirect::Policy,
    ) -> Result<Self, JwksError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(redirects)
            .build()
            .map_err(|source| JwksError::Fetch {
                url: url.clone(),
                source,
            })?;
        let verifier = load(&client, &url, &config).await?;
        Ok(Self {
            url,
            config,
            client,
            current: RwLock::new(Arc::new(verifier)),
            last_fetch: tokio::sync::Mutex::new(Instant::now()),
            min_refetch_interval: DEFAULT_MIN_REFETCH_INTERVAL,
        })
    }

    /// Changes how soon after a fetch an unknown key id may cause another one.
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// Verifies an access token. A token naming an unknown key makes the verifier fetch
    /// the set again (at most once per interval, 10 seconds by default) and retry once: that is how a key
    /// rotation at the issuer reaches its verifiers.
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        match self.snapshot().verify_access(token) {
            Err(TokenError::UnknownKey) => {
                self.refetch().await;
                self.snapshot().verify_access(token).map_err(|e| match e {
                    TokenError::UnknownKey => TokenError::Invalid,
                    other => other,
                })
            }
            other => other,
        }
    }

    /// Verifies a client access token for `audience`, fetching the set again for an
    /// unknown key id as [`verify_access`](Self::verify_access) does.
    pub async fn verify_client_access(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<ClientAccessClaims, TokenError> {
        match self.snapshot().verify_client_access(token, audience) {
            Err(TokenError::UnknownKey) => {
                self.refetch().await;
                self.snapshot()
                    .verify_client_access(token, audience)
                    .map_err(|e| match e {
                        TokenError::UnknownKey => TokenError::Invalid,
                        other => other,
                    })
            }
            other => other,
        }
    }

    fn snapshot(&self) -> Arc<TokenVerifier> {
        // A poisoned lock only means a writer panicked between two complete values.
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard)
    }

    async fn refetch(&self) {
        let mut last_fetch = self.last_fetch.lock().await;
        if last_fetch.elapsed() < self.min_refetch_interval {
            return;
        }
        *last_fetch = Instant::now();
        match load(&self.client, &self.url, &self.config).await {
            Ok(verifier) => {
                let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
                *current = Arc::new(verifier);
                tracing::info!(url = %self.url, "JWK set fetched again after an unknown key id");
            }
            Err(e) => tracing::warn!(url = %self.url, error = %e, "JWK set refetch failed"),
        }
    }
}

/// `https://…`, or `http://` to a loopback host.
fn is_https_or_loopback(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        // Not a URL: the fetch will say so.
        return true;
    };
    match parsed.scheme() {
        "https" => true,
        "http" => parsed.host_str().is_some_and(|host| {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }),
        _ => false,
    }
}

async fn load(
    client: &reqwest::Client,
    url: &str,
    config: &VerifierConfig,
) -> Result<TokenVerifier, JwksError> {
    let fetch_error = |source| JwksError::Fetch {
        url: url.to_owned(),
        source,
    };
    let body = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(fetch_error)?
        .bytes()
        .await
        .map_err(fetch_error)?;
    TokenVerifier::from_jwks_json(&body, config).map_err(|source| JwksError::Keys {
        url: url.to_owned(),
        source,
    })
}
