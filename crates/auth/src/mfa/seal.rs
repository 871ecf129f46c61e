//! TOTP secrets at rest: sealed with XChaCha20-Poly1305 under `MFA_ENCRYPTION_KEY`, bound
//! to their account (the account id is the associated data, so a sealed secret copied to
//! another account's row does not open), with the key's id stored beside each so keys can
//! be rotated: a sealer holds the current key and may hold older ones to open with.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    Key, XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use gatehouse_domain::{UserId, normalize_recovery_code};
use hmac::{Hmac, Mac};
use p256::elliptic_curve::zeroize::Zeroizing;
use sha2::{Digest, Sha256};

use super::{MfaError, TotpSecret};

/// Nonce length of XChaCha20-Poly1305: long enough to be drawn at random for every seal.
const NONCE_BYTES: usize = 24;

/// A 32-byte key. Never printed.
#[derive(Clone)]
pub struct MfaKey([u8; 32]);

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MfaKey(id {})", self.id())
    }
}

impl MfaKey {
    /// A key from its 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from its base64 text (standard or URL-safe alphabet, padded or not), as
    /// `openssl rand -base64 32` prints it; the error says what is wrong.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        let text = text.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or("is not base64 (make one with: openssl rand -base64 32)")?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!(
                "is {} bytes; it must be 32 (make one with: openssl rand -base64 32)",
                bytes.len()
            )
        })?;
        Ok(Self(bytes))
    }

    /// A key derived from other secret material (development: from `JWT_SECRET_KEY`).
    pub fn derive_from(material: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"gatehouse mfa key v1\0");
        hasher.update(material);
        Self(hasher.finalize().into())
    }

    /// A random key (development without any configured secret; secrets sealed under it
    /// do not survive a restart).
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// HMAC-SHA-256 of the normalised code under a key derived from this one (never the
    /// sealing key itself), hex.
    fn recovery_code_hash(&self, typed: &str) -> String {
        let mut derive = Sha256::new();
        derive.update(b"gatehouse recovery codes v1\0");
        derive.update(self.0);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&derive.finalize())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(normalize_recovery_code(typed).as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// A short public name of the key, stored with each secret it seals: 16 hex digits of
    /// a hash of the key (which cannot be turned back into the key).
    pub fn id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"gatehouse mfa key id\0");
        hasher.update(self.0);
        hasher.finalize()[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// A sealed TOTP secret as stored: the key's id and `base64(nonce ‖ ciphertext)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// [`MfaKey::id`] of the key it was sealed under.
    pub key_id: String,
    /// Nonce and ciphertext, base64.
    pub sealed: String,
}

/// Seals with the current key; opens with whichever held key the secret names.
#[derive(Debug, Clone)]
pub struct SecretSealer {
    current: MfaKey,
    older: Vec<MfaKey>,
}

impl SecretSealer {
    /// A sealer with one key.
    pub fn new(current: MfaKey) -> Self {
        Self {
            current,
            older: Vec::new(),
        }
    }

    /// The same sealer, also able to open what `older` sealed (key rotation).
    pub fn with_older_key(mut self, older: MfaKey) -> Self {
        self.older.push(older);
        self
    }

    /// Seals `secret` for `owner`'s row.
    pub fn seal(&self, owner: UserId, secret: &TotpSecret) -> SealedSecret {
        self.seal_bytes(owner.as_uuid().as_bytes(), secret.expose_bytes())
    }

