//! The keys in use, replaceable while requests read them: with managed keys a rotation
//! reaches every codec that shares the ring (gatehouse's own tokens and the OpenID
//! Provider's) without a restart.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use jsonwebtoken::jwk::JwkSet;

use super::{SigningKey, VerifyingKey};

/// One key that signs; it and the others verify (a key pair picked by the token's
/// `kid`, an HMAC secret tried in turn).
#[derive(Debug, Clone)]
pub struct KeySet {
    signing: SigningKey,
    verifying: Vec<VerifyingKey>,
}

impl KeySet {
    /// `signing` signs; tokens of `verifying` (and of `signing`) verify. A verifying key
    /// with the signing key's `kid` is dropped.
    pub fn new(signing: SigningKey, verifying: Vec<VerifyingKey>) -> Self {
        let verifying = verifying
            .into_iter()
            .filter(|key| key.kid().is_none() || key.kid() != signing.kid())
            .collect();
        Self { signing, verifying }
    }

    /// The key that signs.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The keys that only verify.
    pub fn verifying(&self) -> &[VerifyingKey] {
        &self.verifying
    }

    /// The public keys, as a JWK set: the signing key's first (HMAC secrets are never
    /// listed).
    pub fn jwks(&self) -> JwkSet {
        let others = self
            .verifying
            .iter()
            .filter_map(|key| key.public_jwk.as_ref());
        JwkSet {
            keys: self
                .signing
                .public_jwk
                .iter()
                .chain(others)
                .cloned()
                .collect(),
        }
    }
}

/// A [`KeySet`] shared by every codec cloned from one, replaced as a whole.
#[derive(Debug, Clone)]
pub struct KeyRing(Arc<ArcSwap<KeySet>>);

impl KeyRing {
    /// A ring holding `set`.
    pub fn new(set: KeySet) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(set)))
    }

    /// The set in use now (cheap: no lock, no copy).
    pub fn load(&self) -> Guard<Arc<KeySet>> {
        self.0.load()
    }

    /// Every holder signs and verifies with `set` from now on.
    pub fn replace(&self, set: KeySet) {
        self.0.store(Arc::new(set));
    }
}

impl SigningKey {
    /// The verifying half of this key (its public key, or the secret for HMAC).
    pub fn verifying(&self) -> VerifyingKey {
        VerifyingKey {
            algorithm: self.algorithm,
            decoding: self.decoding.clone(),
            public_jwk: self.public_jwk.clone(),
        }
    }
}
