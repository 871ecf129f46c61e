//! Single-use tokens for mails: 256 random bits, handed to the user once; only their
//! SHA-256 is stored, so a copy of the database cannot be turned into working links.
//! (A fast hash is enough: the input is random, not a guessable password.)

use sha2::{Digest, Sha256};

/// A new token: the text for the mail, and the hash to store.
pub struct OneTimeToken {
    /// Goes into the mail; never stored or logged.
    pub secret: String,
    /// What the database keeps: [`hash_one_time_token`] of `secret`.
    pub hash: String,
}

impl std::fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeToken")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl OneTimeToken {
    /// 256 bits from the operating system's generator, as 64 hex characters.
    pub fn generate() -> Self {
        let secret = hex(&rand::random::<[u8; 32]>());
        let hash = hash_one_time_token(&secret);
        Self { secret, hash }
    }
}

/// The stored form of a presented token.
pub fn hash_one_time_token(secret: &str) -> String {
    hex(&Sha256::digest(secret.trim().as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_only_as_their_hash() {
        let first = OneTimeToken::generate();
        let second = OneTimeToken::generate();
        assert_eq!(first.secret.len(), 64);
        assert_ne!(first.secret, second.secret);
        assert_eq!(hash_one_time_token(&first.secret), first.hash);
        assert_ne!(first.hash, first.secret);
        assert!(!format!("{first:?}").contains(&first.secret));
    }
}
