use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, assert_problem, metrics_text, spawn_app, spawn_app_with};
use crate::process::GatehouseProcess;

backend_tests!(
    health_and_ready_answer_200,
    unknown_routes_are_404_problems,
    wrong_methods_are_405_problems,
    request_ids_are_echoed_or_generated,
    the_openapi_document_describes_every_route,
    swagger_ui_is_served_from_the_binary,
    metrics_count_requests_and_login_outcomes,
    invented_http_methods_collapse_into_one_metrics_label,
    metrics_addr_moves_metrics_off_the_public_port,
);

async fn metrics_addr_moves_metrics_off_the_public_port(backend: Backend) {
    let app = spawn_app_with(backend, &[("METRICS_ADDR", "127.0.0.1:0")]).await;
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_problem(public, 404, None).await;
    let management = app.metrics_address.clone().expect("metrics listener");
    let response = app
        .client
        .get(format!("{management}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"gatehouse_http_requests_total{endpoint="/health",method="GET",status="200"} 1"#
        ),
        "requests on the public port are counted: {text}"
    );
    let other = app
        .client
        .get(format!("{management}/health"))
        .send()
        .await
        .unwrap();
    assert_problem(other, 404, None).await;
}

async fn invented_http_methods_collapse_into_one_metrics_label(backend: Backend) {
    let app = spawn_app(backend).await;
    for n in 0..5 {
        let method = Method::from_bytes(format!("INVENTED{n}").as_bytes()).unwrap();
        for path in ["/health", "/no/such/route"] {
            let response = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            assert!(
                [404, 405].contains(&response.status().as_u16()),
                "{method} {path}: {}",
                response.status()
            );
        }
    }
    let text = metrics_text(&app.client, &app.address).await;
    assert!(
        !text.contains("INVENTED"),
        "a label value per invented method"
    );
    assert!(text.contains(r#"method="OTHER""#), "{text}");
}

/// Postgres only: the outage is made by dropping the database with `FORCE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_quickly_not_500() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = spawn_app_with(backend, &[("DATABASE_ACQUIRE_TIMEOUT_S", "1")]).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let (_, rp) = app.admin_and_rp(serde_json::json!({})).await;
    let (app_tokens, _) =
        crate::provider_tokens::tokens_for(&app, &rp, "openid email offline_access").await;
    app.drop_database_under_the_app().await;
    let started = std::time::Instant::now();
    assert_problem(app.me(&tokens.access).await, 503, None).await;
    // An app's userinfo too (it was a bare 500).
    let userinfo = app
        .client
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(app_tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(userinfo.headers().contains_key("retry-after"));
    assert_problem(userinfo, 503, None).await;
    // And its token endpoint, in OAuth's own form (it answered 500 `server_error`).
    let refresh = crate::provider_tokens::as_client(
        &app,
        &rp,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                app_tokens["refresh_token"].as_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(refresh.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refresh.headers().contains_key("retry-after"));
    let body: serde_json::Value = refresh.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert_problem(
        app.login("you@example.com", "YourStrongPassw0rd!").await,
        503,
        None,
    )
    .await;
    assert_problem(
        app.client.get(app.url("/ready")).send().await.unwrap(),
        503,
        None,
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "liveness does not depend on the database"
    );
}

async fn health_and_ready_answer_200(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/health", "/ready"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

async fn unknown_routes_are_404_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/nope", "/auth", "/users/me/extra", "/auth/register/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(response, 404, Some("Not Found")).await;
    }
}

async fn wrong_methods_are_405_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    for (method, path) in [
        (Method::GET, "/auth/login"),
        (Method::GET, "/auth/register"),
        (Method::PUT, "/auth/refresh"),
        (Method::DELETE, "/users/me"),
        (Method::POST, "/health"),
    ] {
        let response = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_problem(response, 405, Some("Method Not Allowed")).await;
    }
}

async fn request_ids_are_echoed_or_generated(backend: Backend) {
    let app = spawn_app(backend).await;
    let echoed = app
        .client
        .get(app.url("/health"))
        .header("X-Request-Id", "client-id-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-id-123");
    let too_long = "x".repeat(500);
    for sent in [None, Some(too_long.as_str()), Some("has space")] {
        let mut request = app.client.get(app.url("/nope"));
        if let Some(id) = sent {
            request = request.header("X-Request-Id", id);
        }
        let response = request.send().await.unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "generated id, got {id}");
    }
}

