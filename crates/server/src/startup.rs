//! Wiring: settings → database, hasher, token codec → HTTP server.

use std::net::TcpListener;

use actix_web::{
    App, HttpServer,
    dev::Server,
    middleware::{Condition, ErrorHandlers, from_fn},
    web,
};
use anyhow::Context;
use gatehouse_auth::PasswordHasher;
use gatehouse_mail::Mailer;
use gatehouse_persistence::{redact_url, session_cache_for};
use gatehouse_web::rate_limit::IpRateLimiter;
use gatehouse_web::{
    AppState, Docs, browser, collapse_unknown_methods, configure, configure_metrics,
    configure_provider, not_found, render_bare_errors, request_context,
};

use crate::settings::{AppEnv, Settings};

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` alone on `METRICS_ADDR`, when set.
    metrics: Option<(u16, Server)>,
}

impl Application {
    /// Connects to the database, migrates it if configured, prepares hashing and tokens,
    /// and binds the listener. Nothing is served until [`run_until_stopped`](Self::run_until_stopped).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = crate::database::prepare_pool(&settings, settings.database.clone()).await?;
        warn_about_weak_settings(&settings);
        // Cheap: the hasher makes its timing dummy from random bytes, hashing nothing.
        let hasher =
            PasswordHasher::new(settings.hasher.clone()).context("invalid ARGON2_* settings")?;
        let sealer = settings.mfa_previous_key.iter().cloned().fold(
            gatehouse_auth::SecretSealer::new(settings.mfa_key.clone()),
            gatehouse_auth::SecretSealer::with_older_key,
        );
        let jwt = crate::signing_keys::token_codec(&settings, &db, &sealer).await?;
        let mailer = Mailer::start(settings.mail.clone()).context("invalid MAIL_* settings")?;
        let ip_limiter = IpRateLimiter::start(&settings.web.rate_limits)
            .await
            .context("RATE_LIMIT_STORE")?;
        let session_cache = session_cache_for(&db, settings.session_cache_size);
        if session_cache.is_enabled() {
            tracing::info!(
                capacity = settings.session_cache_size,
                "session cache on; kept in step through Postgres LISTEN/NOTIFY"
            );
        }
        let managed_ring = settings
            .managed_keys
            .as_ref()
            .map(|_| jwt.key_ring().clone());
        let state = AppState::new(
            db,
            session_cache,
            hasher,
            jwt,
            mailer,
            ip_limiter,
            sealer,
            gatehouse_auth::Passkeys::new(&settings.passkeys)
                .context("invalid WEBAUTHN_* settings")?,
            settings.web.clone(),
        )
        .context("cannot set up metrics")?
        .with_providers(oidc_providers(&settings.oidc_providers)?)
        .with_provider_key(settings.provider_key.clone())
        .context("invalid OIDC_SIGNING_KEY_FILE")?;
        let state = match managed_ring {
            Some(ring) => state
                .with_provider_ring(ring)
                .context("managed signing keys")?,
            None => state,
        };
        if let Some(interval) = settings.purge_interval {
            tokio::spawn(housekeeping(
                Housekeeping {
                    sessions: state.sessions.clone(),
                    one_time_tokens: state.one_time_tokens.clone(),
                    login_throttles: state.login_throttles.clone(),
                    mail_cooldowns: gatehouse_persistence::MailCooldownRepository::new(
                        state.db.clone(),
                    ),
                    session_retention: settings.session_retention,
                    audit: state.audit.clone(),
                    audit_retention: settings.audit_retention,
                    mfa: state.mfa.clone(),
                    passkeys: state.passkeys.clone(),
                    identities: state.identities.clone(),
                    oauth_grants: state.oauth_grants.clone(),
                },
                interval,
            ));
        }

        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            address = %format!("http://{}:{port}", settings.host),
            database = %settings.database_kind(),
            database_url = %redact_url(&settings.database.url),
            environment = ?settings.app_env,
            app = %settings.app_name,
            "gatehouse listening; API docs at /docs"
        );
        let metrics = match &settings.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr.as_str())
                    .with_context(|| format!("cannot listen on METRICS_ADDR {addr}"))?;
                let port = listener.local_addr()?.port();
                tracing::info!(address = %addr, "metrics on their own listener");
                Some((port, serve_metrics(listener, state.clone())?))
            }
            None => None,
        };
        let server = serve(listener, state, &settings)?;
        Ok(Self {
            port,
            server,
            metrics,
        })
    }

    /// The port of the metrics listener, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The port actually bound (useful with `APP_PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((_, metrics)) => futures_util::future::try_join(self.server, metrics)
                .await
                .map(|_| ()),
            None => self.server.await,
        }
    }
}

