//! Configuration: built-in defaults, then an optional `.env` file, then the process
//! environment (which wins), layered with the `config` crate and read once at start.
//!
//! Variable names are the Python starter's (`JWT_SECRET_KEY`, `DATABASE_URL`, …) so its
//! `.env` works unchanged. Every value is checked here, and a bad one is reported as a
//! single line naming the variable; the libraries receive typed settings by value.

use std::{collections::HashMap, fmt, path::Path, time::Duration};

use config::{Config, ConfigError, Environment};
use gatehouse_auth::{HasherConfig, JwtConfig, SigningAlgorithm, SigningKey};
use gatehouse_domain::{RefreshPolicy, RefreshRotation};
use gatehouse_mail::{MailConfig, MailTransport};
use gatehouse_persistence::{DatabaseConfig, DatabaseKind};
use gatehouse_web::{
    WebOptions,
    account::AccountOptions,
    cookies::TokenLocation,
    rate_limit::{RateLimitOptions, RateLimitStore},
};
use ipnet::IpNet;
use std::num::NonZeroU32;

/// How many mails may wait to be sent before new ones are dropped.
const MAIL_QUEUE_CAPACITY: usize = 256;
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
    /// `PURGE_INTERVAL_MIN`: how often housekeeping runs; `None` = never (0).
    pub purge_interval: Option<Duration>,
    /// `METRICS_ADDR`: a separate `host:port` for `/metrics` (then not on the public port).
    pub metrics_addr: Option<String>,
    /// `SESSION_CACHE_SIZE`: how many sessions the in-process cache holds (Postgres only,
    /// where LISTEN/NOTIFY keeps it in step); 0 turns it off.
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
    database_acquire_timeout_s: u64,
    migrate_on_start: bool,
    jwt_secret_key: Option<String>,
    jwt_algorithm: String,
    jwt_private_key_file: Option<String>,
    jwt_public_key_file: Option<String>,
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
    metrics_addr: Option<String>,
    purge_interval_min: u64,
    session_cache_size: usize,
    max_body_bytes: usize,
    log_format: String,
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
    ("purge_interval_min", "60"),
    ("session_cache_size", "10000"),
    ("argon2_memory_kib", "65536"),
    ("hashing_max_wait_s", "10"),
    ("argon2_iterations", "3"),
    ("argon2_parallelism", "4"),
    ("max_body_bytes", "65536"),
    ("log_format", "text"),
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
        let raw: Raw = builder
            .add_source(layer(dotenv))
            .add_source(layer(environment))
            .build()
            .and_then(Config::try_deserialize)
            .map_err(describe_config_error)?;
        raw.validate()
    }
}

/// Empty values count as unset, as in most `.env` conventions.
fn layer(values: HashMap<String, String>) -> Environment {
    let values = values
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| (key.to_uppercase(), value))
        .collect();
    Environment::default().source(Some(values))
}

fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, SettingsError> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::new(".env", e))?;
    let compatible = quote_bare_values(&text);
    dotenvy::from_read_iter(compatible.as_bytes())
        .collect::<Result<HashMap<_, _>, _>>()
        .map_err(|e| SettingsError::new(".env", e))
}

/// python-dotenv (what the starter's users have) accepts unquoted values with spaces,
/// such as `APP_NAME=AuthX Starter`; dotenvy does not. Quote such values first, so every
/// `.env` written for the starter reads the same here.
fn quote_bare_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        out.push_str(&quote_bare_value(line));
        out.push('\n');
    }
    out
}

fn quote_bare_value(line: &str) -> String {
    let Some((key, value)) = line.split_once('=') else {
        return line.to_owned();
    };
    let value = value.trim_start();
    if key.trim_start().starts_with('#') || value.starts_with(['"', '\'']) {
        return line.to_owned();
    }
    // An unquoted value ends at a ` #` comment, as in python-dotenv.
    let value = value
        .find(" #")
        .map_or(value, |comment| &value[..comment])
        .trim_end();
    if !value.contains(char::is_whitespace) {
        return line.to_owned();
    }
    if value.contains('\'') {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$");
        format!("{key}=\"{escaped}\"")
    } else {
        format!("{key}='{value}'")
    }
}

