//! Recovery codes: ten per set, each 60 random bits written as `xxxx-xxxx-xxxx` in a
//! 32-letter alphabet without look-alikes; shown once, stored only as SHA-256 of the
//! normalised code (a fast hash is enough for random input), spent once each.

use gatehouse_domain::normalize_recovery_code;
use sha2::{Digest, Sha256};

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
    /// Ten fresh codes.
    pub fn generate() -> Self {
        let codes: Vec<String> = (0..CODES_PER_SET).map(|_| one_code()).collect();
        let hashes = codes.iter().map(|code| hash_recovery_code(code)).collect();
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

/// The stored form of a code as typed (case, spaces and `-` do not matter).
pub fn hash_recovery_code(typed: &str) -> String {
    Sha256::digest(normalize_recovery_code(typed).as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_stored_only_as_hashes() {
        let set = RecoveryCodes::generate();
        assert_eq!(set.codes.len(), 10);
        let distinct: std::collections::HashSet<_> = set.codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for (code, hash) in set.codes.iter().zip(&set.hashes) {
            assert_eq!(code.len(), 14, "{code}");
            assert_eq!(hash_recovery_code(code), *hash);
            assert_eq!(
                hash_recovery_code(&code.to_uppercase().replace('-', " ")),
                *hash
            );
            assert!(!format!("{set:?}").contains(code.as_str()));
        }
    }
}
