//! Forgotten passwords and address verification, read from the mails the app writes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, NEW_PASSWORD, PASSWORD, TestApp, Tokens, assert_problem, assert_session_ended,
    assert_unauthorized, error_fields, spawn_app, spawn_app_with, token_in,
};

backend_tests!(
    forgot_password_answers_alike_for_every_address_and_mails_only_accounts,
    forgot_password_takes_about_the_same_time_for_unknown_addresses,
    a_reset_token_works_once_ends_every_session_and_replaces_the_password,
    a_reset_token_expires_and_a_newer_one_replaces_it,
    reset_password_checks_its_fields_without_spending_the_token,
    verification_sets_is_verified_once,
    required_verification_blocks_login_until_verified,
    an_smtp_server_receives_the_reset_mail,
);

const ACCEPTED: &str = "If the account exists, a mail is on its way";
impl TestApp {
    async fn forgot(&self, email: &str) -> reqwest::Response {
        self.post_json("/auth/forgot-password", &json!({"email": email}))
            .await
    }

    async fn reset(&self, token: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/auth/reset-password",
            &json!({"token": token, "new_password": password}),
        )
        .await
    }

    /// Asks for the first reset mail to `email` and returns its token.
    async fn reset_token(&self, email: &str) -> String {
        assert_eq!(self.forgot(email).await.status(), StatusCode::ACCEPTED);
        token_in(&self.wait_for_mails(email, 1).await[0])
    }

    /// Moves every single-use token's expiry into the past.
    async fn expire_one_time_tokens(&self) {
        use sea_orm::{
            ConnectionTrait,
            sea_query::{Alias, Query},
        };
        let past = chrono::Utc::now() - chrono::Duration::minutes(1);
        let statement = Query::update()
            .table(Alias::new("one_time_tokens"))
            .value(Alias::new("expires_at"), past)
            .to_owned();
        self.db.execute(&statement).await.unwrap();
    }
}

async fn forgot_password_answers_alike_for_every_address_and_mails_only_accounts(backend: Backend) {
    let app = spawn_app(backend).await;
    let (known, _) = app.registered_user().await;
    let unknown = "nobody-here@example.com";
    let mut bodies = Vec::new();
    for email in [unknown, &known] {
        let response = app.forgot(email).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"], ACCEPTED);
        bodies.push(body);
    }
    assert_eq!(bodies[0], bodies[1]);
    // Jobs run in order: once the known address's mail is there, the unknown one's job
    // is done too, and it sent nothing.
    let mails = app.wait_for_mails(&known, 1).await;
    assert!(app.mails_to(unknown).is_empty());
    let mail = &mails[0];
    assert!(
        mail.contains("Subject: AuthX Starter: reset your password"),
        "{mail}"
    );
    let token = token_in(mail);
    assert!(token.len() >= 32, "at least 128 bits: {token}");
    assert!(
        mail.replace("=\r\n", "").contains(&format!(
            "http://127.0.0.1:8000/reset-password?token={token}"
        )),
        "{mail}"
    );
    let problem = assert_problem(app.forgot("not-an-email").await, 422, None).await;
    assert_eq!(error_fields(&problem), ["email"]);
}

async fn forgot_password_takes_about_the_same_time_for_unknown_addresses(backend: Backend) {
    let app = spawn_app(backend).await;
    let (known, _) = app.registered_user().await;
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for round in 0..15 {
        for (email, times) in [
            (known.clone(), &mut known_times),
            (format!("ghost-{round}@example.com"), &mut unknown_times),
        ] {
            let started = Instant::now();
            assert_eq!(app.forgot(&email).await.status(), StatusCode::ACCEPTED);
            times.push(started.elapsed());
        }
    }
    let (known_median, unknown_median) = (median(known_times), median(unknown_times));
    let gap = known_median.abs_diff(unknown_median);
    assert!(
        gap < Duration::from_millis(20),
        "known {known_median:?} vs unknown {unknown_median:?}"
    );
}