fn describe_config_error(err: ConfigError) -> SettingsError {
    match err {
        ConfigError::Type {
            unexpected,
            expected,
            key: Some(key),
            ..
        } => SettingsError::new(
            &key.to_uppercase(),
            format!("expected {expected}, got {unexpected}"),
        ),
        ConfigError::At {
            error,
            key: Some(key),
            ..
        } => SettingsError::new(&key.to_uppercase(), error),
        other => SettingsError::new("configuration", other),
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
        let (jwt, jwt_secret_generated, jwt_secret_weak) = self.jwt(app_env)?;
        let hasher = self.hasher()?;
        if app_env == AppEnv::Production {
            if hasher.memory_kib < OWASP_MIN_MEMORY_KIB {
                return Err(SettingsError::new(
                    "ARGON2_MEMORY_KIB",
                    format!(
                        "must be at least {OWASP_MIN_MEMORY_KIB} (OWASP's floor) when APP_ENV=production"
                    ),
                ));
            }
            if hasher.iterations < OWASP_MIN_ITERATIONS {
                return Err(SettingsError::new(
                    "ARGON2_ITERATIONS",
                    format!(
                        "must be at least {OWASP_MIN_ITERATIONS} (OWASP's floor) when APP_ENV=production"
                    ),
                ));
            }
        }
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
        if self.max_body_bytes == 0 {
            return Err(SettingsError::new("MAX_BODY_BYTES", "must be at least 1"));
        }
        if self.app_workers == Some(0) {
            return Err(SettingsError::new("APP_WORKERS", "must be at least 1"));
        }
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
                    .collect(),
                accounts,
                rate_limits,
            },
            log_format,
            cors_origins,
            mail,
            session_retention: chrono::Duration::try_days(positive(
                "SESSION_RETENTION_DAYS",
                self.session_retention_days,
            )?)
            .ok_or_else(|| SettingsError::new("SESSION_RETENTION_DAYS", "too large"))?,
            metrics_addr,
            purge_interval: (self.purge_interval_min > 0)
                .then(|| Duration::from_secs(self.purge_interval_min.saturating_mul(60))),
            session_cache_size: self.session_cache_size,
        })
    }

    fn mail(&self, app_env: AppEnv) -> Result<MailConfig, SettingsError> {
        let transport = MailTransport::parse(&self.mail_transport).ok_or_else(|| {
            SettingsError::new(
                "MAIL_TRANSPORT",
                "expected log, file:<directory>, smtp://user:pass@host:port or smtps://…",
            )
        })?;
        if app_env == AppEnv::Production && transport == MailTransport::Log {
            return Err(SettingsError::new(
                "MAIL_TRANSPORT",
                "log writes reset links to the log; set smtp://… or smtps://… when APP_ENV=production",
            ));
        }
        if !self.mail_from.contains('@') {
            return Err(SettingsError::new(
                "MAIL_FROM",
                format!("{:?} is not an address", self.mail_from),
            ));
        }
        Ok(MailConfig {
            transport,
            from: self.mail_from.clone(),
            queue_capacity: MAIL_QUEUE_CAPACITY,
        })
    }

    fn metrics_addr(&self) -> Result<Option<String>, SettingsError> {
        let Some(addr) = self.metrics_addr.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let valid = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(SettingsError::new(
                "METRICS_ADDR",
                format!("expected host:port like 127.0.0.1:9090, got {addr:?}"),
            ));
        }
        Ok(Some(addr.to_owned()))
    }

    fn rate_limits(&self) -> Result<RateLimitOptions, SettingsError> {
        let per_minute = NonZeroU32::new(self.rate_limit_login_per_min).ok_or_else(|| {
            SettingsError::new(
                "RATE_LIMIT_LOGIN_PER_MIN",
                "must be at least 1 (RATE_LIMIT_ENABLED=false turns limits off)",
            )
        })?;
        if self.login_failures_before_backoff == 0 {
            return Err(SettingsError::new(
                "LOGIN_FAILURES_BEFORE_BACKOFF",
                "must be at least 1",
            ));
        }
        if self.login_failures_account_wide == 0 {
            return Err(SettingsError::new(
                "LOGIN_FAILURES_ACCOUNT_WIDE",
                "must be at least 1",
            ));
        }
        let trusted_proxies = self
            .trusted_proxies
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        SettingsError::new(
                            "TRUSTED_PROXIES",
                            format!("{entry:?} is not an IP address or CIDR like 10.0.0.0/8"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let store = match self.rate_limit_store.trim() {
            "memory" => RateLimitStore::Memory,
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                RateLimitStore::Redis {
                    url: url.to_owned(),
                    // Instances of one service (one APP_NAME) share their counters.
                    key_prefix: format!("gatehouse:{}:ip:", self.app_name),
                }
            }
            other => {
                return Err(SettingsError::new(
                    "RATE_LIMIT_STORE",
                    format!("expected memory or redis://host:port, got {other:?}"),
                ));
            }
        };
        Ok(RateLimitOptions {
            store,
            enabled: self.rate_limit_enabled,
            per_minute,
            failures_before_backoff: self.login_failures_before_backoff,
            failures_account_wide: self.login_failures_account_wide,
            trusted_proxies,
        })
    }

    fn accounts(&self) -> Result<AccountOptions, SettingsError> {
        let public_url = self.public_url.trim().trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(SettingsError::new(
                "PUBLIC_URL",
                "expected the http(s):// address users reach the service at",
            ));
        }
        let reset_minutes = positive("RESET_TOKEN_EXPIRES_MIN", self.reset_token_expires_min)?;
        let verify_hours = positive(
            "VERIFY_TOKEN_EXPIRES_HOURS",
            self.verify_token_expires_hours,
        )?;
        Ok(AccountOptions {
            app_name: self.app_name.clone(),
            public_url,
            reset_ttl: chrono::Duration::try_minutes(reset_minutes)
                .ok_or_else(|| SettingsError::new("RESET_TOKEN_EXPIRES_MIN", "too large"))?,
            verify_ttl: chrono::Duration::try_hours(verify_hours)
                .ok_or_else(|| SettingsError::new("VERIFY_TOKEN_EXPIRES_HOURS", "too large"))?,
            require_verified_email: self.require_verified_email,
            // Like every limit, off with RATE_LIMIT_ENABLED=false.
            mail_cooldown: self
                .rate_limit_enabled
                .then(|| chrono::Duration::minutes(1)),
        })
    }

    /// Each origin as browsers send it: `scheme://host[:port]`, no path, no wildcard
    /// (credentials may not be shared with `*`).
    fn cors_origins(&self) -> Result<Vec<String>, SettingsError> {
        let Some(raw) = &self.cors_origins else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let origin = origin.trim_end_matches('/');
                let valid = origin
                    .split_once("://")
                    .is_some_and(|(scheme, host)| {
                        matches!(scheme, "http" | "https")
                            && !host.is_empty()
                            && !host.contains(['/', '*', ' ', '?', '#'])
                    });
                if valid {
                    Ok(origin.to_owned())
                } else {
                    Err(SettingsError::new(
                        "CORS_ORIGINS",
                        format!(
                            "{origin:?} is not an origin like https://app.example.com (no path, no wildcard)"
                        ),
                    ))
                }
            })
            .collect()
    }

    fn refresh_policy(&self) -> Result<RefreshPolicy, SettingsError> {
        let rotation = RefreshRotation::parse(&self.refresh_token_rotation).ok_or_else(|| {
            SettingsError::new(
                "REFRESH_TOKEN_ROTATION",
                format!(
                    "expected auto, strict or off (or true/false), got {:?}",
                    self.refresh_token_rotation
                ),
            )
        })?;
        Ok(RefreshPolicy {
            rotation,
            reuse_grace: chrono::Duration::seconds(i64::from(self.refresh_reuse_grace_s)),
        })
    }

    fn database(&self) -> Result<DatabaseConfig, SettingsError> {
        let database = DatabaseConfig {
            url: self.database_url.trim().to_owned(),
            max_connections: self.database_max_connections,
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_s),
        };
        if database.kind().is_none() {
            return Err(SettingsError::new(
                "DATABASE_URL",
                "expected a sqlite://, postgres:// (or postgresql+asyncpg://) or mysql:// URL",
            ));
        }
        if database.max_connections == 0 {
            return Err(SettingsError::new(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        if self.database_acquire_timeout_s == 0 {
            return Err(SettingsError::new(
                "DATABASE_ACQUIRE_TIMEOUT_S",
                "must be at least 1",
            ));
        }
        Ok(database)
    }

    fn jwt(&self, app_env: AppEnv) -> Result<(JwtConfig, bool, bool), SettingsError> {
        let algorithm = SigningAlgorithm::parse(self.jwt_algorithm.trim()).ok_or_else(|| {
            SettingsError::new(
                "JWT_ALGORITHM",
                format!(
                    "expected one of HS256, HS384, HS512, RS256, ES256, EdDSA, got {:?}",
                    self.jwt_algorithm
                ),
            )
        })?;
        let (key, generated, weak) = if algorithm.is_hmac() {
            self.hmac_key(algorithm, app_env)?
        } else {
            (self.key_pair(algorithm)?, false, false)
        };
        let access_minutes = positive("ACCESS_TOKEN_EXPIRES_MIN", self.access_token_expires_min)?;
        let refresh_days = positive(
            "REFRESH_TOKEN_EXPIRES_DAYS",
            self.refresh_token_expires_days,
        )?;
        let config = JwtConfig {
            key,
            access_ttl: chrono::Duration::try_minutes(access_minutes)
                .ok_or_else(|| SettingsError::new("ACCESS_TOKEN_EXPIRES_MIN", "too large"))?,
            refresh_ttl: chrono::Duration::try_days(refresh_days)
                .ok_or_else(|| SettingsError::new("REFRESH_TOKEN_EXPIRES_DAYS", "too large"))?,
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
        };
        Ok((config, generated, weak))
    }

    fn hmac_key(
        &self,
        algorithm: SigningAlgorithm,
        app_env: AppEnv,
    ) -> Result<(SigningKey, bool, bool), SettingsError> {
        let secret = match (&self.jwt_secret_key, app_env) {
            (Some(secret), _) => secret.as_bytes().to_vec(),
            (None, AppEnv::Development) => {
                let key = SigningKey::hmac(algorithm, &rand::random::<[u8; 32]>())
                    .map_err(|e| SettingsError::new("JWT_ALGORITHM", e))?;
                return Ok((key, true, false));
            }
            (None, AppEnv::Production) => {
                return Err(SettingsError::new(
                    "JWT_SECRET_KEY",
                    format!("required when APP_ENV=production (at least {MIN_SECRET_BYTES} bytes)"),
                ));
            }
        };
        if app_env == AppEnv::Production && is_placeholder(&secret) {
            return Err(SettingsError::new(
                "JWT_SECRET_KEY",
                "is a placeholder from an example file; set a random secret (openssl rand -base64 48)",
            ));
        }
        let weak = secret.len() < MIN_SECRET_BYTES;
        if weak && app_env == AppEnv::Production {
            return Err(SettingsError::new(
                "JWT_SECRET_KEY",
                format!(
                    "is {} bytes; at least {MIN_SECRET_BYTES} are required when APP_ENV=production",
                    secret.len()
                ),
            ));
        }
        let key = SigningKey::hmac(algorithm, &secret)
            .map_err(|e| SettingsError::new("JWT_ALGORITHM", e))?;
        Ok((key, false, weak))
    }

    fn key_pair(&self, algorithm: SigningAlgorithm) -> Result<SigningKey, SettingsError> {
        let read = |variable: &str, path: &Option<String>| {
            let path = path.as_deref().ok_or_else(|| {
                SettingsError::new(
                    variable,
                    format!("required for JWT_ALGORITHM={algorithm:?}"),
                )
            })?;
            std::fs::read(path)
                .map_err(|e| SettingsError::new(variable, format!("cannot read {path}: {e}")))
        };
        let private_pem = read("JWT_PRIVATE_KEY_FILE", &self.jwt_private_key_file)?;
        let public_pem = read("JWT_PUBLIC_KEY_FILE", &self.jwt_public_key_file)?;
        let key = SigningKey::from_pem(algorithm, &private_pem, &public_pem)
            .map_err(|e| SettingsError::new("JWT_PRIVATE_KEY_FILE", e))?;
        // Sign and verify a probe now, so two files that are not one key pair stop the
        // server at start with this line rather than as rejected tokens later.
        gatehouse_auth::JwtCodec::new(JwtConfig::new(key.clone())).map_err(|e| {
            SettingsError::new(
                "JWT_PUBLIC_KEY_FILE",
                format!("does not fit JWT_PRIVATE_KEY_FILE: {e}"),
            )
        })?;
        Ok(key)
    }

    fn hasher(&self) -> Result<HasherConfig, SettingsError> {
        let config = HasherConfig {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
            max_concurrent: self
                .hashing_concurrency
                .unwrap_or_else(|| HasherConfig::default().max_concurrent),
            max_wait: std::time::Duration::from_secs(self.hashing_max_wait_s),
        };
        if config.max_concurrent == 0 {
            return Err(SettingsError::new(
                "HASHING_CONCURRENCY",
                "must be at least 1",
            ));
        }
        argon2_params_check(&config)?;
        Ok(config)
    }
}

/// Checks the argon2 cost here so a bad value names its variable (the hasher would only
/// say "invalid parameters").
fn argon2_params_check(config: &HasherConfig) -> Result<(), SettingsError> {
    if !(1..=16_777_215).contains(&config.parallelism) {
        return Err(SettingsError::new(
            "ARGON2_PARALLELISM",
            "must be between 1 and 16777215",
        ));
    }
    if config.iterations < 1 {
        return Err(SettingsError::new(
            "ARGON2_ITERATIONS",
            "must be at least 1",
        ));
    }
    if config.memory_kib < 8 * config.parallelism {
        return Err(SettingsError::new(
            "ARGON2_MEMORY_KIB",
            "must be at least 8 × ARGON2_PARALLELISM",
        ));
    }
    Ok(())
}

/// Secrets copied from an example file: the starter's `change-me-super-secret`, this
/// project's `.env.example` value, and anything else starting `change-me`.
fn is_placeholder(secret: &[u8]) -> bool {
    let text = String::from_utf8_lossy(secret).trim().to_ascii_lowercase();
    text.starts_with("change-me") || text.starts_with("changeme")
}

/// OWASP's minimum argon2id configuration (m = 19 MiB, t = 2).
const OWASP_MIN_MEMORY_KIB: u32 = 19_456;
const OWASP_MIN_ITERATIONS: u32 = 2;

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
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_layers(HashMap::new(), env(pairs))
    }

    #[test]
    fn defaults_need_nothing_and_generate_a_development_secret() {
        let settings = load(&[]).unwrap();
        assert_eq!((settings.host.as_str(), settings.port), ("127.0.0.1", 8000));
        assert_eq!(settings.database.url, "sqlite://data/app.db?mode=rwc");
        assert!(settings.jwt_secret_generated);
        assert_eq!(settings.jwt.access_ttl, chrono::Duration::minutes(15));
        assert_eq!(settings.hasher.memory_kib, 65_536);
    }

    #[test]
    fn the_starters_env_file_works_unchanged() {
        let starter = include_str!("../tests/fixtures/starter.env");
        let dir = std::env::temp_dir().join(format!("gatehouse-env-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, starter).unwrap();
        let dotenv = read_dotenv(&path).unwrap();
        let settings = Settings::from_layers(dotenv, HashMap::new()).unwrap();
        assert_eq!(settings.app_name, "AuthX Starter");
        assert!(settings.debug);
        assert_eq!(settings.database_kind(), DatabaseKind::Postgres);
        assert_eq!(
            settings.database.normalized_url(),
            "postgresql://postgres:postgres@localhost:5432/app"
        );
        assert!(!settings.jwt_secret_generated);
        assert!(
            settings.jwt_secret_weak,
            "22-byte secret: allowed in development, with a warning"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_environment_wins_over_the_env_file() {
        let settings = Settings::from_layers(
            env(&[("APP_PORT", "9000"), ("APP_NAME", "from file")]),
            env(&[("APP_PORT", "9100")]),
        )
        .unwrap();
        assert_eq!(
            (settings.port, settings.app_name.as_str()),
            (9100, "from file")
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pairs, variable) in [
            (vec![("APP_PORT", "eighty")], "APP_PORT"),
            (vec![("APP_PORT", "70000")], "APP_PORT"),
            (vec![("APP_DEBUG", "maybe")], "APP_DEBUG"),
            (vec![("JWT_ALGORITHM", "none")], "JWT_ALGORITHM"),
            (
                vec![("ACCESS_TOKEN_EXPIRES_MIN", "0")],
                "ACCESS_TOKEN_EXPIRES_MIN",
            ),
            (vec![("DATABASE_URL", "oracle://x")], "DATABASE_URL"),
            (vec![("APP_ENV", "staging")], "APP_ENV"),
            (vec![("ARGON2_MEMORY_KIB", "4")], "ARGON2_MEMORY_KIB"),
            (vec![("LOG_FORMAT", "xml")], "LOG_FORMAT"),
            (
                vec![("REFRESH_TOKEN_ROTATION", "sometimes")],
                "REFRESH_TOKEN_ROTATION",
            ),
            (
                vec![("REFRESH_REUSE_GRACE_S", "-1")],
                "REFRESH_REUSE_GRACE_S",
            ),
            (vec![("JWT_TOKEN_LOCATION", "query")], "JWT_TOKEN_LOCATION"),
            (vec![("COOKIE_SECURE", "sometimes")], "COOKIE_SECURE"),
            (vec![("CORS_ORIGINS", "*")], "CORS_ORIGINS"),
            (vec![("MAIL_TRANSPORT", "pigeon")], "MAIL_TRANSPORT"),
            (
                vec![("TRUSTED_PROXIES", "10.0.0.0/8, proxy")],
                "TRUSTED_PROXIES",
            ),
            (
                vec![("RATE_LIMIT_LOGIN_PER_MIN", "0")],
                "RATE_LIMIT_LOGIN_PER_MIN",
            ),
            (vec![("MAIL_FROM", "nobody")], "MAIL_FROM"),
            (vec![("PUBLIC_URL", "example.com")], "PUBLIC_URL"),
            (
                vec![("RESET_TOKEN_EXPIRES_MIN", "0")],
                "RESET_TOKEN_EXPIRES_MIN",
            ),
            (
                vec![("CORS_ORIGINS", "https://ok.example, app.example.com")],
                "CORS_ORIGINS",
            ),
            (
                vec![("CORS_ORIGINS", "https://app.example.com/path")],
                "CORS_ORIGINS",
            ),
            (vec![("JWT_ALGORITHM", "RS256")], "JWT_PRIVATE_KEY_FILE"),
        ] {
            let err = load(&pairs).unwrap_err();
            assert_eq!(err.variable, variable, "{pairs:?}: {err}");
        }
    }

    #[test]
    fn production_requires_a_long_secret() {
        let err = load(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET_KEY");
        let err = load(&[("APP_ENV", "production"), ("JWT_SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET_KEY");
        let secret = "x".repeat(MIN_SECRET_BYTES);
        let settings = load(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", &secret),
            ("MAIL_TRANSPORT", "smtps://mail.example.com"),
        ])
        .unwrap();
        assert!(!settings.jwt_secret_weak);
    }

    /// Production settings that pass every check, to vary one at a time.
    fn production(overrides: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let secret = "x".repeat(MIN_SECRET_BYTES);
        let mut pairs = vec![
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", secret.as_str()),
            ("MAIL_TRANSPORT", "smtps://mail.example.com"),
        ];
        pairs.extend_from_slice(overrides);
        load(&pairs)
    }

    #[test]
    fn production_refuses_placeholder_secrets() {
        assert!(production(&[]).is_ok());
        let example = include_str!("../../../.env.example")
            .lines()
            .find_map(|line| line.strip_prefix("JWT_SECRET_KEY="))
            .unwrap();
        for placeholder in [
            example,
            "change-me-super-secret",
            "change-me-please-to-something-long-and-random",
            "CHANGE-ME-this-is-long-enough-to-pass-the-length-rule",
        ] {
            let err = production(&[("JWT_SECRET_KEY", placeholder)]).unwrap_err();
            assert_eq!(err.variable, "JWT_SECRET_KEY", "{placeholder}");
        }
        // Outside production, a placeholder only warns.
        assert!(load(&[("JWT_SECRET_KEY", example)]).is_ok());
    }

    #[test]
    fn production_refuses_argon2_below_the_owasp_floor() {
        for (variable, value) in [("ARGON2_MEMORY_KIB", "19455"), ("ARGON2_ITERATIONS", "1")] {
            let err = production(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable);
        }
        assert!(production(&[("ARGON2_MEMORY_KIB", "19456"), ("ARGON2_ITERATIONS", "2")]).is_ok());
        assert!(load(&[("ARGON2_MEMORY_KIB", "1024"), ("ARGON2_ITERATIONS", "1")]).is_ok());
    }

    #[test]
    fn production_refuses_to_log_mails() {
        let secret = "x".repeat(MIN_SECRET_BYTES);
        let err = load(&[("APP_ENV", "production"), ("JWT_SECRET_KEY", &secret)]).unwrap_err();
        assert_eq!(err.variable, "MAIL_TRANSPORT");
    }

    #[test]
    fn production_keeps_cookies_secure() {
        let secret = "x".repeat(MIN_SECRET_BYTES);
        let err = load(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", &secret),
            ("COOKIE_SECURE", "false"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "COOKIE_SECURE");
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list() {
        let settings = load(&[(
            "CORS_ORIGINS",
            "https://app.example.com, http://localhost:5173/",
        )])
        .unwrap();
        assert_eq!(
            settings.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert!(load(&[]).unwrap().cors_origins.is_empty());
    }

    #[test]
    fn numeric_looking_secrets_stay_text() {
        let secret = "12345678901234567890123456789012345";
        let settings = load(&[
            ("JWT_SECRET_KEY", secret),
            ("APP_ENV", "production"),
            ("MAIL_TRANSPORT", "smtps://mail.example.com"),
        ])
        .unwrap();
        assert!(!settings.jwt_secret_weak);
    }

    #[test]
    fn unquoted_values_with_spaces_read_as_python_dotenv_reads_them() {
        assert_eq!(
            quote_bare_value("APP_NAME=AuthX Starter"),
            "APP_NAME='AuthX Starter'"
        );
        assert_eq!(
            quote_bare_value("APP_NAME=AuthX Starter  # comment"),
            "APP_NAME='AuthX Starter'"
        );
        assert_eq!(quote_bare_value("A=it's here"), r#"A="it's here""#);
        assert_eq!(quote_bare_value("A=plain"), "A=plain");
        assert_eq!(quote_bare_value("A='quoted value'"), "A='quoted value'");
        assert_eq!(quote_bare_value("# A=b c"), "# A=b c");
        let parsed: HashMap<String, String> =
            dotenvy::from_read_iter(quote_bare_values("A=it's \\ \"x\" $HOME\n").as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(parsed["A"], r#"it's \ "x" $HOME"#);
    }

    fn uuid_like() -> String {
        format!("{:x}", rand::random::<u64>())
    }
}
