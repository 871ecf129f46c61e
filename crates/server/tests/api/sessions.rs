//! Logout, logout-all, listing and ending sessions, and password change.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, NEW_PASSWORD, PASSWORD, TestApp, Tokens, assert_problem, assert_session_ended,
    assert_unauthorized, error_fields, spawn_app, user_id,
};

backend_tests!(
    logout_with_the_access_token_ends_both_tokens_of_that_session_only,
    logout_with_the_refresh_token_ends_the_session,
    logout_is_idempotent_and_needs_a_valid_token,
    logout_all_ends_every_session_of_the_user,
    sessions_lists_open_sessions_newest_first_marking_the_current_one,
    deleting_an_own_session_ends_it,
    another_users_session_id_is_404_and_stays_open,
    deleting_an_unknown_or_malformed_session_id_is_404_or_422,
    session_routes_need_an_active_user,
    change_password_with_a_fresh_token_replaces_the_password_and_ends_other_sessions,
    change_password_with_a_refreshed_token_is_403_fresh_token_required,
    change_password_with_a_wrong_current_password_is_401,
    change_password_validates_the_new_password,
);

impl TestApp {
    async fn with_bearer(&self, method: Method, path: &str, token: &str) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn logout(&self, token: &str) -> reqwest::Response {
        self.with_bearer(Method::POST, "/auth/logout", token).await
    }

    async fn sessions_of(&self, access: &str) -> Vec<Value> {
        let response = self
            .with_bearer(Method::GET, "/auth/sessions", access)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body.as_array().unwrap().clone()
    }

    async fn login_tokens(&self, email: &str, password: &str) -> Tokens {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK);
        Tokens::from_json(&response.json().await.unwrap())
    }

    async fn change_password(&self, access: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/auth/change-password"))
            .bearer_auth(access)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

async fn assert_ended(app: &TestApp, tokens: &Tokens) {
    assert_session_ended(app.me(&tokens.access).await).await;
    assert_session_ended(app.refresh(&tokens.refresh).await).await;
}

async fn logout_with_the_access_token_ends_both_tokens_of_that_session_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, first) = app.logged_in_user().await;
    let second = app.login_tokens(&email, PASSWORD).await;
    assert_eq!(
        app.logout(&first.access).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_ended(&app, &first).await;
    assert_eq!(app.me(&second.access).await.status(), StatusCode::OK);
}

async fn logout_with_the_refresh_token_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    assert_eq!(
        app.logout(&tokens.refresh).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_ended(&app, &tokens).await;
}

async fn logout_is_idempotent_and_needs_a_valid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    for _ in 0..2 {
        assert_eq!(
            app.logout(&tokens.refresh).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        app.logout(&tokens.access).await.status(),
        StatusCode::NO_CONTENT
    );
    let bare = app
        .client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(bare, false, Some("Not authenticated")).await;
    assert_unauthorized(app.logout("a.b.c").await, true, Some("Invalid token")).await;
}

async fn logout_all_ends_every_session_of_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, first) = app.logged_in_user().await;
    let second = app.login_tokens(&email, PASSWORD).await;
    let (_, _, bystander) = app.logged_in_user().await;
    let response = app
        .with_bearer(Method::POST, "/auth/logout-all", &second.access)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_ended(&app, &first).await;
    assert_ended(&app, &second).await;
    assert_eq!(app.me(&bystander.access).await.status(), StatusCode::OK);
    // A refresh token is not an access token.
    let response = app
        .with_bearer(Method::POST, "/auth/logout-all", &bystander.refresh)
        .await;
    assert_unauthorized(response, true, Some("Wrong token type")).await;
}

async fn sessions_lists_open_sessions_newest_first_marking_the_current_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, oldest) = app.logged_in_user().await;
    let middle = app.login_tokens(&email, PASSWORD).await;
    let newest = app
        .client
        .post(app.url("/auth/login"))
        .header("User-Agent", "gatehouse-test/1.0")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let newest = Tokens::from_json(&newest.json().await.unwrap());
    assert_eq!(
        app.logout(&middle.refresh).await.status(),
        StatusCode::NO_CONTENT
    );

    let listed = app.sessions_of(&oldest.access).await;
    let ids: Vec<&str> = listed.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let expected = [
        app.session_of(&newest.refresh),
        app.session_of(&oldest.refresh),
    ]
    .map(|id| id.to_string());
    assert_eq!(ids, expected, "ended sessions are not listed; newest first");
    assert_eq!(listed[0]["current"], false);
    assert_eq!(listed[1]["current"], true);
    assert_eq!(listed[0]["user_agent"], "gatehouse-test/1.0");
    assert_eq!(listed[0]["ip"], "127.0.0.1");
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(listed[0][field].as_str().unwrap().ends_with('Z'), "{field}");
    }
}

