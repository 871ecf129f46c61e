use chrono::{Duration, Utc};
use gatehouse_auth::{JwtCodec, JwtConfig, SigningAlgorithm, SigningKey};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    Backend, TEST_SECRET, assert_problem, assert_session_ended, assert_unauthorized, spawn_app,
    user_id,
};

backend_tests!(
    me_returns_the_callers_account,
    me_without_a_token_is_401_with_a_bearer_challenge,
    me_with_a_refresh_token_is_401,
    me_rejects_forged_tampered_expired_and_malformed_tokens,
    me_for_a_deleted_user_is_401_user_not_found,
    me_for_an_inactive_user_is_403,
    me_after_the_session_is_revoked_is_401,
);

async fn me_returns_the_callers_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, tokens) = app.logged_in_user().await;
    let response = app.me(&tokens.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["email"], email);
    assert!(body.get("hashed_password").is_none());
    assert!(!body.to_string().contains("argon2"));
}

async fn me_without_a_token_is_401_with_a_bearer_challenge(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.get(app.url("/users/me")).send().await.unwrap();
    assert_unauthorized(response, false, Some("Not authenticated")).await;
}

async fn me_with_a_refresh_token_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    assert_unauthorized(
        app.me(&tokens.refresh).await,
        true,
        Some("Wrong token type"),
    )
    .await;
}

async fn me_rejects_forged_tampered_expired_and_malformed_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, id, tokens) = app.logged_in_user().await;
    let claims = app.codec().verify_access(&tokens.access).unwrap();
    let mut parts = tokens.access.split('.');
    let (_header, payload, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );

    // {"alg":"none","typ":"JWT"} with the real claims, with and without a signature.
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    // Same claims and secret, but HS512: the algorithm is pinned, so this is refused.
    let hs512 = JwtCodec::new(JwtConfig::new(
        SigningKey::hmac(SigningAlgorithm::HS512, TEST_SECRET.as_bytes()).unwrap(),
    ))
    .unwrap()
    .issue_access(claims.user_id, claims.session_id, true, Utc::now())
    .unwrap()
    .token;
    // Signed with another secret.
    let other_secret = JwtCodec::new(JwtConfig::new(SigningKey::hs256(
        b"some-other-secret-that-is-32-bytes-long",
    )))
    .unwrap()
    .issue_access(claims.user_id, claims.session_id, true, Utc::now())
    .unwrap()
    .token;
    // The payload swapped for another user's, signature kept.
    let other_payload = app
        .codec()
        .issue_access(
            gatehouse_domain::UserId::new(),
            claims.session_id,
            true,
            Utc::now(),
        )
        .unwrap()
        .token;
    let swapped = format!(
        "{}.{}.{signature}",
        tokens.access.split('.').next().unwrap(),
        other_payload.split('.').nth(1).unwrap()
    );
    let flipped_signature = format!(
        "{}.{payload}.{}",
        tokens.access.split('.').next().unwrap(),
        signature.chars().rev().collect::<String>()
    );
    for token in [
        format!("{none}.{payload}."),
        format!("{none}.{payload}"),
        hs512,
        other_secret,
        swapped,
        flipped_signature,
        "not-a-jwt".to_owned(),
        "a.b.c".to_owned(),
        "%%%".to_owned(),
    ] {
        assert_unauthorized(app.me(&token).await, true, Some("Invalid token")).await;
    }

    let long_ago = Utc::now() - Duration::hours(2);
    let expired = app
        .codec()
        .issue_access(user_id(&id), claims.session_id, true, long_ago)
        .unwrap();
    assert_unauthorized(
        app.me(&expired.token).await,
        true,
        Some("Token has expired"),
    )
    .await;
}

async fn me_for_a_deleted_user_is_401_user_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, id, tokens) = app.logged_in_user().await;
    assert!(app.users().delete(user_id(&id)).await.unwrap());
    assert_unauthorized(app.me(&tokens.access).await, true, Some("User not found")).await;
}

async fn me_for_an_inactive_user_is_403(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, id, tokens) = app.logged_in_user().await;
    app.users()
        .set_active(user_id(&id), false, Utc::now())
        .await
        .unwrap();
    assert_problem(app.me(&tokens.access).await, 403, Some("Inactive user")).await;
}

async fn me_after_the_session_is_revoked_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let session = app
        .codec()
        .verify_access(&tokens.access)
        .unwrap()
        .session_id;
    app.sessions().revoke(session, Utc::now()).await.unwrap();
    assert_session_ended(app.me(&tokens.access).await).await;
}
