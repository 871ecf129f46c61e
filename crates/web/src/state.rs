use gatehouse_auth::{JwtCodec, PasswordHasher};
use gatehouse_domain::RefreshPolicy;
use gatehouse_persistence::{DatabaseConnection, SessionRepository, UserRepository};

use crate::{cookies::TokenLocation, metrics::Metrics};

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
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            refresh: RefreshPolicy::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            token_location: TokenLocation::HEADERS,
            cookie_secure: true,
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
    /// Argon2 on the bounded blocking pool.
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
    /// Wires repositories over `db` with the hasher, codec, options and metrics.
    pub fn new(
        db: DatabaseConnection,
        hasher: PasswordHasher,
        jwt: JwtCodec,
        options: WebOptions,
    ) -> Result<Self, prometheus::Error> {
        let metrics = Metrics::new(hasher.clone())?;
        Ok(Self {
            users: UserRepository::new(db.clone()),
            sessions: SessionRepository::new(db.clone()),
            hasher,
            jwt,
            db,
            options,
            metrics,
        })
    }
}
