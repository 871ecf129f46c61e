//! The HTTP layer's settings: rate limits and back-offs, CORS and trusted origins, account
//! mails, refresh rotation, the metrics listener.

use std::num::NonZeroU32;

use gatehouse_domain::{RefreshPolicy, RefreshRotation};
use gatehouse_web::{
    account::AccountOptions,
    rate_limit::{RateLimitOptions, RateLimitStore},
};
use ipnet::IpNet;

use super::{Raw, SettingsError, positive};

impl Raw {
    pub(super) fn metrics_addr(&self) -> Result<Option<String>, SettingsError> {
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

    pub(super) fn rate_limits(&self) -> Result<RateLimitOptions, SettingsError> {
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

    pub(super) fn accounts(&self) -> Result<AccountOptions, SettingsError> {
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
            // The "this wasn't me" link opens a page: no pages, no link.
            not_me_links: self.ui_enabled,
        })
    }

    /// Each origin as browsers send it: `scheme://host[:port]`, no path, no wildcard
    /// (credentials may not be shared with `*`).
    pub(super) fn cors_origins(&self) -> Result<Vec<String>, SettingsError> {
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

    pub(super) fn refresh_policy(&self) -> Result<RefreshPolicy, SettingsError> {
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
}
