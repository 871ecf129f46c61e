use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, Tokens, assert_problem, assert_unauthorized, error_fields, spawn_app,
    spawn_app_with, user_id,
};

backend_tests!(
    login_returns_a_bearer_token_pair,
    login_with_a_wrong_password_is_401_invalid_credentials,
    login_with_an_unknown_email_gives_the_same_401,
    login_of_an_inactive_user_with_the_right_password_is_403,
    login_with_missing_or_malformed_fields_is_422,
    login_with_malformed_json_is_400,
    python_made_hashes_log_in_and_outdated_ones_are_rehashed,
    each_login_opens_its_own_session,
    a_login_flood_past_the_hashing_wait_bound_gets_503_with_retry_after,
    the_password_grant_logs_in_with_a_form,
    the_password_grant_refuses_what_login_refuses,
    the_password_grant_validates_its_form,
);

async fn the_password_grant_logs_in_with_a_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, _) = app.logged_in_user().await;
    let response = app
        .token_grant(&[
            ("grant_type", "password"),
            ("username", &email),
            ("password", PASSWORD),
            ("scope", ""),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    let tokens = Tokens::from_json(&body);
    assert!(app.codec().verify_access(&tokens.access).unwrap().fresh);
    let me: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["id"], id);
    // grant_type may be left out, as FastAPI's OAuth2PasswordRequestForm allows.
    let response = app
        .token_grant(&[("username", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn the_password_grant_refuses_what_login_refuses(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, _) = app.logged_in_user().await;
    let response = app
        .token_grant(&[("username", &email), ("password", "wrong-password")])
        .await;
    assert_unauthorized(response, false, Some("Invalid credentials")).await;
    let response = app
        .token_grant(&[("username", "nobody@example.com"), ("password", PASSWORD)])
        .await;
    assert_unauthorized(response, false, Some("Invalid credentials")).await;
    app.users()
        .set_active(user_id(&id), false, chrono::Utc::now())
        .await
        .unwrap();
    let response = app
        .token_grant(&[("username", &email), ("password", PASSWORD)])
        .await;
    assert_problem(response, 403, Some("Inactive user")).await;
}

async fn the_password_grant_validates_its_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, _) = app.logged_in_user().await;
    for (form, fields) in [
        (vec![], vec!["password", "username"]),
        (vec![("username", email.as_str())], vec!["password"]),
        (
            vec![("username", "not-an-email"), ("password", PASSWORD)],
            vec!["username"],
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("username", &email),
                ("password", PASSWORD),
            ],
            vec!["grant_type"],
        ),
    ] {
        let problem = assert_problem(app.token_grant(&form).await, 422, None).await;
        assert_eq!(error_fields(&problem), fields, "{form:?}");
    }
    let json = app
        .post_json(
            "/auth/token",
            &json!({"username": email, "password": PASSWORD}),
        )
        .await;
    assert_problem(json, 415, None).await;
}

async fn login_returns_a_bearer_token_pair(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id) = app.registered_user().await;
    let response = app.login(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    let tokens = Tokens::from_json(&body);
    let codec = app.codec();
    let access = codec.verify_access(&tokens.access).unwrap();
    assert!(access.fresh, "tokens straight from login are fresh");
    assert_eq!(access.user_id, user_id(&id));
    let refresh = codec.verify_refresh(&tokens.refresh).unwrap();
    assert_eq!(refresh.generation, 0);
    assert_eq!(refresh.session_id, access.session_id);
}

async fn login_with_a_wrong_password_is_401_invalid_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let response = app.login(&email, "WrongPassw0rd!").await;
    assert_unauthorized(response, false, Some("Invalid credentials")).await;
}

async fn login_with_an_unknown_email_gives_the_same_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let wrong_password = assert_problem(app.login(&email, "WrongPassw0rd!").await, 401, None).await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    let unknown = assert_unauthorized(unknown, false, Some("Invalid credentials")).await;
    assert_eq!(wrong_password, unknown);
}

async fn login_of_an_inactive_user_with_the_right_password_is_403(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id) = app.registered_user().await;
    app.users()
        .set_active(user_id(&id), false, chrono::Utc::now())
        .await
        .unwrap();
    assert_problem(
        app.login(&email, PASSWORD).await,
        403,
        Some("Inactive user"),
    )
    .await;
    // The wrong password still says nothing about the account's state.
    assert_problem(
        app.login(&email, "WrongPassw0rd!").await,
        401,
        Some("Invalid credentials"),
    )
    .await;
}

