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
use gatehouse_domain::Email;
use gatehouse_persistence::{BackoffThresholds, Reservation, ReservedAttempt};

use crate::{
    error::ApiError, operations::metrics::LoginOutcome, rate_limit::client_network, state::AppState,
};

/// One password check for `email` from the request's network, reserved before it is
/// judged: counted as a failure from the start, so concurrent checks cannot all slip in
/// before the first failure is counted. Does nothing when rate limits are off.
pub(crate) struct PasswordAttempt<'a> {
    state: &'a AppState,
    email: &'a Email,
    /// `None` when rate limits are off.
    reserved: Option<ReservedAttempt>,
}

impl<'a> PasswordAttempt<'a> {
    /// Reserves the check, counting it toward both back-offs; refuses (429 with
    /// `Retry-After`) while `email` is backed off for this network.
    pub(crate) async fn begin(
        state: &'a AppState,
        email: &'a Email,
        request: &HttpRequest,
    ) -> Result<Self, ApiError> {
        let options = &state.options.rate_limits;
        if !options.enabled {
            return Ok(Self {
                state,
                email,
                reserved: None,
            });
        }
        let now = Utc::now();
        let thresholds = BackoffThresholds {
            per_network: options.failures_before_backoff,
            account_wide: options.failures_account_wide,
        };
        let network = client_network(request, &options.trusted_proxies);
        match state
            .login_throttles
            .reserve_attempt(email, network, thresholds, now)
            .await?
        {
            Reservation::Reserved(reserved) => Ok(Self {
                state,
                email,
                reserved: Some(reserved),
            }),
            Reservation::BackedOff(until) => {
                state.metrics.record_login(LoginOutcome::Throttled);
                Err(ApiError::rate_limited(
                    (until - now).to_std().unwrap_or_default(),
                ))
            }
        }
    }

    /// The password (or code) was wrong: it was counted when the check was reserved.
    pub(crate) fn failed(self) {}

    /// The password was right but nobody is signed in yet (a second step follows, or the
    /// account is refused): the check's count is given back; the network's earlier
    /// failures stay until a sign-in completes.
    pub(crate) async fn passed(self) -> Result<(), ApiError> {
        if let Some(reserved) = self.reserved {
            self.state
                .login_throttles
                .withdraw(self.email, reserved)
                .await?;
        }
        Ok(())
    }

    /// The check completed a sign-in (or proved the password of a signed-in caller): this
    /// network starts afresh.
    pub(crate) async fn completed(self) -> Result<(), ApiError> {
        if let Some(reserved) = self.reserved {
            self.state
                .login_throttles
                .signed_in(self.email, reserved)
                .await?;
        }
        Ok(())
    }
}
