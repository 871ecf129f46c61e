use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, assert_problem, spawn_app, spawn_app_with};

backend_tests!(
    health_and_ready_answer_200,
    unknown_routes_are_404_problems,
    wrong_methods_are_405_problems,
    request_ids_are_echoed_or_generated,
    the_openapi_document_describes_every_route,
    swagger_ui_is_served_from_the_binary,
);

/// Postgres only: the outage is made by dropping the database with `FORCE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_quickly_not_500() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = spawn_app_with(backend, &[("DATABASE_ACQUIRE_TIMEOUT_S", "1")]).await;
    let (_, _, tokens) = app.logged_in_user().await;
    app.drop_database_under_the_app().await;
    let started = std::time::Instant::now();
    assert_problem(app.me(&tokens.access).await, 503, None).await;
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
        ("/users/me", "get"),
        ("/health", "get"),
        ("/ready", "get"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        expected.len(),
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
        assert!(
            ![404, 405].contains(&response.status().as_u16()),
            "{method} {path} routed"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["paths"]["/users/me"]["get"]["security"].is_array());
    assert!(doc["paths"]["/auth/register"]["post"]["responses"]["409"].is_object());
    for schema in ["CredentialsIn", "TokenOut", "UserOut", "Problem"] {
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
}