async fn login_with_missing_or_malformed_fields_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = assert_problem(app.post_json("/auth/login", &json!({})).await, 422, None).await;
    assert_eq!(error_fields(&body), ["email", "password"]);
    let body = assert_problem(
        app.post_json(
            "/auth/login",
            &json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await,
        422,
        None,
    )
    .await;
    assert_eq!(error_fields(&body), ["email"]);
    let body = assert_problem(
        app.post_json(
            "/auth/login",
            &json!({"email": "you@example.com", "password": 12345678}),
        )
        .await,
        422,
        None,
    )
    .await;
    assert_eq!(error_fields(&body), ["password"]);
}

async fn login_with_malformed_json_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_raw("/auth/login", "application/json", "{\"email\":")
        .await;
    assert_problem(response, 400, None).await;
    let response = app.post_raw("/auth/login", "text/plain", "{}").await;
    assert_problem(response, 415, None).await;
}

/// Hashes made by the Python starter's libraries (a copy of shared/argon2-vectors.txt):
/// `password<TAB>PHC hash` lines.
const PYTHON_HASHES: &str = include_str!("../../../auth/tests/fixtures/argon2-vectors.txt");

async fn python_made_hashes_log_in_and_outdated_ones_are_rehashed(backend: Backend) {
    // The production defaults, so only hashes with other parameters need upgrading.
    let app = spawn_app_with(
        backend,
        &[
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_ITERATIONS", "3"),
            ("ARGON2_PARALLELISM", "4"),
        ],
    )
    .await;
    let vectors = PYTHON_HASHES
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.split_once('\t').unwrap())
        .collect::<Vec<_>>();
    assert_eq!(vectors.len(), 6);
    for (index, (password, hash)) in vectors.into_iter().enumerate() {
        let outdated = !hash.starts_with("$argon2id$v=19$m=65536,t=3,p=4$");
        let email = format!("python-{index}@example.com");
        let id = app.insert_user_with_hash(&email, hash).await;
        assert_problem(
            app.login(&email, "not-the-password").await,
            401,
            Some("Invalid credentials"),
        )
        .await;
        assert_eq!(
            app.login(&email, password).await.status(),
            StatusCode::OK,
            "{hash}"
        );
        let stored = app
            .users()
            .find_by_id(id)
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        if outdated {
            assert_ne!(stored.as_str(), hash, "re-hashed");
            assert!(
                stored
                    .as_str()
                    .starts_with("$argon2id$v=19$m=65536,t=3,p=4$"),
                "{}",
                stored.as_str()
            );
        } else {
            assert_eq!(stored.as_str(), hash, "kept as it was");
        }
        // The upgraded hash still takes the same password.
        assert_eq!(app.login(&email, password).await.status(), StatusCode::OK);
    }
}

async fn each_login_opens_its_own_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let codec = app.codec();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/auth/login"))
            .header("User-Agent", "gatehouse-tests/1.0")
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let tokens = Tokens::from_json(&response.json().await.unwrap());
        sessions.push(codec.verify_access(&tokens.access).unwrap().session_id);
    }
    assert_ne!(sessions[0], sessions[1]);
    let stored = app.sessions().find(sessions[0]).await.unwrap().unwrap();
    assert_eq!(stored.user_agent.as_deref(), Some("gatehouse-tests/1.0"));
    assert_eq!(stored.ip.as_deref(), Some("127.0.0.1"));
    assert!(stored.revoked_at.is_none());
}

async fn a_login_flood_past_the_hashing_wait_bound_gets_503_with_retry_after(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_ITERATIONS", "6"),
            ("ARGON2_PARALLELISM", "1"),
            ("HASHING_CONCURRENCY", "1"),
            ("HASHING_MAX_WAIT_S", "1"),
        ],
    )
    .await;
    // Registering measures how long a hash takes.
    let (email, _) = app.registered_user().await;
    let attempts = (0..20).map(|_| app.login(&email, PASSWORD));
    let started = std::time::Instant::now();
    let responses = futures_util::future::join_all(attempts).await;
    let mut refused = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => {}
            503 => {
                let retry_after: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry_after >= 1);
                assert_problem(response, 503, None).await;
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    // One slot and hashes of 0.2 s or more: twenty logins at once would wait seconds.
    assert!(refused >= 1, "nobody was refused");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the accepted ones waited {:?}",
        started.elapsed()
    );
    // Once the flood is over, logins work again.
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}