async fn the_openapi_document_describes_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "AuthX Starter");
    let expected = [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/token", "post"),
        ("/.well-known/jwks.json", "get"),
        ("/auth/logout", "post"),
        ("/auth/logout-all", "post"),
        ("/auth/sessions", "get"),
        ("/auth/sessions/{id}", "delete"),
        ("/auth/change-password", "post"),
        ("/auth/forgot-password", "post"),
        ("/auth/reset-password", "post"),
        ("/auth/request-verify", "post"),
        ("/auth/verify", "post"),
        ("/users/me", "get"),
        ("/auth/activity", "get"),
        ("/audit-events", "get"),
        ("/users", "get"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/users/{id}", "delete"),
        ("/users/{id}/mfa", "delete"),
        ("/auth/mfa", "get"),
        ("/auth/mfa/totp/setup", "post"),
        ("/auth/mfa/totp/confirm", "post"),
        ("/auth/mfa/totp", "delete"),
        ("/auth/mfa/recovery-codes", "post"),
        ("/auth/mfa/passkey/options", "post"),
        ("/auth/mfa/verify", "post"),
        ("/auth/passkeys/register/options", "post"),
        ("/auth/passkeys/register", "post"),
        ("/auth/passkeys", "get"),
        ("/auth/passkeys/{id}", "patch"),
        ("/auth/passkeys/{id}", "delete"),
        ("/auth/passkeys/login/options", "post"),
        ("/auth/passkeys/login", "post"),
        ("/auth/providers", "get"),
        ("/auth/oidc/{name}/start", "get"),
        ("/auth/oidc/{name}/link", "get"),
        ("/auth/oidc/{name}/callback", "get"),
        ("/auth/identities", "get"),
        ("/auth/identities/{id}", "delete"),
        ("/roles", "get"),
        ("/roles", "post"),
        ("/roles/{name}", "delete"),
        ("/users/{id}/roles/{name}", "put"),
        ("/users/{id}/roles/{name}", "delete"),
        ("/oauth/clients", "post"),
        ("/oauth/clients", "get"),
        ("/oauth/clients/{client_id}", "get"),
        ("/oauth/clients/{client_id}", "patch"),
        ("/oauth/clients/{client_id}", "delete"),
        ("/oauth/clients/{client_id}/secret", "post"),
        ("/.well-known/openid-configuration", "get"),
        ("/oauth/token", "post"),
        ("/oauth/revoke", "post"),
        ("/oauth/introspect", "post"),
        ("/oauth/userinfo", "get"),
        ("/oauth/userinfo", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let distinct: std::collections::BTreeSet<&str> = expected.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        paths.len(),
        distinct.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, method) in expected {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} documented");
        // Every documented operation is routed: it never answers 404 or 405.
        let response = app
            .client
            .request(method.to_uppercase().parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        // A 404 of the handler's own (`Unknown provider`: this app has none) is routed.
        let detail = response
            .json::<Value>()
            .await
            .ok()
            .map(|body| body["detail"].clone());
        assert!(
            status != 405 && (status != 404 || detail != Some(json!("Not Found"))),
            "{method} {path} routed"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let me_security = doc["paths"]["/users/me"]["get"]["security"].to_string();
    assert!(
        me_security.contains("bearer") && me_security.contains("oauth2"),
        "{me_security}"
    );
    let oauth2 = &doc["components"]["securitySchemes"]["oauth2"];
    assert_eq!(oauth2["type"], "oauth2");
    assert_eq!(oauth2["flows"]["password"]["tokenUrl"], "/auth/token");
    assert!(doc["paths"]["/auth/register"]["post"]["responses"]["409"].is_object());
    for schema in ["RegisterIn", "LoginIn", "TokenOut", "UserOut", "Problem"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

async fn swagger_ui_is_served_from_the_binary(backend: Backend) {
    let app = spawn_app(backend).await;
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers()["location"], "/docs/");
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(initializer.status(), StatusCode::OK);
    assert!(initializer.text().await.unwrap().contains("/openapi.json"));
    // Every file the page loads is there; what it never loads is not in the binary.
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    let html = page.text().await.unwrap();
    for file in [
        "swagger-ui.css",
        "index.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(file), "the page loads {file}");
        let response = app
            .client
            .get(app.url(&format!("/docs/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/css") || content_type.starts_with("text/javascript"),
            "{file}: {content_type}"
        );
    }
    // The bundle is stored gzipped: a browser gets it as it is, any other client plain.
    let bundle = async |accept: Option<&str>| {
        let mut request = app.client.get(app.url("/docs/swagger-ui-bundle.js"));
        if let Some(accept) = accept {
            request = request.header("Accept-Encoding", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["vary"], "Accept-Encoding");
        let encoding = response
            .headers()
            .get("content-encoding")
            .map(|value| value.to_str().unwrap().to_owned());
        (encoding, response.bytes().await.unwrap())
    };
    let (encoding, gzipped) = bundle(Some("gzip, deflate, br")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(&gzipped[..2], [0x1f, 0x8b], "gzip magic");
    for refusing in [None, Some("br"), Some("gzip;q=0, br")] {
        let (encoding, plain) = bundle(refusing).await;
        assert_eq!(encoding, None, "{refusing:?}");
        assert!(plain.len() > 2 * gzipped.len(), "{refusing:?}");
        assert!(String::from_utf8_lossy(&plain).contains("SwaggerUIBundle"));
    }
    let map = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js.map"))
        .send()
        .await
        .unwrap();
    assert_problem(map, 404, Some("Not Found")).await;
}

/// The value of the sample `name{labels}` (labels as written by the encoder), 0 if absent.
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_count_requests_and_login_outcomes(backend: Backend) {
    let app = spawn_app(backend).await;
    let scrape = || async {
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        response.text().await.unwrap()
    };
    let login_200 =
        r#"gatehouse_http_requests_total{endpoint="/auth/login",method="POST",status="200"}"#;
    let login_401 =
        r#"gatehouse_http_requests_total{endpoint="/auth/login",method="POST",status="401"}"#;
    let unmatched =
        r#"gatehouse_http_requests_total{endpoint="UNMATCHED",method="GET",status="404"}"#;
    let success = r#"gatehouse_logins_total{outcome="success"}"#;
    let invalid = r#"gatehouse_logins_total{outcome="invalid_credentials"}"#;

    let before = scrape().await;
    assert_eq!(sample(&before, success), 0.0);
    assert!(
        before.contains(invalid),
        "outcomes are exported before any login"
    );
    assert!(
        before.contains("gatehouse_password_hashing_queue_length 0"),
        "{before}"
    );

    let (email, _, _) = app.logged_in_user().await;
    app.login(&email, "WrongPassw0rd!").await;
    app.login("nobody@example.com", "WrongPassw0rd!").await;
    app.client
        .get(app.url("/no/such/route/12345"))
        .send()
        .await
        .unwrap();

    let after = scrape().await;
    assert_eq!(sample(&after, success), 1.0);
    assert_eq!(sample(&after, invalid), 2.0);
    assert_eq!(sample(&after, login_200) - sample(&before, login_200), 1.0);
    assert_eq!(sample(&after, login_401) - sample(&before, login_401), 2.0);
    assert_eq!(sample(&after, unmatched) - sample(&before, unmatched), 1.0);
    assert!(
        after.contains(r#"gatehouse_http_requests_duration_seconds_bucket{endpoint="/auth/login",method="POST",status="200",le="#),
        "latency histogram per route and status"
    );
    assert!(
        !after.contains("nobody@example.com") && !after.contains("12345"),
        "no user data in labels"
    );
}

/// Every log line of an authenticated request names the caller (the request span's
/// `user_id`), so an operator can follow one account through the log.
#[tokio::test]
async fn log_lines_of_an_authenticated_request_carry_the_user_id() {
    let dir = std::env::temp_dir().join(format!("gatehouse-log-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("gatehouse.log");
    let database_url = format!("sqlite://{}/app.db?mode=rwc", dir.display());
    let settings = [("LOG_FORMAT", "json"), ("RUST_LOG", "info")];
    let log = std::fs::File::create(&log_path).unwrap();
    let server = GatehouseProcess::start_with_log(&database_url, &settings, log).await;
    let email = "logged@example.com";
    let registered: serde_json::Value = server.register(email).await.json().await.unwrap();
    let tokens: serde_json::Value = server.login(email).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(server.me(access).await, reqwest::StatusCode::OK);
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap();
    let user_id = registered["id"].as_str().unwrap();
    let completed = log
        .lines()
        .find(|line| line.contains("request completed") && line.contains("/users/me"))
        .unwrap_or_else(|| panic!("no completion line for /users/me in:\n{log}"));
    assert!(completed.contains(user_id), "{completed}");
    let _ = std::fs::remove_dir_all(&dir);
}
