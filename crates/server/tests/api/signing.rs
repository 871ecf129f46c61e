//! Asymmetric signing: RS256, ES256 and EdDSA key pairs from PEM files.

use chrono::Utc;
use gatehouse_auth::{JwtCodec, JwtConfig, SigningAlgorithm, SigningKey};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, Tokens, assert_unauthorized, spawn_app_with};

backend_tests!(every_asymmetric_algorithm_signs_and_verifies_over_http);

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
