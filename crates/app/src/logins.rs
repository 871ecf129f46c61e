//! How sign-ins end, counted: the flows record each outcome; the HTTP layer exports the
//! counter with its other metrics.

use prometheus::{IntCounterVec, Opts};

/// How a login attempt ended, as the `outcome` label spells it.
#[derive(Debug, Clone, Copy)]
pub enum LoginOutcome {
    /// Tokens issued.
    Success,
    /// Unknown email or wrong password.
    InvalidCredentials,
    /// Right password, deactivated account.
    Inactive,
    /// Right password, unverified address while verification is required.
    Unverified,
    /// Refused during the account's back-off.
    Throttled,
}

impl LoginOutcome {
    const ALL: [Self; 5] = [
        Self::Success,
        Self::InvalidCredentials,
        Self::Inactive,
        Self::Unverified,
        Self::Throttled,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Inactive => "inactive",
            Self::Unverified => "unverified",
            Self::Throttled => "throttled",
        }
    }
}

/// `{namespace}_logins_total` by outcome. Cheap to clone.
#[derive(Clone)]
pub struct LoginCounter(IntCounterVec);

impl LoginCounter {
    /// The counter, every outcome exported from the start at zero.
    pub fn new(namespace: &str) -> Result<Self, prometheus::Error> {
        let counter = IntCounterVec::new(
            Opts::new("logins_total", "Login attempts by outcome").namespace(namespace),
            &["outcome"],
        )?;
        for outcome in LoginOutcome::ALL {
            counter.with_label_values(&[outcome.label()]);
        }
        Ok(Self(counter))
    }

    /// Counts one login attempt.
    pub fn record(&self, outcome: LoginOutcome) {
        self.0.with_label_values(&[outcome.label()]).inc();
    }

    /// How many attempts ended with `outcome` (for tests and diagnostics).
    pub fn count(&self, outcome: LoginOutcome) -> u64 {
        self.0.with_label_values(&[outcome.label()]).get()
    }

    /// The counter, to register with a metrics registry.
    pub fn collector(&self) -> Box<dyn prometheus::core::Collector> {
        Box::new(self.0.clone())
    }
}
