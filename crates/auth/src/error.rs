/// Failures of the hasher and the token codec that are not a client's fault.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Hasher parameters that argon2 refuses (e.g. memory below 8 × parallelism).
    #[error("invalid argon2 parameters: {0}")]
    HasherConfig(String),
    /// A stored hash is not a PHC string argon2 can read.
    #[error("stored password hash is malformed: {0}")]
    MalformedHash(String),
    /// A stored hash asks for more argon2 work than a login may cost (see
    /// [`PasswordHasher::check_stored_cost`](crate::PasswordHasher::check_stored_cost)).
    #[error("stored password hash's argon2 cost above the limit: {0}")]
    HashTooCostly(String),
    /// Hashing itself failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// Every hashing slot is busy and the wait would be longer than allowed: try again
    /// later.
    #[error("password hashing is saturated; a slot is {expected_wait:?} away")]
    Busy {
        /// How long the job would have waited.
        expected_wait: std::time::Duration,
    },
    /// The signing key does not fit the algorithm, or the PEM does not parse.
    #[error("invalid JWT key: {0}")]
    Key(#[source] jsonwebtoken::errors::Error),
    /// A private key file that is not an RSA (2048-4096 bits), P-256 or Ed25519 key.
    #[error("unusable key file: {0}")]
    KeyFile(String),
    /// The private key signs tokens its public key does not verify: the two files are
    /// not one key pair.
    #[error(
        "the private key does not match the public key (a probe token signed with one fails to verify with the other)"
    )]
    KeyMismatch,
    /// A JWK set that no key of a supported algorithm could be read from.
    #[error("invalid JWK set: {0}")]
    KeySet(String),
    /// Signing a token failed.
    #[error("signing a token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Why a presented token was not accepted. Every variant is the client's problem (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past `exp` (plus leeway).
    #[error("token has expired")]
    Expired,
    /// An access token where a refresh token belongs, or the other way round.
    #[error("wrong token type")]
    WrongType,
    /// Bad signature, wrong algorithm, malformed, missing or invalid claims.
    #[error("invalid token")]
    Invalid,
    /// The token names a `kid` the verifier has no key for (see
    /// [`TokenVerifier`](crate::TokenVerifier)); after fetching the key set again, it is
    /// simply invalid.
    #[error("token signed with an unknown key")]
    UnknownKey,
}