/// What the periodic purge cleans, so the tables do not grow forever.
struct Housekeeping {
    sessions: gatehouse_persistence::SessionRepository,
    one_time_tokens: gatehouse_persistence::OneTimeTokenRepository,
    login_throttles: gatehouse_persistence::LoginThrottleRepository,
    mail_cooldowns: gatehouse_persistence::MailCooldownRepository,
    session_retention: chrono::Duration,
    audit: gatehouse_persistence::AuditRepository,
    audit_retention: chrono::Duration,
    mfa: gatehouse_persistence::MfaRepository,
    passkeys: gatehouse_persistence::PasskeyRepository,
    identities: gatehouse_persistence::IdentityRepository,
    oauth_grants: gatehouse_persistence::OauthGrantRepository,
}

/// At start and then every `interval`: deletes sessions that ended more than the retention
/// ago, used and expired single-use tokens, failed-login counts untouched for a day, audit
/// events older than their retention, mail cool-downs that are over, second steps of
/// logins that expired or finished (their `mfa_token`s are dead after five minutes), and
/// passkey ceremonies and sign-ins at other providers that expired unfinished.
/// Every instance may run it; the deletes are idempotent. A failure is logged and tried
/// again next time.
async fn housekeeping(work: Housekeeping, interval: std::time::Duration) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        let now = chrono::Utc::now();
        let results = [
            (
                "sessions",
                work.sessions.purge(now - work.session_retention).await,
            ),
            ("one-time tokens", work.one_time_tokens.purge(now).await),
            (
                "failed-login counts",
                work.login_throttles
                    .purge(now - chrono::Duration::days(1))
                    .await,
            ),
            (
                "audit events",
                work.audit.purge(now - work.audit_retention).await,
            ),
            (
                "mail cool-downs",
                work.mail_cooldowns
                    .purge(now - chrono::Duration::hours(1))
                    .await,
            ),
            (
                "second-step challenges",
                work.mfa
                    .purge_challenges(now - chrono::Duration::hours(1))
                    .await,
            ),
            (
                "passkey ceremonies",
                work.passkeys.purge_ceremonies(now).await,
            ),
            (
                "sign-ins at other providers",
                work.identities.purge_logins(now).await,
            ),
            (
                "OpenID Provider codes, tokens and grants",
                work.oauth_grants.purge(now).await,
            ),
        ];
        for (what, result) in results {
            match result {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, what, "housekeeping purged old records"),
                Err(e) => tracing::warn!(
                    what,
                    error = %gatehouse_web::error::error_chain(&e),
                    "housekeeping purge failed"
                ),
            }
        }
    }
}

