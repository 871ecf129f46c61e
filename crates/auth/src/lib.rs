//! Password hashing and token handling for Gatehouse, usable by any Rust service.
//!
//! - [`PasswordHasher`] hashes and verifies argon2 passwords on threads of its own, at
//!   most [`HasherConfig::max_concurrent`] at a time, so a burst of logins queues instead
//!   of stalling the async workers or exhausting memory. It verifies any argon2 PHC hash
//!   (argon2id/i/d, e.g. from Python's pwdlib or argon2-cffi) whose cost stays within
//!   bounds, and tells the caller when a hash should be upgraded to the configured
//!   parameters.
//! - [`JwtCodec`] issues and verifies access and refresh tokens with a pinned algorithm;
//!   the token's own `alg` header is never trusted. Key-pair tokens carry the public key's
//!   thumbprint as `kid`, and [`JwtCodec::jwks`] publishes the public key.
//! - [`TokenVerifier`] verifies access tokens in other services from the shared secret or
//!   the published JWK set, without the power to issue them.
//!
//! Neither reads the environment: both take their settings by value.
//!
//! ```
//! use gatehouse_auth::{HasherConfig, JwtCodec, JwtConfig, PasswordHasher, SigningKey};
//! use gatehouse_domain::{Password, SessionId, UserId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Cheap parameters keep the example fast; production uses the defaults.
//! let hasher = PasswordHasher::new(HasherConfig { memory_kib: 1024, iterations: 1, parallelism: 1, max_concurrent: 2, max_wait: std::time::Duration::from_secs(10) })?;
//! let hash = hasher.hash(Password::presented("correct horse battery staple")).await?;
//! let check = hasher.verify(Password::presented("correct horse battery staple"), hash).await?;
//! assert!(check.is_match());
//!
//! let codec = JwtCodec::new(JwtConfig::new(SigningKey::hs256(b"a secret of at least thirty-two bytes!")))?;
//! let issued = codec.issue_access(UserId::new(), SessionId::new(), true, chrono::Utc::now())?;
//! let verified = codec.verify_access(&issued.token)?;
//! assert!(verified.fresh);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod hasher;
mod jwt;
mod mfa;
#[cfg(feature = "oidc")]
mod oidc;
mod one_time;
#[cfg(feature = "passkeys")]
mod passkeys;
mod verifier;

pub use error::{AuthError, TokenError};
/// The `aal` claim's values, as verified [`AccessClaims`] carry them.
pub use gatehouse_domain::Aal;
pub use hasher::{
    HasherConfig, MAX_STORED_ITERATIONS, MAX_STORED_MEMORY_KIB, MAX_STORED_PARALLELISM,
    MAX_STORED_WORK_FACTOR, PasswordCheck, PasswordHasher,
};
pub use jsonwebtoken::jwk::JwkSet;
pub use jwt::{
    ACCESS_TOKEN_TYPE, AccessClaims, ClientAccessClaims, IdTokenFacts, IdTokenHint, IssuedToken,
    JwtCodec, JwtConfig, KeyRing, KeySet, ProviderTokens, RefreshClaims, SigningAlgorithm,
    SigningKey, TokenType, VerifyingKey, pkce_challenge,
};
pub use mfa::{
    MfaError, MfaKey, RecoveryCodes, SealedSecret, SecretSealer, TOTP_STEP_SECONDS, TotpSecret,
};
#[cfg(feature = "oidc")]
pub use oidc::{AuthorizationStart, OidcError, OidcProvider, OidcProviderConfig, VerifiedIdentity};
pub use one_time::{OneTimeToken, hash_one_time_token};
#[cfg(feature = "passkeys")]
pub use passkeys::{
    Ceremony, NewPasskey, PasskeyConfig, PasskeyError, PasskeyUse, Passkeys, PresentedCredential,
    credential_id_hash, new_user_handle,
};
pub use verifier::{TokenVerifier, VerifierConfig};
