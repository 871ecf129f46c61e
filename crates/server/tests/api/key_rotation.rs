//! A rotation of the signing key by hand signs nobody out: with
//! `JWT_PREVIOUS_PUBLIC_KEY_FILES` (a key pair) or `JWT_SECRET_KEY_PREVIOUS` (HMAC), tokens
//! the previous key signed keep verifying until they expire, while new tokens are signed
//! with the new key; a previous public key is listed in the JWK set, a secret never is.

use chrono::Utc;
use gatehouse_auth::{JwtCodec, JwtConfig, SigningAlgorithm, SigningKey};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TEST_SECRET, Tokens, assert_unauthorized, spawn_app_with};
use crate::signing::jwks;

backend_tests!(
    tokens_of_the_previous_key_pair_verify_and_its_public_key_is_listed,
    tokens_of_the_previous_secret_verify_and_no_secret_is_listed,
);

fn key_file(name: &str) -> String {
    format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn eddsa_codec(prefix: &str) -> JwtCodec {
    let key = SigningKey::from_pem(
        SigningAlgorithm::EdDSA,
        &std::fs::read(key_file(&format!("{prefix}-private.pem"))).unwrap(),
        &std::fs::read(key_file(&format!("{prefix}-public.pem"))).unwrap(),
    )
    .unwrap();
    JwtCodec::new(JwtConfig::new(key)).unwrap()
}

/// The `kid` in a token's header.
pub(crate) fn kid_of(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().map(str::to_owned)
}

async fn tokens_of_the_previous_key_pair_verify_and_its_public_key_is_listed(backend: Backend) {
    let previous_public = key_file("eddsa-previous-public.pem");
    let app = spawn_app_with(
        backend,
        &[
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_PRIVATE_KEY_FILE", &key_file("eddsa-private.pem")),
            ("JWT_PUBLIC_KEY_FILE", &key_file("eddsa-public.pem")),
            ("JWT_PREVIOUS_PUBLIC_KEY_FILES", &previous_public),
        ],
    )
    .await;
    let (current, previous) = (eddsa_codec("eddsa"), eddsa_codec("eddsa-previous"));
    let (_, _, tokens) = app.logged_in_user().await;
    let claims = current.verify_access(&tokens.access).unwrap();
    // New tokens: the current key.
    assert_eq!(
        kid_of(&tokens.access).as_deref(),
        current.jwks().keys[0].common.key_id.as_deref()
    );
    // A token the previous key signed for the same session (before the restart, say).
    let before = previous
        .issue_access(claims.user_id, claims.session_id, true, Utc::now())
        .unwrap();
    assert_ne!(kid_of(&before.token), kid_of(&tokens.access));
    assert_eq!(app.me(&before.token).await.status(), StatusCode::OK);
    // Its refresh token too, answered with tokens of the current key.
    let refresh = previous
        .issue_refresh(
            claims.user_id,
            claims.session_id,
            0,
            Utc::now(),
            Utc::now() + chrono::Duration::days(1),
        )
        .unwrap();
    let renewed = app.refresh(&refresh.token).await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed = Tokens::from_json(&renewed.json().await.unwrap());
    assert_eq!(kid_of(&renewed.access), kid_of(&tokens.access));
    // A key that is neither is refused, whatever `kid` it names.
    let stranger = JwtCodec::new(JwtConfig::new(SigningKey::generate_es256().unwrap()))
        .unwrap()
        .issue_access(claims.user_id, claims.session_id, true, Utc::now())
        .unwrap();
    assert_unauthorized(app.me(&stranger.token).await, true, Some("Invalid token")).await;

    let set = jwks(&app).await;
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|key| key["kid"].as_str())
        .collect();
    for token in [&tokens.access, &before.token] {
        assert!(kids.contains(&kid_of(token).unwrap().as_str()), "{set}");
    }
}

async fn tokens_of_the_previous_secret_verify_and_no_secret_is_listed(backend: Backend) {
    let previous_secret = "the-secret-before-the-rotation-32-bytes!";
    let new_secret = "the-secret-after-the-rotation-of-32-bytes";
    let app = spawn_app_with(
        backend,
        &[
            ("JWT_SECRET_KEY", new_secret),
            ("JWT_SECRET_KEY_PREVIOUS", previous_secret),
        ],
    )
    .await;
    let (_, _, tokens) = app.logged_in_user().await;
    let hmac = |secret: &str| JwtCodec::new(JwtConfig::new(SigningKey::hs256(secret.as_bytes())));
    let claims = hmac(new_secret)
        .unwrap()
        .verify_access(&tokens.access)
        .expect("new tokens are signed with the new secret");
    let before = hmac(previous_secret)
        .unwrap()
        .issue_access(claims.user_id, claims.session_id, true, Utc::now())
        .unwrap();
    assert_eq!(app.me(&before.token).await.status(), StatusCode::OK);
    let other = hmac(TEST_SECRET)
        .unwrap()
        .issue_access(claims.user_id, claims.session_id, true, Utc::now())
        .unwrap();
    assert_unauthorized(app.me(&other.token).await, true, Some("Invalid token")).await;
    let set = jwks(&app).await;
    let listed = set["keys"].as_array().unwrap();
    assert!(
        listed.iter().all(|key| key["kty"] != "oct"),
        "no secret is ever listed: {set}"
    );
}