/// The configured OpenID Providers, sharing one HTTP client that follows no redirects (a
/// provider's answer redirected to an internal address would be SSRF) and gives up after
/// ten seconds.
fn oidc_providers(
    configs: &[gatehouse_auth::OidcProviderConfig],
) -> anyhow::Result<gatehouse_web::federation::Providers> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client for OIDC providers")?;
    let providers = configs
        .iter()
        .map(|config| {
            gatehouse_auth::OidcProvider::new(config.clone(), http.clone())
                .with_context(|| format!("OIDC provider {}", config.name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for provider in &providers {
        tracing::info!(
            provider = %provider.config().name,
            issuer = %provider.config().issuer,
            "sign-in with another provider enabled"
        );
    }
    Ok(gatehouse_web::federation::Providers::new(providers))
}

fn serve(listener: TcpListener, state: AppState, settings: &Settings) -> anyhow::Result<Server> {
    let metrics = state.metrics.middleware();
    let state = web::Data::new(state);
    let docs = Docs::new(&settings.app_name).context("cannot render the OpenAPI document")?;
    let cors_origins = settings.cors_origins.clone();
    let hsts = settings.app_env == AppEnv::Production;
    let public_metrics = settings.metrics_addr.is_none();
    let ui_enabled = settings.web.ui_enabled;
    let provider = settings.provider_key.is_some() || settings.managed_keys.is_some();
    let mut server = HttpServer::new(move || {
        // Outermost last: every answer, preflights included, gets the security headers
        // and a request id.
        App::new()
            .app_data(state.clone())
            .wrap(ErrorHandlers::new().default_handler(render_bare_errors))
            .wrap(metrics.clone())
            .wrap(from_fn(collapse_unknown_methods))
            .wrap(Condition::new(
                !cors_origins.is_empty(),
                browser::cors(&cors_origins),
            ))
            // The CORS middleware answers refused preflights itself, in plain text.
            .wrap(ErrorHandlers::new().default_handler(render_bare_errors))
            .wrap(from_fn(request_context))
            .wrap(browser::security_headers(hsts))
            .configure(configure)
            .configure(|cfg| {
                if public_metrics {
                    configure_metrics(cfg);
                }
            })
            .configure(|cfg| {
                if provider {
                    configure_provider(cfg);
                }
            })
            .configure(|cfg| docs.configure(cfg))
            .configure(|cfg| {
                if ui_enabled {
                    gatehouse_web::pages::configure(cfg);
                }
            })
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(10);
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}

/// The management listener: `/metrics` and nothing else, for Prometheus on an internal
/// network (as Keycloak's and Kratos' admin ports).
fn serve_metrics(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(ErrorHandlers::new().default_handler(render_bare_errors))
            .wrap(from_fn(request_context))
            .wrap(browser::security_headers(false))
            .configure(configure_metrics)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .shutdown_timeout(10);
    Ok(server.listen(listener)?.run())
}

fn warn_about_weak_settings(settings: &Settings) {
    if settings.provider_key_generated {
        tracing::warn!(
            "OIDC_SIGNING_KEY_FILE is not set: the OpenID Provider signs with a key generated for this run; its tokens will not survive a restart"
        );
    } else if settings.provider_key.is_none() && settings.managed_keys.is_none() {
        tracing::warn!(
            "no asymmetric signing key (JWT_ALGORITHM is HMAC and OIDC_SIGNING_KEY_FILE is not set): the OpenID Provider's routes are not served"
        );
    }
    if settings.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET_KEY is not set: using a random secret for this run; tokens will not survive a restart"
        );
    } else if settings.jwt_secret_weak {
        tracing::warn!(
            "JWT_SECRET_KEY is shorter than 32 bytes; this is refused when APP_ENV=production"
        );
    }
    if settings.mfa_key_generated {
        tracing::warn!(
            "MFA_ENCRYPTION_KEY is not set (nor JWT_SECRET_KEY to derive one from): TOTP set up during this run stops working at the next start"
        );
    }
    if settings.app_env == AppEnv::Production && settings.debug {
        tracing::warn!("APP_DEBUG=true in production logs more than needed");
    }
    if settings.app_env == AppEnv::Production && settings.passkeys.rp_id == "localhost" {
        tracing::warn!(
            "passkeys work only on localhost: PUBLIC_URL has no domain name; set WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS"
        );
    }
    if settings.app_env == AppEnv::Production && settings.metrics_addr.is_none() {
        tracing::warn!(
            "METRICS_ADDR is not set: /metrics answers on the public port, showing anyone your traffic; set METRICS_ADDR to a private address"
        );
    }
}
