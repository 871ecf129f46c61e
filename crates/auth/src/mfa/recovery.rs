//! Recovery codes: ten per set, each 60 random bits written as `xxxx-xxxx-xxxx` in a
//! 32-letter alphabet without look-alikes; shown once, stored only as a keyed hash of the
//! normalised code (HMAC-SHA-256 under a key derived from `MFA_ENCRYPTION_KEY`, see
//! [`SecretSealer::recovery_code_hash`]: a copy of the database alone cannot be searched
//! for them), spent once each.

use super::SecretSealer;

/// Codes per set.
const CODES_PER_SET: usize = 10;
/// Characters per code (5 bits each: 60 bits).
const CHARS_PER_CODE: usize = 12;
/// Lower-case letters and digits without the look-alikes `0 o 1 l`: 32 of them.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A new set: the codes to show the user once, and the hashes to store.
pub struct RecoveryCodes {
    /// For the user's eyes only; never stored or logged.
    pub codes: Vec<String>,
    /// What the database keeps, in the same order.
    pub hashes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field("hashes", &self.hashes)
            .finish_non_exhaustive()
    }
}

impl RecoveryCodes {
    /// Ten fresh codes, hashed under `keys`' current key.
    pub fn generate(keys: &SecretSealer) -> Self {
        let codes: Vec<String> = (0..CODES_PER_SET).map(|_| one_code()).collect();
        let hashes = codes
            .iter()
            .map(|code| keys.recovery_code_hash(code))
            .collect();
        Self { codes, hashes }
    }
}

fn one_code() -> String {
    let bytes: [u8; CHARS_PER_CODE] = rand::random();
    let chars: Vec<char> = bytes
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(byte & 31)]))
        .collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::MfaKey;

    #[test]
    fn ten_distinct_codes_stored_only_as_hashes() {
        let keys = SecretSealer::new(MfaKey::new([1; 32]));
        let set = RecoveryCodes::generate(&keys);
        assert_eq!(set.codes.len(), 10);
        let distinct: std::collections::HashSet<_> = set.codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for (code, hash) in set.codes.iter().zip(&set.hashes) {
            assert_eq!(code.len(), 14, "{code}");
            assert_eq!(keys.recovery_code_hash(code), *hash);
            assert_eq!(
                keys.recovery_code_hash(&code.to_uppercase().replace('-', " ")),
                *hash
            );
            assert!(!format!("{set:?}").contains(code.as_str()));
        }
        // Another key, another hash; after a rotation the old key's hash is still found.
        let other = SecretSealer::new(MfaKey::new([2; 32]));
        assert_ne!(other.recovery_code_hash(&set.codes[0]), set.hashes[0]);
        let rotated = other.with_older_key(MfaKey::new([1; 32]));
        assert!(
            rotated
                .recovery_code_hashes(&set.codes[0])
                .contains(&set.hashes[0])
        );
    }
}
