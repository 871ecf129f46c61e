//! The per-account back-off around every password check (login, `/auth/token`,
//! change-password), stored in the database so every instance sees it.
//!
//! Failures are counted per (email, client network) — an IPv4 address or an IPv6 /64 — so
//! someone who only knows an address holds back their own network, not its owner; and per
//! email across all networks, with a higher threshold, so an attack spread over many
//! networks still meets a back-off. A back-off refuses even the right password: guessing
//! on during it cannot find it.

use actix_web::HttpRequest;
use chrono::Utc;
use gatehouse_domain::{ClientNetwork, Email};
use gatehouse_persistence::BackoffThresholds;

use crate::{
    error::ApiError, operations::metrics::LoginOutcome, rate_limit::client_network, state::AppState,
};

/// One password check for `email` from the request's network, between the back-off
/// check and its outcome. Does nothing when rate limits are off.
pub(crate) struct PasswordAttempt<'a> {
    state: &'a AppState,
    email: &'a Email,
    network: Option<ClientNetwork>,
}

impl<'a> PasswordAttempt<'a> {
    /// Refuses (429 with `Retry-After`) while `email` is backed off for this network.
    pub(crate) async fn begin(
        state: &'a AppState,
        email: &'a Email,
        request: &HttpRequest,
    ) -> Result<Self, ApiError> {
        let options = &state.options.rate_limits;
        let attempt = Self {
            state,
            email,
            network: client_network(request, &options.trusted_proxies),
        };
        if !options.enabled {
            return Ok(attempt);
        }
        let now = Utc::now();
        let blocked = state
            .login_throttles
            .blocked_until(email, attempt.network, now)
            .await?;
        if let Some(until) = blocked {
            state.metrics.record_login(LoginOutcome::Throttled);
            return Err(ApiError::rate_limited(
                (until - now).to_std().unwrap_or_default(),
            ));
        }
        Ok(attempt)
    }

    /// The password was wrong: counts toward both back-offs.
    pub(crate) async fn failed(self) -> Result<(), ApiError> {
        let options = &self.state.options.rate_limits;
        if options.enabled {
            let thresholds = BackoffThresholds {
                per_network: options.failures_before_backoff,
                account_wide: options.failures_account_wide,
            };
            self.state
                .login_throttles
                .record_failure(self.email, self.network, thresholds, Utc::now())
                .await?;
        }
        Ok(())
    }

    /// The password was right: this network starts afresh.
    pub(crate) async fn succeeded(self) -> Result<(), ApiError> {
        if self.state.options.rate_limits.enabled {
            self.state
                .login_throttles
                .clear_network(self.email, self.network)
                .await?;
        }
        Ok(())
    }
}
