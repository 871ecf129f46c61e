use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    Backend, TestApp, Tokens, assert_session_ended, assert_unauthorized, spawn_app, spawn_app_with,
    user_id,
};

backend_tests!(
    refresh_returns_new_tokens_one_generation_newer,
    a_starter_client_resending_its_first_refresh_token_keeps_working,
    refresh_with_a_reused_token_revokes_the_session,
    concurrent_refreshes_with_the_same_token_all_succeed,
    refresh_with_an_access_token_is_401,
    refresh_without_a_token_is_401_with_a_bearer_challenge,
    refresh_with_a_garbage_expired_or_forged_token_is_401,
    refresh_for_a_deleted_or_inactive_user_is_401,
    refresh_of_a_revoked_session_is_401,
    without_rotation_the_refresh_token_is_repeated,
    a_replayed_token_cannot_keep_a_second_copy_of_a_generation_alive,
    a_thief_who_refreshes_first_loses_the_session_when_the_owner_refreshes,
    concurrent_refreshes_within_the_grace_period_succeed_then_a_late_copy_is_reuse,
    strict_rotation_revokes_a_stale_first_token,
    the_rotation_setting_accepts_the_starters_booleans,
);

async fn refresh_returns_new_tokens_one_generation_newer(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, id, tokens) = app.logged_in_user().await;
    let response = app.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    let renewed = Tokens::from_json(&body);
    let codec = app.codec();
    let access = codec.verify_access(&renewed.access).unwrap();
    assert!(!access.fresh, "refreshed access tokens are not fresh");
    assert_eq!(access.user_id, user_id(&id));
    assert_eq!(
        codec.verify_refresh(&renewed.refresh).unwrap().generation,
        1
    );
    assert_eq!(app.me(&renewed.access).await.status(), StatusCode::OK);
    let next: Value = app.refresh(&renewed.refresh).await.json().await.unwrap();
    let next = Tokens::from_json(&next);
    assert_eq!(codec.verify_refresh(&next.refresh).unwrap().generation, 2);
}

async fn a_starter_client_resending_its_first_refresh_token_keeps_working(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    for _ in 0..5 {
        let response = app.refresh(&tokens.refresh).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            app.me(body["access_token"].as_str().unwrap())
                .await
                .status(),
            StatusCode::OK
        );
    }
}

async fn refresh_with_a_reused_token_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, first) = app.logged_in_user().await;
    // The owner rotates twice; generation 1 is used, so generation 0 is now stale.
    let second = Tokens::from_json(&app.refresh(&first.refresh).await.json().await.unwrap());
    let third = Tokens::from_json(&app.refresh(&second.refresh).await.json().await.unwrap());
    // A thief replays the stolen first token.
    let response = app.refresh(&first.refresh).await;
    assert_unauthorized(
        response,
        true,
        Some("Refresh token reuse detected; session revoked"),
    )
    .await;
    // Every token of the session is dead now: the owner's newest refresh and all access tokens.
    assert_unauthorized(app.refresh(&third.refresh).await, true, None).await;
    for access in [&first.access, &second.access, &third.access] {
        assert_unauthorized(app.me(access).await, true, None).await;
    }
    let session = app
        .codec()
        .verify_refresh(&first.refresh)
        .unwrap()
        .session_id;
    assert!(
        app.sessions()
            .find(session)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

async fn concurrent_refreshes_with_the_same_token_all_succeed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let attempts = (0..10).map(|_| app.refresh(&tokens.refresh));
    for response in futures_util::future::join_all(attempts).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
}

async fn refresh_with_an_access_token_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    assert_unauthorized(
        app.refresh(&tokens.access).await,
        true,
        Some("Wrong token type"),
    )
    .await;
}

