//! Configuration: built-in defaults, then an optional `.env` file, then the process
//! environment (which wins), layered with the `config` crate and read once at start.
//!
//! Variable names are the Python starter's (`JWT_SECRET_KEY`, `DATABASE_URL`, …) so its
//! `.env` works unchanged. Every value is checked here, and a bad one is reported as a
//! single line naming the variable; the libraries receive typed settings by value.

use std::{collections::HashMap, fmt, path::Path, time::Duration};

use sources::{describe_config_error, layer, read_dotenv};

use config::Config;
use gatehouse_auth::{HasherConfig, JwtConfig, MfaKey, PasskeyConfig};
use gatehouse_mail::MailConfig;
use gatehouse_persistence::{DatabaseConfig, DatabaseKind};
use gatehouse_web::{WebOptions, cookies::TokenLocation};

mod auth;
mod federation;
mod keys;
mod sources;
mod storage;
mod web;

use serde::Deserialize;

/// Shortest HMAC secret accepted in production (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// A configuration problem, phrased for one line on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct SettingsError {
    /// The environment variable at fault.
    pub variable: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl SettingsError {
    fn new(variable: &str, message: impl fmt::Display) -> Self {
        Self {
            variable: variable.to_owned(),
            message: message.to_string(),
        }
    }
}

