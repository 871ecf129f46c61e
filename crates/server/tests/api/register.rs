use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, assert_problem, error_fields, spawn_app, spawn_app_with};

backend_tests!(
    register_returns_201_with_the_user_and_no_secret,
    register_trims_and_lowercases_the_email,
    register_twice_is_409_whatever_the_case,
    register_rejects_invalid_emails_with_422,
    register_rejects_weak_or_overlong_passwords_with_422,
    register_reports_every_missing_field,
    register_with_wrong_types_is_422_naming_the_field,
    register_with_malformed_json_is_400,
    register_without_json_content_type_is_415,
    register_with_oversized_body_is_413,
    rejected_registrations_store_nothing,
    fifty_concurrent_duplicate_registrations_give_exactly_one_201,
    a_burst_of_fifty_registrations_at_production_cost_is_served_not_shed,
);

async fn register_returns_201_with_the_user_and_no_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.register("you@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "id",
            "is_active",
            "is_superuser",
            "is_verified",
            "updated_at"
        ]
    );
    assert_eq!(body["email"], "you@example.com");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["is_verified"], false);
    assert_eq!(body["is_superuser"], false);
    let id = uuid::Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    let created = body["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    assert!(created.ends_with('Z'));
    assert!(!body.to_string().contains("argon2"));
}

async fn register_trims_and_lowercases_the_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.register("  You@Example.COM ", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email"], "you@example.com");
    let login = app.login("YOU@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
}

async fn register_twice_is_409_whatever_the_case(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.register("you@example.com", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    for again in ["you@example.com", "YOU@EXAMPLE.COM", " you@Example.com"] {
        let response = app.register(again, "AnotherPassw0rd!").await;
        assert_problem(response, 409, Some("Email already registered")).await;
    }
}

async fn register_rejects_invalid_emails_with_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = format!("{}@example.com", "a".repeat(250));
    for email in [
        "",
        "not-an-email",
        "a@b@example.com",
        "you@",
        "@example.com",
        "you@exa mple.com",
        too_long.as_str(),
    ] {
        let response = app.register(email, PASSWORD).await;
        let body = assert_problem(response, 422, None).await;
        assert_eq!(error_fields(&body), ["email"], "{email:?}: {body}");
    }
}

async fn register_rejects_weak_or_overlong_passwords_with_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let overlong = "Aa1!".repeat(33);
    for password in [
        "short",
        "1234567",
        "password123",
        "qwertyuiop",
        "you@example.com",
        overlong.as_str(),
    ] {
        let response = app.register("you@example.com", password).await;
        let body = assert_problem(response, 422, None).await;
        assert_eq!(error_fields(&body), ["password"], "{password:?}: {body}");
    }
    // Exactly 128 characters, multi-byte: accepted.
    let response = app.register("you@example.com", &"ü1".repeat(64)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn register_reports_every_missing_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = assert_problem(app.post_json("/auth/register", &json!({})).await, 422, None).await;
    assert_eq!(error_fields(&body), ["email", "password"]);
    let body = assert_problem(
        app.post_json("/auth/register", &json!({"email": "bad", "password": "x"}))
            .await,
        422,
        None,
    )
    .await;
    assert_eq!(error_fields(&body), ["email", "password"]);
}

async fn register_with_wrong_types_is_422_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (json!({"email": 42, "password": PASSWORD}), "email"),
        (
            json!({"email": "you@example.com", "password": ["x"]}),
            "password",
        ),
        (json!(["you@example.com", PASSWORD]), "body"),
        (json!("you@example.com"), "body"),
    ];
    for (body, field) in cases {
        let problem = assert_problem(app.post_json("/auth/register", &body).await, 422, None).await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
}

async fn register_with_malformed_json_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in ["{", "", "{\"email\": \"you@example.com\",}", "nul", "{} {}"] {
        let response = app
            .post_raw("/auth/register", "application/json", body)
            .await;
        assert_problem(response, 400, None).await;
    }
}

