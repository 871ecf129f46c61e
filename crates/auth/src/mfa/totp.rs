//! Time-based one-time codes (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps; a code of
//! the current step or one step either side is accepted. Which step matched is returned,
//! so the caller can accept each step at most once.

use secrecy::{ExposeSecret, SecretBox};
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per TOTP step.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Digits per code.
const DIGITS: usize = 6;
/// Random bytes per secret (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;

/// A TOTP shared secret. Never printed.
pub struct TotpSecret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

impl TotpSecret {
    /// 160 bits from the operating system's generator.
    pub fn generate() -> Self {
        Self::from_bytes(rand::random::<[u8; SECRET_BYTES]>().to_vec())
    }

    /// A secret from its raw bytes (as unsealed from storage).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A secret from the base32 text an app is given (for tools and tests); `None` when
    /// it is not base32.
    pub fn from_base32(text: &str) -> Option<Self> {
        Secret::Encoded(text.trim().to_owned())
            .to_bytes()
            .ok()
            .map(Self::from_bytes)
    }

    /// The raw bytes, to be sealed for storage.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// The base32 text an authenticator app accepts when typed in.
    pub fn base32(&self) -> String {
        Secret::Raw(self.expose_bytes().to_vec())
            .to_encoded()
            .to_string()
    }

    /// The `otpauth://totp/…` URI for a QR code: `issuer` (the app's name) and `account`
    /// (the email) label the entry in the authenticator.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let encode = |text: &str| {
            form_urlencoded::byte_serialize(text.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={TOTP_STEP_SECONDS}",
            encode(issuer),
            encode(account),
            self.base32(),
            encode(issuer),
        )
    }

    /// The code for the step holding `unix_seconds` (for tests and tools).
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp(DIGITS).generate(unix_seconds)
    }

    /// The step (`unix_seconds / 30`) whose code `code` is, among the current step and
    /// the ones before and after it; `None` when it is none of them. Codes are compared
    /// in constant time.
    pub fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<u64> {
        let current = unix_seconds / TOTP_STEP_SECONDS;
        let totp = self.totp(DIGITS);
        let mut found = None;
        // Every candidate is computed and compared, so the time taken does not tell which
        // step (if any) matched.
        for step in [current.saturating_sub(1), current, current + 1] {
            let expected = totp.generate(step * TOTP_STEP_SECONDS);
            if constant_time_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    fn totp(&self, digits: usize) -> TOTP {
        // `new_unchecked`: the length rules of `new` are for secrets typed by people; ours
        // are always 160 random bits (and the RFC's test secrets are fixed).
        TOTP::new_unchecked(
            Algorithm::SHA1,
            digits,
            1,
            TOTP_STEP_SECONDS,
            self.expose_bytes().to_vec(),
        )
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, the SHA-1 rows: time, and the 8-digit code.
    const RFC_6238_SHA1: &[(u64, &str)] = &[
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, code) in RFC_6238_SHA1 {
            assert_eq!(secret.totp(8).generate(*time), *code, "T = {time}");
            // Six digits are the last six of the eight (the same truncation, mod 10^6).
            assert_eq!(secret.code_at(*time), code[2..], "T = {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015;
        let step = now / TOTP_STEP_SECONDS;
        for (offset, expected) in [
            (-60_i64, None),
            (-30, Some(step - 1)),
            (0, Some(step)),
            (30, Some(step + 1)),
            (60, None),
        ] {
            let code = secret.code_at(now.checked_add_signed(offset).unwrap());
            let matched = secret.matching_step(&code, now);
            // A neighbouring step's code may by chance equal another's; skip that case.
            if expected.is_none() && matched.is_some() {
                continue;
            }
            assert_eq!(matched, expected, "offset {offset}");
        }
        assert_eq!(secret.matching_step("12345", now), None);
    }

    #[test]
    fn the_uri_names_the_issuer_and_account_and_carries_the_secret() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let read = TotpSecret::from_base32(&secret.base32()).unwrap();
        assert_eq!(read.expose_bytes(), secret.expose_bytes());
        assert_eq!(
            secret.otpauth_uri("AuthX Starter", "you@example.com"),
            "otpauth://totp/AuthX%20Starter:you%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=AuthX%20Starter&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret([REDACTED])");
    }
}
