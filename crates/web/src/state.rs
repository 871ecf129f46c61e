use gatehouse_auth::{JwtCodec, Passkeys, PasswordHasher, SecretSealer};
use gatehouse_domain::RefreshPolicy;
use gatehouse_mail::Mailer;
use gatehouse_persistence::{
    AuditRepository, DatabaseConnection, IdentityRepository, LoginThrottleRepository,
    MailCooldownRepository, MfaRepository, OneTimeTokenRepository, PasskeyRepository, SessionCache,
    SessionRepository, UserRepository,
};

use crate::{
    account::mail_worker::{AccountMails, AccountOptions},
    cookies::TokenLocation,
    federation::Providers,
    operations::metrics::Metrics,
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
        }
    }
}

/// What handlers share: repositories, hasher, token codec and options.
#[derive(Clone)]
pub struct AppState {
    /// Accounts.
    pub users: UserRepository,
    /// Login sessions.
    pub sessions: SessionRepository,
    /// Single-use tokens of reset and verification mails.
    pub one_time_tokens: OneTimeTokenRepository,
    /// Prepares and sends account mails off the request path.
    pub account_mails: AccountMails,
    /// The per-IP budget of the credential routes.
    pub ip_limiter: IpRateLimiter,
    /// Failed logins per address, for the back-off.
    pub login_throttles: LoginThrottleRepository,
    /// The audit log.
    pub audit: AuditRepository,
    /// Second factors and logins waiting for their second step.
    pub mfa: MfaRepository,
    /// Seals and opens TOTP secrets (`MFA_ENCRYPTION_KEY`).
    pub sealer: SecretSealer,
    /// Passkeys and their unfinished ceremonies.
    pub passkeys: PasskeyRepository,
    /// The relying party's WebAuthn ceremonies (`WEBAUTHN_RP_ID`, `WEBAUTHN_ORIGINS`).
    pub webauthn: Passkeys,
    /// Identities at other providers, and sign-ins sent to one.
    pub identities: IdentityRepository,
    /// The configured OpenID Providers (`OIDC_PROVIDERS`); none until
    /// [`with_providers`](Self::with_providers).
    pub providers: Providers,
    /// Argon2 on its own bounded threads.
    pub hasher: PasswordHasher,
    /// Token issue and verification.
    pub jwt: JwtCodec,
    /// The pool, for readiness checks.
    pub db: DatabaseConnection,
    /// HTTP-level settings.
    pub options: WebOptions,
    /// Prometheus registry and counters.
    pub metrics: Metrics,
}

impl AppState {
    /// Wires repositories over `db` (sharing `session_cache`, which they keep in step with
    /// their changes) with the hasher, codec, mailer, rate limiter, options and metrics, and
    /// starts the account-mail task (so: call it inside a Tokio runtime).
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
        let metrics = Metrics::new(hasher.clone(), session_cache.clone())?;
        let users = UserRepository::new(db.clone()).with_session_cache(session_cache.clone());
        let one_time_tokens = OneTimeTokenRepository::new(db.clone());
        let audit = AuditRepository::new(db.clone());
        let account_mails = AccountMails::start(
            users.clone(),
            one_time_tokens.clone(),
            MailCooldownRepository::new(db.clone()),
            audit.clone(),
            mailer,
            options.accounts.clone(),
        );
        Ok(Self {
            ip_limiter,
            login_throttles: LoginThrottleRepository::new(db.clone()),
            audit,
            mfa: MfaRepository::new(db.clone()).with_session_cache(session_cache.clone()),
            sealer,
            passkeys: PasskeyRepository::new(db.clone()).with_session_cache(session_cache.clone()),
            webauthn,
            identities: IdentityRepository::new(db.clone())
                .with_session_cache(session_cache.clone()),
            providers: Providers::default(),
            users,
            sessions: SessionRepository::new(db.clone()).with_session_cache(session_cache),
            one_time_tokens,
            account_mails,
            hasher,
            jwt,
            db,
            options,
            metrics,
        })
    }

    /// The same state with `providers` to sign in with.
    pub fn with_providers(self, providers: Providers) -> Self {
        Self { providers, ..self }
    }
}