async fn refresh_without_a_token_is_401_with_a_bearer_challenge(backend: Backend) {
    let app = spawn_app(backend).await;
    let bare = app
        .client
        .post(app.url("/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(bare, false, Some("Not authenticated")).await;
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"] {
        let response = app
            .client
            .post(app.url("/auth/refresh"))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_unauthorized(response, false, Some("Not authenticated")).await;
    }
}

async fn refresh_with_a_garbage_expired_or_forged_token_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, id, tokens) = app.logged_in_user().await;
    for garbage in [
        "abc",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        &tokens.refresh[..tokens.refresh.len() - 2],
    ] {
        assert_unauthorized(app.refresh(garbage).await, true, Some("Invalid token")).await;
    }
    let codec = app.codec();
    let claims = codec.verify_refresh(&tokens.refresh).unwrap();
    let long_ago = Utc::now() - Duration::days(30);
    let expired = codec
        .issue_refresh(
            user_id(&id),
            claims.session_id,
            0,
            long_ago,
            long_ago + Duration::days(7),
        )
        .unwrap();
    assert_unauthorized(
        app.refresh(&expired.token).await,
        true,
        Some("Token has expired"),
    )
    .await;
    // Validly signed, but a generation the session never issued.
    let future_generation = codec
        .issue_refresh(
            user_id(&id),
            claims.session_id,
            7,
            Utc::now(),
            Utc::now() + Duration::days(1),
        )
        .unwrap();
    assert_unauthorized(app.refresh(&future_generation.token).await, true, None).await;
    // Validly signed, for a session that does not exist.
    let unknown_session = codec
        .issue_refresh(
            user_id(&id),
            gatehouse_domain::SessionId::new(),
            0,
            Utc::now(),
            Utc::now() + Duration::days(1),
        )
        .unwrap();
    assert_unauthorized(app.refresh(&unknown_session.token).await, true, None).await;
}

async fn refresh_for_a_deleted_or_inactive_user_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, inactive_id, inactive) = app.logged_in_user().await;
    app.users()
        .set_active(user_id(&inactive_id), false, Utc::now())
        .await
        .unwrap();
    assert_unauthorized(
        app.refresh(&inactive.refresh).await,
        true,
        Some("Inactive user"),
    )
    .await;
    let (_, deleted_id, deleted) = app.logged_in_user().await;
    assert!(app.users().delete(user_id(&deleted_id)).await.unwrap());
    assert_unauthorized(
        app.refresh(&deleted.refresh).await,
        true,
        Some("User not found"),
    )
    .await;
}

async fn refresh_of_a_revoked_session_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let session = app
        .codec()
        .verify_refresh(&tokens.refresh)
        .unwrap()
        .session_id;
    assert!(app.sessions().revoke(session, Utc::now()).await.unwrap());
    assert_session_ended(app.refresh(&tokens.refresh).await).await;
}

async fn without_rotation_the_refresh_token_is_repeated(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_TOKEN_ROTATION", "false")]).await;
    let (_, _, tokens) = app.logged_in_user().await;
    for _ in 0..3 {
        let body: Value = app.refresh(&tokens.refresh).await.json().await.unwrap();
        let renewed = Tokens::from_json(&body);
        assert_eq!(renewed.refresh, tokens.refresh);
        assert_eq!(app.me(&renewed.access).await.status(), StatusCode::OK);
    }
    let session = app
        .codec()
        .verify_refresh(&tokens.refresh)
        .unwrap()
        .session_id;
    app.sessions().revoke(session, Utc::now()).await.unwrap();
    assert_session_ended(app.refresh(&tokens.refresh).await).await;
}

const REUSE: &str = "Refresh token reuse detected; session revoked";

