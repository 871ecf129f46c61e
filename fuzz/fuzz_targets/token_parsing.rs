//! Any bytes presented as a token: verification never panics, and nothing but a token
//! this codec issued is accepted.
#![no_main]

use std::sync::LazyLock;

use gatehouse_auth::{JwtCodec, JwtConfig, SigningKey};
use libfuzzer_sys::fuzz_target;

static CODEC: LazyLock<JwtCodec> = LazyLock::new(|| {
    JwtCodec::new(JwtConfig::new(SigningKey::hs256(
        b"fuzzing-secret-of-at-least-32-bytes!",
    )))
    .expect("a valid HS256 configuration")
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    // Without the secret, no input can carry a valid signature: every one is refused.
    assert!(CODEC.verify_access(token).is_err());
    assert!(CODEC.verify_refresh(token).is_err());
    assert!(CODEC.verify_any(token).is_err());
});