async fn a_reset_token_works_once_ends_every_session_and_replaces_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, session) = app.logged_in_user().await;
    let token = app.reset_token(&email).await;
    assert_eq!(
        app.reset(&token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_session_ended(app.me(&session.access).await).await;
    assert_eq!(
        app.refresh(&session.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        app.login(&email, PASSWORD).await,
        401,
        Some("Invalid credentials"),
    )
    .await;
    let response = app.login(&email, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_json(&response.json().await.unwrap());
    assert_problem(
        app.reset(&token, "Yet-An0ther-One").await,
        400,
        Some("Invalid or expired token"),
    )
    .await;
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn a_reset_token_expires_and_a_newer_one_replaces_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let first = app.reset_token(&email).await;
    let mails = {
        assert_eq!(app.forgot(&email).await.status(), StatusCode::ACCEPTED);
        app.wait_for_mails(&email, 2).await
    };
    let second = mails
        .iter()
        .map(|mail| token_in(mail))
        .find(|token| *token != first)
        .unwrap();
    assert_problem(
        app.reset(&first, NEW_PASSWORD).await,
        400,
        Some("Invalid or expired token"),
    )
    .await;
    app.expire_one_time_tokens().await;
    assert_problem(
        app.reset(&second, NEW_PASSWORD).await,
        400,
        Some("Invalid or expired token"),
    )
    .await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

async fn reset_password_checks_its_fields_without_spending_the_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let token = app.reset_token(&email).await;
    for (password, field) in [("short", "new_password"), (email.as_str(), "new_password")] {
        let problem = assert_problem(app.reset(&token, password).await, 422, None).await;
        assert_eq!(error_fields(&problem), [field]);
    }
    let problem = assert_problem(
        app.post_json("/auth/reset-password", &json!({})).await,
        422,
        None,
    )
    .await;
    assert_eq!(error_fields(&problem), ["new_password", "token"]);
    assert_problem(
        app.reset("not-a-token", NEW_PASSWORD).await,
        400,
        Some("Invalid or expired token"),
    )
    .await;
    assert_eq!(
        app.reset(&token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT,
        "the token survived the rejected attempts"
    );
}

async fn verification_sets_is_verified_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, tokens) = app.logged_in_user().await;
    let request_verify = || {
        app.client
            .post(app.url("/auth/request-verify"))
            .bearer_auth(&tokens.access)
            .send()
    };
    let response = request_verify().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"], ACCEPTED);
    let mail = app.wait_for_mails(&email, 1).await.remove(0);
    assert!(mail.contains("confirm your email address"), "{mail}");
    let token = token_in(&mail);
    let response = app
        .post_json("/auth/verify", &json!({"token": token}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(
        (user["id"].as_str(), user["is_verified"].as_bool()),
        (Some(id.as_str()), Some(true))
    );
    let me: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["is_verified"], true);
    assert_problem(
        app.post_json("/auth/verify", &json!({"token": token}))
            .await,
        400,
        Some("Invalid or expired token"),
    )
    .await;
    // Already verified: 202 all the same, and no second mail.
    assert_eq!(
        request_verify().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(app.forgot(&email).await.status(), StatusCode::ACCEPTED);
    let mails = app.wait_for_mails(&email, 2).await;
    assert_eq!(
        mails.len(),
        2,
        "the reset mail, not a second verification mail"
    );
    assert_problem(app.post_json("/auth/verify", &json!({})).await, 422, None).await;
    let anonymous = app
        .client
        .post(app.url("/auth/request-verify"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(anonymous, false, Some("Not authenticated")).await;
}

async fn required_verification_blocks_login_until_verified(backend: Backend) {
    let app = spawn_app_with(backend, &[("REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let (email, id) = app.registered_user().await;
    assert_problem(
        app.login(&email, PASSWORD).await,
        403,
        Some("Email not verified"),
    )
    .await;
    assert_problem(
        app.login(&email, "wrong-password").await,
        401,
        Some("Invalid credentials"),
    )
    .await;
    // Registration mailed a verification token, since login needs it.
    let token = token_in(&app.wait_for_mails(&email, 1).await[0]);
    let verified = app
        .post_json("/auth/verify", &json!({"token": token}))
        .await;
    let verified: Value = verified.json().await.unwrap();
    assert_eq!(
        (verified["id"].as_str(), verified["is_verified"].as_bool()),
        (Some(id.as_str()), Some(true))
    );
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

async fn an_smtp_server_receives_the_reset_mail(backend: Backend) {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let transport = format!("smtp://{}", sink.address);
    let app = spawn_app_with(
        backend,
        &[
            ("MAIL_TRANSPORT", &transport),
            ("MAIL_FROM", "Gatehouse <no-reply@gatehouse.test>"),
            ("PUBLIC_URL", "https://auth.example.com"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await;
    assert_eq!(app.forgot(&email).await.status(), StatusCode::ACCEPTED);
    let message = sink.next_message(Duration::from_secs(10)).await;
    assert_eq!(message.from, "<no-reply@gatehouse.test>");
    assert_eq!(message.to, [format!("<{email}>")]);
    let token = token_in(&message.data);
    assert!(message.data.replace("=\r\n", "").contains(&format!(
        "https://auth.example.com/reset-password?token={token}"
    )));
    assert_eq!(
        app.reset(&token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}
