//! Signing keys: the supported algorithms, loading an HMAC secret or a PEM key pair, and
//! the public key as a JWK (with its RFC 7638 thumbprint as `kid`).

use std::fmt;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    errors::ErrorKind,
    jwk::{Jwk, PublicKeyUse, ThumbprintHash},
};

use crate::AuthError;

/// The signing algorithms Gatehouse supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// HMAC-SHA-256 with a shared secret.
    HS256,
    /// HMAC-SHA-384 with a shared secret.
    HS384,
    /// HMAC-SHA-512 with a shared secret.
    HS512,
    /// RSA PKCS#1 v1.5 with SHA-256, from a key pair.
    RS256,
    /// ECDSA P-256 with SHA-256, from a key pair.
    ES256,
    /// Ed25519, from a key pair.
    EdDSA,
}

impl SigningAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [Self; 6] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::ES256,
        Self::EdDSA,
    ];

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses the JOSE name (`HS256`, `RS256`, …), case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "RS256" => Self::RS256,
            "ES256" => Self::ES256,
            "EDDSA" => Self::EdDSA,
            _ => return None,
        })
    }

    /// Whether the algorithm signs with a shared secret (else with a key pair).
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// The asymmetric algorithm a JOSE name stands for; HMAC and unsupported names are
    /// `None`, so a key set can never turn a public key into an HMAC secret.
    pub(crate) fn asymmetric_from_jose(algorithm: Algorithm) -> Option<Self> {
        match algorithm {
            Algorithm::RS256 => Some(Self::RS256),
            Algorithm::ES256 => Some(Self::ES256),
            Algorithm::EdDSA => Some(Self::EdDSA),
            _ => None,
        }
    }

    pub(crate) fn jose(self) -> Algorithm {
        match self {
            Self::HS256 => Algorithm::HS256,
            Self::HS384 => Algorithm::HS384,
            Self::HS512 => Algorithm::HS512,
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }
}

/// The key material for one algorithm: what signs and what verifies.
#[derive(Clone)]
pub struct SigningKey {
    pub(super) algorithm: SigningAlgorithm,
    pub(super) encoding: EncodingKey,
    pub(super) decoding: DecodingKey,
    /// The public key as a JWK with its `kid` (key pairs only: a secret is never
    /// published).
    pub(super) public_jwk: Option<Jwk>,
}

impl SigningKey {
    /// An HMAC key. `algorithm` must be one of the HS algorithms.
    pub fn hmac(algorithm: SigningAlgorithm, secret: &[u8]) -> Result<Self, AuthError> {
        if !algorithm.is_hmac() {
            return Err(AuthError::Key(ErrorKind::InvalidAlgorithm.into()));
        }
        Ok(Self {
            algorithm,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        })
    }

    /// An HS256 key: the default algorithm.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            algorithm: SigningAlgorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        }
    }

    /// A key pair from PEM text, for RS256, ES256 or EdDSA.
    pub fn from_pem(
        algorithm: SigningAlgorithm,
        private_pem: &[u8],
        public_pem: &[u8],
    ) -> Result<Self, AuthError> {
        let (encoding, decoding) = match algorithm {
            SigningAlgorithm::RS256 => (
                EncodingKey::from_rsa_pem(private_pem),
                DecodingKey::from_rsa_pem(public_pem),
            ),
            SigningAlgorithm::ES256 => (
                EncodingKey::from_ec_pem(private_pem),
                DecodingKey::from_ec_pem(public_pem),
            ),
            SigningAlgorithm::EdDSA => (
                EncodingKey::from_ed_pem(private_pem),
                DecodingKey::from_ed_pem(public_pem),
            ),
            _ => return Err(AuthError::Key(ErrorKind::InvalidAlgorithm.into())),
        };
        let decoding = decoding.map_err(AuthError::Key)?;
        let public_jwk = public_jwk(&decoding, algorithm)?;
        Ok(Self {
            algorithm,
            encoding: encoding.map_err(AuthError::Key)?,
            decoding,
            public_jwk: Some(public_jwk),
        })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The public key as a JWK with its `kid`; `None` for an HMAC secret, which is never
    /// published.
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public_jwk.as_ref()
    }

    /// The key id tokens carry in their header: the public key's RFC 7638 thumbprint
    /// (SHA-256), so it changes exactly when the key does. `None` for HMAC secrets.
    pub fn kid(&self) -> Option<&str> {
        self.public_jwk
            .as_ref()
            .and_then(|jwk| jwk.common.key_id.as_deref())
    }
}

/// The public half of a key pair as a JWK: `kty` and the key's parameters, `alg`,
/// `use: sig`, and the thumbprint as `kid`.
fn public_jwk(decoding: &DecodingKey, algorithm: SigningAlgorithm) -> Result<Jwk, AuthError> {
    let mut jwk =
        Jwk::from_decoding_key(decoding, Some(algorithm.jose())).map_err(AuthError::Key)?;
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(AuthError::Key)?;
    jwk.common.key_id = Some(kid);
    Ok(jwk)
}

/// A key that only verifies: one that signed before a rotation by hand
/// (`JWT_PREVIOUS_PUBLIC_KEY_FILES`, `JWT_SECRET_KEY_PREVIOUS`). Tokens it signed keep
/// verifying until they expire; nothing new is signed with it.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(super) algorithm: SigningAlgorithm,
    pub(super) decoding: DecodingKey,
    /// The public key as a JWK with its `kid` (listed in the JWK set); `None` for an HMAC
    /// secret, which is never published.
    pub(super) public_jwk: Option<Jwk>,
}

impl VerifyingKey {
    /// A previous key pair's public half, from PEM text, for RS256, ES256 or EdDSA.
    pub fn from_public_pem(algorithm: SigningAlgorithm, pem: &[u8]) -> Result<Self, AuthError> {
        let decoding = match algorithm {
            SigningAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
            SigningAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
            SigningAlgorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            _ => return Err(AuthError::Key(ErrorKind::InvalidAlgorithm.into())),
        }
        .map_err(AuthError::Key)?;
        let public_jwk = public_jwk(&decoding, algorithm)?;
        Ok(Self {
            algorithm,
            decoding,
            public_jwk: Some(public_jwk),
        })
    }

    /// A previous HMAC secret. `algorithm` must be one of the HS algorithms.
    pub fn hmac(algorithm: SigningAlgorithm, secret: &[u8]) -> Result<Self, AuthError> {
        if !algorithm.is_hmac() {
            return Err(AuthError::Key(ErrorKind::InvalidAlgorithm.into()));
        }
        Ok(Self {
            algorithm,
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        })
    }

    /// The algorithm its tokens were signed with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// Its `kid` (the public key's thumbprint); `None` for an HMAC secret.
    pub fn kid(&self) -> Option<&str> {
        self.public_jwk
            .as_ref()
            .and_then(|jwk| jwk.common.key_id.as_deref())
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}