    /// Seals `message`, bound to `bound_to` (the associated data: what it belongs to, so
    /// that a copy elsewhere does not open). The TOTP secrets are bound to their account's
    /// 16-byte id; other callers bind to a longer, labelled value.
    pub fn seal_bytes(&self, bound_to: &[u8], message: &[u8]) -> SealedSecret {
        let nonce_bytes: [u8; NONCE_BYTES] = rand::random();
        let cipher = XChaCha20Poly1305::new(&Key::from(self.current.0));
        let payload = Payload {
            msg: message,
            aad: bound_to,
        };
        let ciphertext = cipher
            .encrypt(&XNonce::from(nonce_bytes), payload)
            // Encryption fails only for messages beyond 256 GiB.
            .unwrap_or_default();
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&ciphertext);
        SealedSecret {
            key_id: self.current.id(),
            sealed: STANDARD.encode(blob),
        }
    }

    /// The id of the key [`seal`](Self::seal) uses now: what is sealed under another one
    /// is due to be sealed again.
    pub fn current_key_id(&self) -> String {
        self.current.id()
    }

    /// The stored form of a recovery code as typed (case, spaces and `-` do not matter),
    /// under the current key.
    pub fn recovery_code_hash(&self, typed: &str) -> String {
        self.current.recovery_code_hash(typed)
    }

    /// The stored forms of a typed recovery code under every held key, current first: a
    /// code issued before a key rotation is still found.
    pub fn recovery_code_hashes(&self, typed: &str) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .map(|key| key.recovery_code_hash(typed))
            .collect()
    }

    /// Opens `sealed`, stored in `owner`'s row.
    pub fn open(&self, owner: UserId, sealed: &SealedSecret) -> Result<TotpSecret, MfaError> {
        self.open_bytes(owner.as_uuid().as_bytes(), sealed)
            .map(|bytes| TotpSecret::from_bytes(bytes.to_vec()))
    }

    /// Opens what [`seal_bytes`](Self::seal_bytes) sealed, bound to `bound_to`.
    pub fn open_bytes(
        &self,
        bound_to: &[u8],
        sealed: &SealedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, MfaError> {
        let key = std::iter::once(&self.current)
            .chain(&self.older)
            .find(|key| key.id() == sealed.key_id)
            .ok_or_else(|| MfaError::UnknownKey(sealed.key_id.clone()))?;
        let blob = STANDARD
            .decode(&sealed.sealed)
            .map_err(|_| MfaError::Corrupt)?;
        if blob.len() <= NONCE_BYTES {
            return Err(MfaError::Corrupt);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| MfaError::Corrupt)?;
        let payload = Payload {
            msg: ciphertext,
            aad: bound_to,
        };
        XChaCha20Poly1305::new(&Key::from(key.0))
            .decrypt(&XNonce::from(nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| MfaError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_owner_under_its_key_only() {
        let owner = UserId::new();
        let sealer = SecretSealer::new(MfaKey::new([7; 32]));
        let secret = TotpSecret::generate();
        let sealed = sealer.seal(owner, &secret);
        assert_eq!(sealed.key_id, MfaKey::new([7; 32]).id());
        assert!(!sealed.sealed.contains(&secret.base32()));
        let opened = sealer.open(owner, &sealed).unwrap();
        assert_eq!(opened.expose_bytes(), secret.expose_bytes());

        // Another account's row: refused.
        assert!(matches!(
            sealer.open(UserId::new(), &sealed),
            Err(MfaError::Corrupt)
        ));
        // Another key: refused, naming the key it needs.
        let other = SecretSealer::new(MfaKey::new([8; 32]));
        assert!(matches!(
            other.open(owner, &sealed),
            Err(MfaError::UnknownKey(_))
        ));
        // A key with the same id but other bytes cannot exist; altered bytes are refused.
        let mut altered = sealed.clone();
        altered.sealed.replace_range(
            40..41,
            if &altered.sealed[40..41] == "A" {
                "B"
            } else {
                "A"
            },
        );
        assert!(matches!(
            sealer.open(owner, &altered),
            Err(MfaError::Corrupt)
        ));
        // Rotation: a new current key still opens what the old one sealed.
        let rotated = SecretSealer::new(MfaKey::new([8; 32])).with_older_key(MfaKey::new([7; 32]));
        assert!(rotated.open(owner, &sealed).is_ok());
        assert_eq!(
            rotated.seal(owner, &secret).key_id,
            MfaKey::new([8; 32]).id()
        );
    }

    #[test]
    fn keys_are_read_from_32_bytes_of_base64() {
        let text = STANDARD.encode([5_u8; 32]);
        assert_eq!(
            MfaKey::from_base64(&text).unwrap().id(),
            MfaKey::new([5; 32]).id()
        );
        assert!(
            MfaKey::from_base64("c2hvcnQ=")
                .unwrap_err()
                .contains("is 5 bytes")
        );
        assert!(
            MfaKey::from_base64("not base64!")
                .unwrap_err()
                .contains("not base64")
        );
    }

    #[test]
    fn keys_never_print_their_bytes() {
        let key = MfaKey::new([42; 32]);
        assert!(!format!("{key:?}").contains("42"));
        assert_eq!(key.id().len(), 16);
        assert_ne!(
            MfaKey::derive_from(b"a").id(),
            MfaKey::derive_from(b"b").id()
        );
    }
}