async fn deleting_an_own_session_ends_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, laptop) = app.logged_in_user().await;
    let phone = app.login_tokens(&email, PASSWORD).await;
    let path = format!("/auth/sessions/{}", app.session_of(&phone.refresh));
    let response = app.with_bearer(Method::DELETE, &path, &laptop.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_ended(&app, &phone).await;
    assert_eq!(app.me(&laptop.access).await.status(), StatusCode::OK);
    assert_eq!(app.sessions_of(&laptop.access).await.len(), 1);
}

async fn another_users_session_id_is_404_and_stays_open(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, attacker) = app.logged_in_user().await;
    let (_, _, victim) = app.logged_in_user().await;
    let path = format!("/auth/sessions/{}", app.session_of(&victim.refresh));
    let response = app
        .with_bearer(Method::DELETE, &path, &attacker.access)
        .await;
    assert_problem(response, 404, Some("Session not found")).await;
    assert_eq!(app.me(&victim.access).await.status(), StatusCode::OK);
}

async fn deleting_an_unknown_or_malformed_session_id_is_404_or_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let unknown = format!("/auth/sessions/{}", uuid::Uuid::new_v4());
    let response = app
        .with_bearer(Method::DELETE, &unknown, &tokens.access)
        .await;
    assert_problem(response, 404, Some("Session not found")).await;
    let response = app
        .with_bearer(Method::DELETE, "/auth/sessions/not-a-uuid", &tokens.access)
        .await;
    let body = assert_problem(response, 422, None).await;
    assert_eq!(error_fields(&body), ["id"]);
    let anonymous = app.client.delete(app.url(&unknown)).send().await.unwrap();
    assert_unauthorized(anonymous, false, Some("Not authenticated")).await;
}

async fn session_routes_need_an_active_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, id, tokens) = app.logged_in_user().await;
    app.users()
        .set_active(user_id(&id), false, Utc::now())
        .await
        .unwrap();
    for (method, path) in [
        (Method::GET, "/auth/sessions"),
        (Method::POST, "/auth/logout-all"),
    ] {
        let response = app.with_bearer(method, path, &tokens.access).await;
        assert_problem(response, 403, Some("Inactive user")).await;
    }
    let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let response = app.change_password(&tokens.access, &body).await;
    assert_problem(response, 403, Some("Inactive user")).await;
}

async fn change_password_with_a_fresh_token_replaces_the_password_and_ends_other_sessions(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (email, _, other) = app.logged_in_user().await;
    let current = app.login_tokens(&email, PASSWORD).await;
    let response = app
        .change_password(
            &current.access,
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_ended(&app, &other).await;
    assert_eq!(app.me(&current.access).await.status(), StatusCode::OK);
    assert_eq!(app.refresh(&current.refresh).await.status(), StatusCode::OK);
    assert_problem(
        app.login(&email, PASSWORD).await,
        401,
        Some("Invalid credentials"),
    )
    .await;
    app.login_tokens(&email, NEW_PASSWORD).await;
}

async fn change_password_with_a_refreshed_token_is_403_fresh_token_required(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let refreshed: Value = app.refresh(&tokens.refresh).await.json().await.unwrap();
    let refreshed = Tokens::from_json(&refreshed);
    let response = app
        .change_password(
            &refreshed.access,
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_problem(response, 403, Some("Fresh token required")).await;
    app.login_tokens(&email, PASSWORD).await;
}

async fn change_password_with_a_wrong_current_password_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let response = app
        .change_password(
            &tokens.access,
            &json!({"current_password": "not-the-password", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_problem(response, 401, Some("Invalid credentials")).await;
    app.login_tokens(&email, PASSWORD).await;
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
}

async fn change_password_validates_the_new_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    for (body, fields) in [
        (
            json!({"current_password": PASSWORD, "new_password": "short"}),
            vec!["new_password"],
        ),
        (
            json!({"current_password": PASSWORD, "new_password": email}),
            vec!["new_password"],
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "password123"}),
            vec!["new_password"],
        ),
        (json!({}), vec!["current_password", "new_password"]),
        (
            json!({"current_password": 5, "new_password": NEW_PASSWORD}),
            vec!["current_password"],
        ),
    ] {
        let response = app.change_password(&tokens.access, &body).await;
        let problem = assert_problem(response, 422, None).await;
        assert_eq!(error_fields(&problem), fields, "{body}");
    }
    app.login_tokens(&email, PASSWORD).await;
}