/// Where the service runs; production refuses unsafe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local work: random secret if none is set, warnings instead of refusals.
    Development,
    /// Strict: a real secret is required.
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the server needs, checked and typed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_NAME`: logs and the OpenAPI title.
    pub app_name: String,
    /// `APP_ENV`.
    pub app_env: AppEnv,
    /// `APP_DEBUG`: debug-level logs.
    pub debug: bool,
    /// `APP_HOST`.
    pub host: String,
    /// `APP_PORT` (0 picks a free port).
    pub port: u16,
    /// `APP_WORKERS`: HTTP worker threads; `None` = one per core.
    pub workers: Option<usize>,
    /// `DATABASE_*`.
    pub database: DatabaseConfig,
    /// `MIGRATE_ON_START`.
    pub migrate_on_start: bool,
    /// `JWT_*`, `*_TOKEN_EXPIRES_*`.
    pub jwt: JwtConfig,
    /// Set when no `JWT_SECRET_KEY` was given and a random one was made.
    pub jwt_secret_generated: bool,
    /// Set when the HMAC secret is shorter than [`MIN_SECRET_BYTES`] (allowed outside
    /// production, with a warning).
    pub jwt_secret_weak: bool,
    /// `ARGON2_*`, `HASHING_CONCURRENCY`, `HASHING_MAX_WAIT_S`.
    pub hasher: HasherConfig,
    /// `MFA_ENCRYPTION_KEY`: seals TOTP secrets at rest.
    pub mfa_key: MfaKey,
    /// `MFA_ENCRYPTION_KEY_PREVIOUS`: the key before a rotation, still used to open what
    /// it sealed (and to find recovery codes hashed under it).
    pub mfa_previous_key: Option<MfaKey>,
    /// Set when no key was given and nothing to derive one from: a random key for this
    /// run (TOTP set up now stops working at the next start).
    pub mfa_key_generated: bool,
    /// `REFRESH_TOKEN_ROTATION`, `REFRESH_REUSE_GRACE_S`, `MAX_BODY_BYTES`.
    pub web: WebOptions,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `CORS_ORIGINS`: browser origins allowed to call the API with credentials.
    pub cors_origins: Vec<String>,
    /// `MAIL_TRANSPORT`, `MAIL_FROM`.
    pub mail: MailConfig,
    /// `SESSION_RETENTION_DAYS`: how long ended sessions are kept before the purge.
    pub session_retention: chrono::Duration,
    /// `AUDIT_RETENTION_DAYS`: how long audit events are kept before the purge.
    pub audit_retention: chrono::Duration,
    /// `PURGE_INTERVAL_MIN`: how often housekeeping runs; `None` = never (0).
    pub purge_interval: Option<Duration>,
    /// `METRICS_ADDR`: a separate `host:port` for `/metrics` (then not on the public port).
    pub metrics_addr: Option<String>,
    /// `WEBAUTHN_RP_ID`, `WEBAUTHN_ORIGINS` (from `PUBLIC_URL` by default): the relying
    /// party passkeys are made for.
    pub passkeys: PasskeyConfig,
    /// `OIDC_PROVIDERS` and their `OIDC_<NAME>_*`: other providers to sign in with.
    pub oidc_providers: Vec<gatehouse_auth::OidcProviderConfig>,
    /// The key gatehouse signs with as an OpenID Provider for other apps: the JWT key when
    /// `JWT_ALGORITHM` is asymmetric, else `OIDC_SIGNING_KEY_FILE`'s, else (development
    /// only) one generated for this run. `None`: the provider's routes are not served.
    pub provider_key: Option<gatehouse_auth::SigningKey>,
    /// Whether `provider_key` was generated for this run (a warning at start).
    pub provider_key_generated: bool,
    /// `SIGNING_KEYS=managed` (with `KEY_PUBLISH_AHEAD_MIN`, `KEY_ROTATION_DAYS`,
    /// `KEY_CHECK_INTERVAL_S`): the keys are the database's, read at start, and `jwt.key`
    /// is only a stand-in until then; the OpenID Provider signs with them too.
    pub managed_keys: Option<gatehouse_app::keys::ManagedKeysConfig>,
    /// How many sessions the in-process cache holds (Postgres only, where LISTEN/NOTIFY
    /// keeps it in step): `SESSION_CACHE_SIZE`, or as many as `SESSION_CACHE_MEMORY_MB`
    /// holds; 0 turns it off.
    pub session_cache_size: usize,
}

/// The raw layer: names as `config` lower-cases them from the environment.
#[derive(Debug, Deserialize)]
struct Raw {
    app_name: String,
    app_env: String,
    app_debug: bool,
    app_host: String,
    app_port: u16,
    app_workers: Option<usize>,
    database_url: String,
    database_max_connections: u32,
    database_min_connections: Option<u32>,
    database_acquire_timeout_s: u64,
    migrate_on_start: bool,
    jwt_secret_key: Option<String>,
    jwt_algorithm: String,
    mfa_encryption_key: Option<String>,
    mfa_encryption_key_previous: Option<String>,
    webauthn_rp_id: Option<String>,
    webauthn_origins: Option<String>,
    jwt_private_key_file: Option<String>,
    jwt_public_key_file: Option<String>,
    jwt_previous_public_key_files: Option<String>,
    jwt_secret_key_previous: Option<String>,
    oidc_signing_key_file: Option<String>,
    signing_keys: String,
    key_publish_ahead_min: u32,
    key_rotation_days: u32,
    key_check_interval_s: u64,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    access_token_expires_min: i64,
    refresh_token_expires_days: i64,
    refresh_token_rotation: String,
    refresh_reuse_grace_s: u32,
    jwt_token_location: String,
    cookie_secure: bool,
    cors_origins: Option<String>,
    mail_transport: String,
    mail_from: String,
    public_url: String,
    reset_token_expires_min: i64,
    verify_token_expires_hours: i64,
    require_verified_email: bool,
    argon2_memory_kib: u32,
    argon2_iterations: u32,
    argon2_parallelism: u32,
    hashing_concurrency: Option<usize>,
    hashing_max_wait_s: u64,
    rate_limit_enabled: bool,
    rate_limit_login_per_min: u32,
    login_failures_before_backoff: u32,
    login_failures_account_wide: u32,
    trusted_proxies: Option<String>,
    rate_limit_store: String,
    session_retention_days: i64,
    audit_retention_days: i64,
    metrics_addr: Option<String>,
    purge_interval_min: u64,
    session_cache_size: Option<usize>,
    session_cache_memory_mb: usize,
    max_body_bytes: usize,
    log_format: String,
    ui_enabled: bool,
}

const DEFAULTS: &[(&str, &str)] = &[
    ("app_name", "AuthX Starter"),
    ("app_env", "development"),
    ("app_debug", "false"),
    ("app_host", "127.0.0.1"),
    ("app_port", "8000"),
    ("database_url", "sqlite://data/app.db?mode=rwc"),
    ("database_max_connections", "16"),
    ("database_acquire_timeout_s", "3"),
    ("migrate_on_start", "true"),
    ("jwt_algorithm", "HS256"),
    ("signing_keys", "files"),
    ("key_publish_ahead_min", "10"),
    ("key_rotation_days", "90"),
    ("key_check_interval_s", "30"),
    ("access_token_expires_min", "15"),
    ("refresh_token_expires_days", "7"),
    ("refresh_token_rotation", "auto"),
    ("refresh_reuse_grace_s", "10"),
    ("jwt_token_location", "headers"),
    ("cookie_secure", "true"),
    ("mail_transport", "log"),
    ("mail_from", "no-reply@localhost"),
    ("public_url", "http://127.0.0.1:8000"),
    ("reset_token_expires_min", "30"),
    ("verify_token_expires_hours", "24"),
    ("require_verified_email", "false"),
    ("rate_limit_enabled", "true"),
    ("rate_limit_store", "memory"),
    ("rate_limit_login_per_min", "10"),
    ("login_failures_before_backoff", "5"),
    ("login_failures_account_wide", "50"),
    ("session_retention_days", "30"),
    ("audit_retention_days", "365"),
    ("purge_interval_min", "60"),
    ("session_cache_memory_mb", "64"),
    ("argon2_memory_kib", "65536"),
    ("hashing_max_wait_s", "10"),
    ("argon2_iterations", "3"),
    ("argon2_parallelism", "4"),
    ("max_body_bytes", "65536"),
    ("log_format", "text"),
    ("ui_enabled", "true"),
];

impl Settings {
    /// Reads `.env` in the working directory (if present) and the process environment.
    pub fn from_environment() -> Result<Self, SettingsError> {
        let dotenv = read_dotenv(Path::new(".env"))?;
        let environment: HashMap<String, String> = std::env::vars().collect();
        Self::from_layers(dotenv, environment)
    }

    /// Builds settings from a `.env` layer and an environment layer (the latter wins).
    /// Tests use this to configure the server without touching the process environment.
    pub fn from_layers(
        dotenv: HashMap<String, String>,
        environment: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let mut builder = Config::builder();
        for (key, value) in DEFAULTS {
            builder = builder
                .set_default(*key, *value)
                .map_err(|e| SettingsError::new(&key.to_uppercase(), e))?;
        }
        let federation_values = federation::federation_values(&[&dotenv, &environment]);
        let raw: Raw = builder
            .add_source(layer(dotenv))
            .add_source(layer(environment))
            .build()
            .and_then(Config::try_deserialize)
            .map_err(describe_config_error)?;
        let mut settings = raw.validate()?;
        settings.oidc_providers =
            federation::providers(&federation_values, &settings.web.accounts.public_url)?;
        Ok(settings)
    }
}

impl Raw {
    fn validate(self) -> Result<Settings, SettingsError> {
        let app_env = match self.app_env.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "local" | "test" => AppEnv::Development,
            "production" | "prod" => AppEnv::Production,
            other => {
                return Err(SettingsError::new(
                    "APP_ENV",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let log_format = match self.log_format.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(SettingsError::new(
                    "LOG_FORMAT",
                    format!("expected text or json, got {other:?}"),
                ));
            }
        };
        let database = self.database()?;
        // Before the key is read: a bad combination with managed keys is named as such.
        let token_lifetimes = (
            chrono::Duration::try_minutes(self.access_token_expires_min).unwrap_or_default(),
            chrono::Duration::try_days(self.refresh_token_expires_days).unwrap_or_default(),
        );
        let managed_keys = self.managed_keys(app_env, token_lifetimes)?;
        let (jwt, jwt_secret_generated, jwt_secret_weak) =
            self.jwt(app_env, managed_keys.is_some())?;
        let jwks_max_age_seconds = self.jwks_max_age_seconds();
        let hasher = self.hasher(app_env)?;
        let refresh = self.refresh_policy()?;
        let token_location = TokenLocation::parse(&self.jwt_token_location).ok_or_else(|| {
            SettingsError::new(
                "JWT_TOKEN_LOCATION",
                format!(
                    "expected headers, cookies or headers,cookies, got {:?}",
                    self.jwt_token_location
                ),
            )
        })?;
        if app_env == AppEnv::Production && !self.cookie_secure {
            return Err(SettingsError::new(
                "COOKIE_SECURE",
                "must stay true when APP_ENV=production (cookies only over HTTPS)",
            ));
        }
        let cors_origins = self.cors_origins()?;
        let mail = self.mail(app_env)?;
        let accounts = self.accounts()?;
        let rate_limits = self.rate_limits()?;
        let metrics_addr = self.metrics_addr()?;
        let session_cache_size = self.session_cache_size()?;
        if self.max_body_bytes == 0 {
            return Err(SettingsError::new("MAX_BODY_BYTES", "must be at least 1"));
        }
        if self.app_workers == Some(0) {
            return Err(SettingsError::new("APP_WORKERS", "must be at least 1"));
        }
        let (mfa_key, mfa_key_generated) = self.mfa_key(app_env)?;
        let mfa_previous_key = self.mfa_previous_key()?;
        let passkeys = self.passkeys(&accounts.public_url)?;
        let (provider_key, provider_key_generated) = match managed_keys {
            Some(_) => (None, false),
            None => self.provider_key(app_env, &jwt)?,
        };
        Ok(Settings {
            app_name: self.app_name,
            app_env,
            debug: self.app_debug,
            host: self.app_host,
            port: self.app_port,
            workers: self.app_workers,
            database,
            migrate_on_start: self.migrate_on_start,
            jwt,
            jwt_secret_generated,
            jwt_secret_weak,
            hasher,
            mfa_key,
            mfa_key_generated,
            mfa_previous_key,
            web: WebOptions {
                refresh,
                max_body_bytes: self.max_body_bytes,
                token_location,
                cookie_secure: self.cookie_secure,
                trusted_origins: gatehouse_web::cookies::origin_of(&accounts.public_url)
                    .into_iter()
                    .chain(
                        cors_origins
                            .iter()
                            .filter_map(|origin| gatehouse_web::cookies::origin_of(origin)),
                    )
                    // Pages that sign in with passkeys are pages of this service.
                    .chain(passkeys.origins.iter().cloned())
                    .collect(),
                accounts,
                rate_limits,
                ui_enabled: self.ui_enabled,
                jwks_max_age_seconds,
            },
            log_format,
            cors_origins,
            mail,
            session_retention: chrono::Duration::try_days(positive(
                "SESSION_RETENTION_DAYS",
                self.session_retention_days,
            )?)
            .ok_or_else(|| SettingsError::new("SESSION_RETENTION_DAYS", "too large"))?,
            audit_retention: chrono::Duration::try_days(positive(
                "AUDIT_RETENTION_DAYS",
                self.audit_retention_days,
            )?)
            .ok_or_else(|| SettingsError::new("AUDIT_RETENTION_DAYS", "too large"))?,
            metrics_addr,
            purge_interval: (self.purge_interval_min > 0)
                .then(|| Duration::from_secs(self.purge_interval_min.saturating_mul(60))),
            session_cache_size,
            provider_key,
            provider_key_generated,
            managed_keys,
            passkeys,
            oidc_providers: Vec::new(),
        })
    }
}

fn positive(variable: &str, value: i64) -> Result<i64, SettingsError> {
    if value < 1 {
        return Err(SettingsError::new(
            variable,
            format!("must be at least 1, got {value}"),
        ));
    }
    Ok(value)
}

impl Settings {
    /// The database family, for logs.
    pub fn database_kind(&self) -> DatabaseKind {
        // `validate` rejected URLs of unknown kind.
        self.database.kind().unwrap_or(DatabaseKind::Sqlite)
    }
}

#[cfg(test)]
mod tests;