async fn register_without_json_content_type_is_415(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"email": "you@example.com", "password": PASSWORD}).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let response = app
            .post_raw("/auth/register", content_type, body.clone())
            .await;
        assert_problem(response, 415, None).await;
    }
    let response = app
        .client
        .post(app.url("/auth/register"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, None).await;
}

async fn register_with_oversized_body_is_413(backend: Backend) {
    let app = spawn_app_with(backend, &[("MAX_BODY_BYTES", "1024")]).await;
    let big =
        json!({"email": "you@example.com", "password": PASSWORD, "padding": "x".repeat(2000)});
    assert_problem(app.post_json("/auth/register", &big).await, 413, None).await;
    // Without a Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok(big.to_string())];
    let stream = futures_util::stream::iter(chunks);
    let response = app
        .post_raw(
            "/auth/register",
            "application/json",
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    assert_problem(response, 413, None).await;
    assert_eq!(
        app.register("you@example.com", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

async fn rejected_registrations_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = gatehouse_domain::Email::parse("you@example.com").unwrap();
    app.register("you@example.com", "short").await;
    app.post_raw(
        "/auth/register",
        "application/json",
        "{\"email\":\"you@example.com\"",
    )
    .await;
    assert!(app.users().find_by_email(&email).await.unwrap().is_none());
    assert_eq!(
        app.register("you@example.com", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

/// With the production argon2 cost on a small machine, a burst queues for its turn
/// instead of being shed: waiting costs no argon2 memory. (The wait bound is raised from
/// its 10 s so that a test machine busy with other tests cannot turn a few seconds of
/// queue into a refusal; the default is measured by `just bench`'s login flood.)
async fn a_burst_of_fifty_registrations_at_production_cost_is_served_not_shed(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_ITERATIONS", "3"),
            ("ARGON2_PARALLELISM", "4"),
            ("HASHING_CONCURRENCY", "2"),
            ("HASHING_MAX_WAIT_S", "60"),
        ],
    )
    .await;
    // A first registration measures how long a hash takes, so the burst is judged by it.
    app.registered_user().await;
    let attempts = (0..50).map(|_| app.register("burst@example.com", PASSWORD));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|response| response.status().as_u16())
        .collect();
    let created = statuses.iter().filter(|&&s| s == 201).count();
    let conflicts = statuses.iter().filter(|&&s| s == 409).count();
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");
}

async fn fifty_concurrent_duplicate_registrations_give_exactly_one_201(backend: Backend) {
    let app = spawn_app(backend).await;
    let attempts = (0..50).map(|_| app.register("race@example.com", PASSWORD));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|response| response.status().as_u16())
        .collect();
    let created = statuses.iter().filter(|&&s| s == 201).count();
    let conflicts = statuses.iter().filter(|&&s| s == 409).count();
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");
}

mod unicode {
    use reqwest::StatusCode;

    use crate::helpers::{Backend, PASSWORD, assert_problem, spawn_app};

    backend_tests!(
        addresses_that_differ_only_in_unicode_form_or_case_are_one_address,
        accented_and_unaccented_addresses_are_different_on_every_backend,
    );

    async fn addresses_that_differ_only_in_unicode_form_or_case_are_one_address(backend: Backend) {
        let app = spawn_app(backend).await;
        let composed = "jos\u{e9}@example.com"; // é as one code point (NFC)
        let decomposed = "jose\u{301}@example.com"; // e + combining acute (NFD)
        assert_eq!(
            app.register(composed, PASSWORD).await.status(),
            StatusCode::CREATED
        );
        for taken in [
            decomposed,
            "JOS\u{c9}@EXAMPLE.COM",
            "JOSE\u{301}@example.com",
        ] {
            assert_problem(
                app.register(taken, PASSWORD).await,
                409,
                Some("Email already registered"),
            )
            .await;
        }
        let response = app.login(decomposed, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "logs in in either form");
    }

    async fn accented_and_unaccented_addresses_are_different_on_every_backend(backend: Backend) {
        let app = spawn_app(backend).await;
        for email in ["jose@example.com", "jos\u{e9}@example.com"] {
            assert_eq!(
                app.register(email, PASSWORD).await.status(),
                StatusCode::CREATED,
                "{email}"
            );
        }
    }
}
