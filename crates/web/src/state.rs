use gatehouse_app::{AccountOptions, LoginCounter, Providers, Services};
use gatehouse_auth::{JwtCodec, Passkeys, PasswordHasher, SecretSealer};
use gatehouse_domain::RefreshPolicy;
use gatehouse_mail::Mailer;
use gatehouse_persistence::{BackoffThresholds, DatabaseConnection, SessionCache};

use crate::{
    cookies::TokenLocation,
    metrics::{Metrics, NAMESPACE},
    rate_limit::{IpRateLimiter, RateLimitOptions},
};

/// Body size limit when none is configured.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// How refresh tokens rotate and how replays are told apart (see `/auth/refresh`).
    pub refresh: RefreshPolicy,
    /// Largest accepted request body, bytes (413 above).
    pub max_body_bytes: usize,
    /// Where tokens are read from, and whether token answers also set cookies.
    pub token_location: TokenLocation,
    /// Whether cookies carry `Secure` (only `false` for local development over http).
    pub cookie_secure: bool,
    /// Account mails and verification.
    pub accounts: AccountOptions,
    /// Per-IP limits and the per-account login back-off.
    pub rate_limits: RateLimitOptions,
    /// Origins that may have cookies set from credentials (this server's own and the
    /// `CORS_ORIGINS`), as browsers write them in `Origin`.
    pub trusted_origins: Vec<String>,
    /// `UI_ENABLED`: serve the pages for browsers.
    pub ui_enabled: bool,
    /// How long verifiers may cache the JWK set, seconds: half of `KEY_PUBLISH_AHEAD_MIN`
    /// (at most five minutes), so that a key is learnt before it signs.
    pub jwks_max_age_seconds: u32,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            refresh: RefreshPolicy::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            token_location: TokenLocation::HEADERS,
            cookie_secure: true,
            accounts: AccountOptions::default(),
            rate_limits: RateLimitOptions::default(),
            trusted_origins: vec!["http://127.0.0.1:8000".into()],
            ui_enabled: true,
            jwks_max_age_seconds: 300,
        }
    }
}

/// What handlers share: the flows' [`Services`] (reached through `Deref`: `state.users`
/// is the services' repository) and what only HTTP needs — the per-IP limiter, the HTTP
/// settings and the metrics registry.
#[derive(Clone)]
pub struct AppState {
    /// What the flows stand on.
    pub services: Services,
    /// The per-IP budget of the credential routes.
    pub ip_limiter: IpRateLimiter,
    /// HTTP-level settings.
    pub options: WebOptions,
    /// Prometheus registry and counters.
    pub metrics: Metrics,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl AppState {
    /// Wires the flows' services over `db` (sharing `session_cache`, which the
    /// repositories keep in step with their changes) with the hasher, codec, mailer, rate
    /// limiter, options and metrics, and starts the account-mail task (so: call it inside a
    /// Tokio runtime).
    #[allow(
        clippy::too_many_arguments,
        reason = "one value per service the state wires together"
    )]
    pub fn new(
        db: DatabaseConnection,
        session_cache: SessionCache,
        hasher: PasswordHasher,
        jwt: JwtCodec,
        mailer: Mailer,
        ip_limiter: IpRateLimiter,
        sealer: SecretSealer,
        webauthn: Passkeys,
        options: WebOptions,
    ) -> Result<Self, prometheus::Error> {
        let logins = LoginCounter::new(NAMESPACE)?;
        let metrics = Metrics::new(hasher.clone(), session_cache.clone(), &logins)?;
        let limits = &options.rate_limits;
        let backoff = limits.enabled.then_some(BackoffThresholds {
            per_network: limits.failures_before_backoff,
            account_wide: limits.failures_account_wide,
        });
        let services = Services::new(
            db,
            session_cache,
            hasher,
            jwt,
            mailer,
            sealer,
            webauthn,
            options.accounts.clone(),
            backoff,
            logins,
        );
        Ok(Self {
            services,
            ip_limiter,
            options,
            metrics,
        })
    }

    /// The same state signing as an OpenID Provider with `key` (`None`: no provider),
    /// its issuer `PUBLIC_URL`.
    pub fn with_provider_key(
        self,
        key: Option<gatehouse_auth::SigningKey>,
    ) -> Result<Self, gatehouse_auth::AuthError> {
        let issuer = self.options.accounts.public_url.clone();
        Ok(Self {
            services: self.services.with_provider(key, &issuer)?,
            ..self
        })
    }

    /// The same state as an OpenID Provider signing with the keys of `ring` (managed keys).
    pub fn with_provider_ring(
        self,
        ring: gatehouse_auth::KeyRing,
    ) -> Result<Self, gatehouse_auth::AuthError> {
        let issuer = self.options.accounts.public_url.clone();
        Ok(Self {
            services: self.services.with_provider_ring(ring, &issuer)?,
            ..self
        })
    }

    /// The same state with `providers` to sign in with.
    pub fn with_providers(self, providers: Providers) -> Self {
        Self {
            services: self.services.with_providers(providers),
            ..self
        }
    }
}
