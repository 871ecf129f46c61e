//! Asymmetric signing: RS256, ES256 and EdDSA key pairs from PEM files.

use chrono::Utc;
use gatehouse_auth::{JwtCodec, JwtConfig, SigningAlgorithm, SigningKey};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, Tokens, assert_unauthorized, spawn_app, spawn_app_with};

backend_tests!(
    every_asymmetric_algorithm_signs_and_verifies_over_http,
    the_published_jwks_verifies_issued_tokens_with_an_independent_jwt_library,
    an_hmac_server_publishes_only_the_providers_key,
);

fn key_file(name: &str) -> String {
    format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn every_asymmetric_algorithm_signs_and_verifies_over_http(backend: Backend) {
    for (algorithm, prefix) in [("RS256", "rs256"), ("ES256", "es256"), ("EdDSA", "eddsa")] {
        let private = key_file(&format!("{prefix}-private.pem"));
        let public = key_file(&format!("{prefix}-public.pem"));
        let app = spawn_app_with(
            backend.clone(),
            &[
                ("JWT_ALGORITHM", algorithm),
                ("JWT_PRIVATE_KEY_FILE", &private),
                ("JWT_PUBLIC_KEY_FILE", &public),
            ],
        )
        .await;
        let (_, _, tokens) = app.logged_in_user().await;
        assert_eq!(
            app.me(&tokens.access).await.status(),
            StatusCode::OK,
            "{algorithm}"
        );
        let renewed: Value = app.refresh(&tokens.refresh).await.json().await.unwrap();
        assert_eq!(
            app.me(&Tokens::from_json(&renewed).access).await.status(),
            StatusCode::OK
        );

        // Algorithm confusion: an HS256 token whose HMAC key is the public key's PEM text.
        let public_pem = std::fs::read(&public).unwrap();
        // Verifying with the key pair (the algorithm is pinned) proves how it was signed.
        let claims = app
            .codec_for(algorithm, &private, &public)
            .verify_access(&tokens.access)
            .unwrap();
        let confused = JwtCodec::new(JwtConfig::new(SigningKey::hs256(&public_pem)))
            .unwrap()
            .issue_access(claims.user_id, claims.session_id, true, Utc::now())
            .unwrap();
        assert_unauthorized(app.me(&confused.token).await, true, Some("Invalid token")).await;
    }
}

impl crate::helpers::TestApp {
    /// A codec with the app's key pair, to read the claims of its tokens.
    fn codec_for(&self, algorithm: &str, private: &str, public: &str) -> JwtCodec {
        let key = SigningKey::from_pem(
            SigningAlgorithm::parse(algorithm).unwrap(),
            &std::fs::read(private).unwrap(),
            &std::fs::read(public).unwrap(),
        )
        .unwrap();
        JwtCodec::new(JwtConfig::new(key)).unwrap()
    }
}

async fn key_pair_app(backend: Backend, algorithm: &str, prefix: &str) -> TestApp {
    let private = key_file(&format!("{prefix}-private.pem"));
    let public = key_file(&format!("{prefix}-public.pem"));
    spawn_app_with(
        backend,
        &[
            ("JWT_ALGORITHM", algorithm),
            ("JWT_PRIVATE_KEY_FILE", &private),
            ("JWT_PUBLIC_KEY_FILE", &public),
        ],
    )
    .await
}

pub(crate) async fn jwks(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn b64(value: &Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.as_str().unwrap())
        .unwrap()
}

/// The `kid` in a compact JWS header, read without any JWT library.
fn header_kid(token: &str) -> String {
    let header: Value =
        serde_json::from_slice(&b64(&Value::from(token.split('.').next().unwrap()))).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// Verifies `token` against `jwk` with jwt-simple; `Err` when it does not verify.
fn independently_verify(jwk: &Value, token: &str) -> Result<(), String> {
    use jwt_simple::prelude::*;
    let options = VerificationOptions {
        required_key_id: Some(jwk["kid"].as_str().unwrap().to_owned()),
        ..Default::default()
    };
    let verified = match jwk["kty"].as_str().unwrap() {
        "RSA" => RS256PublicKey::from_components(&b64(&jwk["n"]), &b64(&jwk["e"]))
            .unwrap()
            .verify_token::<NoCustomClaims>(token, Some(options)),
        "OKP" => Ed25519PublicKey::from_bytes(&b64(&jwk["x"]))
            .unwrap()
            .verify_token::<NoCustomClaims>(token, Some(options)),
        other => panic!("unexpected kty {other}"),
    };
    verified.map(|_| ()).map_err(|e| e.to_string())
}

async fn the_published_jwks_verifies_issued_tokens_with_an_independent_jwt_library(
    backend: Backend,
) {
    for (algorithm, prefix, kty) in [("RS256", "rs256", "RSA"), ("EdDSA", "eddsa", "OKP")] {
        let app = key_pair_app(backend.clone(), algorithm, prefix).await;
        let (_, _, tokens) = app.logged_in_user().await;
        let set = jwks(&app).await;
        let keys = set["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{set}");
        let jwk = &keys[0];
        assert_eq!(jwk["kty"], kty);
        assert_eq!(jwk["alg"], algorithm);
        assert_eq!(jwk["use"], "sig");
        for private_part in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(jwk.get(private_part).is_none(), "{private_part} published");
        }
        assert_eq!(header_kid(&tokens.access), jwk["kid"].as_str().unwrap());
        assert_eq!(header_kid(&tokens.refresh), jwk["kid"].as_str().unwrap());
        independently_verify(jwk, &tokens.access).unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        // One changed character in the middle of the payload, and the signature no
        // longer holds.
        let mut parts: Vec<String> = tokens.access.split('.').map(str::to_owned).collect();
        let middle = parts[1].len() / 2;
        let flipped = if &parts[1][middle..=middle] == "A" {
            "B"
        } else {
            "A"
        };
        parts[1].replace_range(middle..=middle, flipped);
        assert!(
            independently_verify(jwk, &parts.join(".")).is_err(),
            "{algorithm}"
        );
    }
}

/// An HMAC secret is never published. The set lists the OpenID Provider's key alone: in
/// development one generated for the run (ES256), in production none without
/// `OIDC_SIGNING_KEY_FILE` (the set is then empty), else the file's.
async fn an_hmac_server_publishes_only_the_providers_key(backend: Backend) {
    let app = spawn_app(backend.clone()).await;
    let set = jwks(&app).await;
    assert!(!set.to_string().contains(crate::helpers::TEST_SECRET));
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{set}");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["kty"], "EC");
    assert!(keys[0].get("d").is_none(), "no private part");

    let production = [
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", crate::helpers::TEST_SECRET),
        ("MFA_ENCRYPTION_KEY", crate::helpers::TEST_MFA_KEY),
        ("ARGON2_MEMORY_KIB", "19456"),
        ("ARGON2_ITERATIONS", "2"),
    ];
    let without = spawn_app_with(backend.clone(), &production).await;
    assert_eq!(jwks(&without).await, serde_json::json!({"keys": []}));

    let key_file = key_file("eddsa-private.pem");
    let with_file = [
        &production[..],
        &[("OIDC_SIGNING_KEY_FILE", key_file.as_str())],
    ]
    .concat();
    let with = spawn_app_with(backend, &with_file).await;
    let set = jwks(&with).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{set}");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert!(!set.to_string().contains(crate::helpers::TEST_SECRET));
}
