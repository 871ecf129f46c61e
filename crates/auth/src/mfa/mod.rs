//! Second-factor primitives: TOTP (RFC 6238), the sealing of TOTP secrets at rest, and
//! recovery codes. No storage here: callers keep what [`SealedSecret`] and
//! [`RecoveryCodes`] hand them.

mod recovery;
mod seal;
mod totp;

pub use recovery::RecoveryCodes;
pub use seal::{MfaKey, SealedSecret, SecretSealer};
pub use totp::{TOTP_STEP_SECONDS, TotpSecret};

/// Why a second-factor secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The secret was sealed under a key this process does not hold.
    #[error("TOTP secret sealed under unknown key {0:?}")]
    UnknownKey(String),
    /// The sealed secret does not open under its key: altered, or moved to another
    /// account.
    #[error("TOTP secret does not open (altered, or not this account's)")]
    Corrupt,
}
