//! The per-account back-off around every password check (login, `/auth/token`,
//! change-password, and a second step's codes), stored in the database so every instance
//! sees it.
//!
//! Failures are counted per (email, client network) — an IPv4 address or an IPv6 /64 — so
//! someone who only knows an address holds back their own network, not its owner; and per
//! email across all networks, with a higher threshold, so an attack spread over many
//! networks still meets a back-off. A back-off refuses even the right password: guessing
//! on during it cannot find it.

use chrono::Utc;
use gatehouse_domain::Email;
use gatehouse_persistence::{Reservation, ReservedAttempt};

use crate::client::Client;
use crate::error::AppError;
use crate::logins::LoginOutcome;
use crate::refusals::SignInError;
use crate::services::Services;

/// One password check for `email` from the client's network, reserved before it is
/// judged: counted as a failure from the start, so concurrent checks cannot all slip in
/// before the first failure is counted. Does nothing when rate limits are off.
pub struct PasswordAttempt<'a> {
    services: &'a Services,
    email: &'a Email,
    /// `None` when rate limits are off.
    reserved: Option<ReservedAttempt>,
}

impl<'a> PasswordAttempt<'a> {
    /// Reserves the check, counting it toward both back-offs; refuses
    /// ([`SignInError::BackedOff`]) while `email` is backed off for this network.
    pub async fn begin(
        services: &'a Services,
        email: &'a Email,
        client: &Client,
    ) -> Result<Self, SignInError> {
        let Some(thresholds) = services.policy.backoff else {
            return Ok(Self {
                services,
                email,
                reserved: None,
            });
        };
        let now = Utc::now();
        match services
            .login_throttles
            .reserve_attempt(email, client.network, thresholds, now)
            .await?
        {
            Reservation::Reserved(reserved) => Ok(Self {
                services,
                email,
                reserved: Some(reserved),
            }),
            Reservation::BackedOff(until) => {
                services.logins.record(LoginOutcome::Throttled);
                Err(SignInError::BackedOff {
                    retry_after: (until - now).to_std().unwrap_or_default(),
                })
            }
        }
    }

    /// The password (or code) was wrong: it was counted when the check was reserved.
    pub fn failed(self) {}

    /// The password was right but nobody is signed in yet (a second step follows, or the
    /// account is refused): the check's count is given back; the network's earlier
    /// failures stay until a sign-in completes.
    pub async fn passed(self) -> Result<(), AppError> {
        if let Some(reserved) = self.reserved {
            self.services
                .login_throttles
                .withdraw(self.email, reserved)
                .await?;
        }
        Ok(())
    }

    /// The check completed a sign-in (or proved the password of a signed-in caller): this
    /// network starts afresh.
    pub async fn completed(self) -> Result<(), AppError> {
        if let Some(reserved) = self.reserved {
            self.services
                .login_throttles
                .signed_in(self.email, reserved)
                .await?;
        }
        Ok(())
    }
}