async fn refreshed(app: &TestApp, refresh_token: &str) -> Tokens {
    let response = app.refresh(refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_json(&response.json().await.unwrap())
}

/// Every token of the session answers 401 `Session has ended` (or reuse) from now on.
async fn assert_session_dead(app: &TestApp, tokens: &[&Tokens]) {
    for tokens in tokens {
        assert_session_ended(app.me(&tokens.access).await).await;
        assert_eq!(
            app.refresh(&tokens.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

async fn a_replayed_token_cannot_keep_a_second_copy_of_a_generation_alive(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, login) = app.logged_in_user().await;
    // The owner rotates to generation 1; a thief replays the login token and, because the
    // owner has not presented generation 1 yet, also gets a generation-1 token.
    let owner = refreshed(&app, &login.refresh).await;
    let thief = refreshed(&app, &login.refresh).await;
    // The owner moves on; once the grace period is over, the thief's copy is a replay.
    let owner = refreshed(&app, &owner.refresh).await;
    app.backdate_rotation(app.session_of(&login.refresh), 60)
        .await;
    assert_unauthorized(app.refresh(&thief.refresh).await, true, Some(REUSE)).await;
    assert_session_dead(&app, &[&owner, &thief]).await;
}

async fn a_thief_who_refreshes_first_loses_the_session_when_the_owner_refreshes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, login) = app.logged_in_user().await;
    // The thief uses the stolen login token first and keeps rotating.
    let thief = refreshed(&app, &login.refresh).await;
    let thief = refreshed(&app, &thief.refresh).await;
    app.backdate_rotation(app.session_of(&login.refresh), 60)
        .await;
    // The owner's next refresh exposes the theft and ends the thief's session too.
    assert_unauthorized(app.refresh(&login.refresh).await, true, Some(REUSE)).await;
    assert_session_dead(&app, &[&thief, &login]).await;
}

async fn concurrent_refreshes_within_the_grace_period_succeed_then_a_late_copy_is_reuse(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (_, _, login) = app.logged_in_user().await;
    let first = refreshed(&app, &login.refresh).await;
    // Several tabs refresh generation 1 at once: all succeed, all get generation 2.
    let racing = (0..6).map(|_| app.refresh(&first.refresh));
    let mut answers = Vec::new();
    for response in futures_util::future::join_all(racing).await {
        assert_eq!(response.status(), StatusCode::OK);
        answers.push(Tokens::from_json(&response.json().await.unwrap()));
    }
    let codec = app.codec();
    for tokens in &answers {
        assert_eq!(codec.verify_refresh(&tokens.refresh).unwrap().generation, 2);
        assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    }
    // One tab moves on to generation 3; past the grace period another tab's copy of
    // generation 2 is a replay.
    refreshed(&app, &answers[0].refresh).await;
    app.backdate_rotation(app.session_of(&login.refresh), 60)
        .await;
    assert_unauthorized(app.refresh(&answers[1].refresh).await, true, Some(REUSE)).await;
}

async fn strict_rotation_revokes_a_stale_first_token(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_TOKEN_ROTATION", "strict")]).await;
    let (_, _, login) = app.logged_in_user().await;
    let first = refreshed(&app, &login.refresh).await;
    // Within the grace period the login token still works (a lost answer, say)…
    let again = refreshed(&app, &login.refresh).await;
    // …but not after it, even though generation 1 was never presented.
    app.backdate_rotation(app.session_of(&login.refresh), 60)
        .await;
    assert_unauthorized(app.refresh(&login.refresh).await, true, Some(REUSE)).await;
    assert_session_dead(&app, &[&first, &again]).await;
}

async fn the_rotation_setting_accepts_the_starters_booleans(backend: Backend) {
    let app = spawn_app_with(backend.clone(), &[("REFRESH_TOKEN_ROTATION", "true")]).await;
    let (_, _, login) = app.logged_in_user().await;
    let rotated = refreshed(&app, &login.refresh).await;
    assert_ne!(
        rotated.refresh, login.refresh,
        "true means auto: rotation on"
    );
    let app = spawn_app_with(backend, &[("REFRESH_TOKEN_ROTATION", "off")]).await;
    let (_, _, login) = app.logged_in_user().await;
    assert_eq!(refreshed(&app, &login.refresh).await.refresh, login.refresh);
}
