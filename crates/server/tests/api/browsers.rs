//! Cookie mode with CSRF double submit, CORS, and the security headers on every answer.

use std::collections::HashMap;

use reqwest::{Method, Response, StatusCode, header};
use serde_json::json;

use crate::helpers::{
    Backend, NEW_PASSWORD, PASSWORD, TEST_SECRET, TestApp, assert_problem, assert_session_ended,
    assert_unauthorized, spawn_app, spawn_app_with,
};

backend_tests!(
    cookie_mode_login_sets_authx_cookies_with_safe_flags,
    cookie_requests_with_unsafe_methods_need_the_matching_csrf_header,
    refresh_and_logout_work_through_cookies_and_logout_clears_them,
    a_bearer_header_wins_over_cookies_and_needs_no_csrf_header,
    cookies_are_ignored_unless_cookie_mode_is_on,
    cors_allows_the_configured_origins_with_credentials_only,
    every_answer_carries_the_security_headers_and_token_answers_no_store,
    production_adds_hsts,
    credential_routes_refuse_foreign_origins_in_cookie_mode,
    in_cookies_only_mode_token_answers_carry_no_token_in_the_body,
    a_preflight_from_a_foreign_origin_is_refused_with_a_problem_document,
);

const CSRF_ERROR: &str = "CSRF token missing or invalid";

/// A cookie from a `Set-Cookie` header: its value and its attributes, lower-cased.
#[derive(Debug)]
struct SetCookie {
    value: String,
    attributes: Vec<String>,
}

impl SetCookie {
    fn has(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a == &attribute.to_lowercase())
    }
}

fn set_cookies(response: &Response) -> HashMap<String, SetCookie> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| {
            let text = value.to_str().unwrap();
            let mut parts = text.split(';').map(str::trim);
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let attributes = parts.map(|a| a.replace(' ', "").to_lowercase()).collect();
            (
                name.to_owned(),
                SetCookie {
                    value: value.to_owned(),
                    attributes,
                },
            )
        })
        .collect()
}

/// A browser's cookie jar, reduced to what these tests need.
struct Jar(HashMap<String, String>);

impl Jar {
    fn from(response: &Response) -> Self {
        Self(
            set_cookies(response)
                .into_iter()
                .map(|(name, cookie)| (name, cookie.value))
                .collect(),
        )
    }

    fn header(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|name| format!("{name}={}", self.0[*name]))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

async fn cookie_app(backend: Backend, location: &str) -> TestApp {
    spawn_app_with(
        backend,
        &[("JWT_TOKEN_LOCATION", location), ("COOKIE_SECURE", "false")],
    )
    .await
}

async fn cookie_login(app: &TestApp) -> (String, Jar) {
    let (email, _) = app.registered_user().await;
    let response = app.login(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    (email, Jar::from(&response))
}

async fn with_cookies(
    app: &TestApp,
    method: Method,
    path: &str,
    cookies: String,
    csrf: Option<&str>,
) -> Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header(header::COOKIE, cookies);
    if let Some(csrf) = csrf {
        request = request.header("X-CSRF-Token", csrf);
    }
    request.send().await.unwrap()
}

async fn cookie_mode_login_sets_authx_cookies_with_safe_flags(backend: Backend) {
    let app = spawn_app_with(backend, &[("JWT_TOKEN_LOCATION", "cookies")]).await;
    let (email, _) = app.registered_user().await;
    let response = app.login(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    for (name, path, http_only) in [
        ("access_token_cookie", "/", true),
        ("refresh_token_cookie", "/auth", true),
        ("csrf_access_token", "/", false),
        ("csrf_refresh_token", "/", false),
    ] {
        let cookie = &cookies[name];
        assert!(cookie.has(&format!("Path={path}")), "{name}: {cookie:?}");
        assert_eq!(cookie.has("HttpOnly"), http_only, "{name}: {cookie:?}");
        assert!(cookie.has("SameSite=Lax"), "{name}: {cookie:?}");
        assert!(cookie.has("Secure"), "{name}: secure by default");
        assert!(!cookie.value.is_empty(), "{name}");
    }
    assert_ne!(
        cookies["csrf_access_token"].value,
        cookies["csrf_refresh_token"].value
    );

    let insecure = cookie_app(Backend::Sqlite, "cookies").await;
    let (_, jar) = cookie_login(&insecure).await;
    let response = with_cookies(
        &insecure,
        Method::GET,
        "/users/me",
        jar.header(&["access_token_cookie"]),
        None,
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "safe methods need no CSRF"
    );
}

async fn cookie_requests_with_unsafe_methods_need_the_matching_csrf_header(backend: Backend) {
    let app = cookie_app(backend, "cookies").await;
    let (email, jar) = cookie_login(&app).await;
    let cookies = jar.header(&["access_token_cookie", "csrf_access_token"]);
    let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    for csrf in [
        None,
        Some("wrong"),
        Some(jar.0["csrf_refresh_token"].as_str()),
    ] {
        let response = app
            .client
            .post(app.url("/auth/change-password"))
            .header(header::COOKIE, &cookies)
            .header("X-CSRF-Token", csrf.unwrap_or(""))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 403, Some(CSRF_ERROR)).await;
        let response = with_cookies(
            &app,
            Method::POST,
            "/auth/logout-all",
            cookies.clone(),
            csrf,
        )
        .await;
        assert_problem(response, 403, Some(CSRF_ERROR)).await;
    }
    // Nothing changed: the old password still logs in.
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    let response = app
        .client
        .post(app.url("/auth/change-password"))
        .header(header::COOKIE, &cookies)
        .header("X-CSRF-Token", &jar.0["csrf_access_token"])
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn refresh_and_logout_work_through_cookies_and_logout_clears_them(backend: Backend) {
    let app = cookie_app(backend, "cookies").await;
    let (_, jar) = cookie_login(&app).await;
    let refresh_cookies = jar.header(&["refresh_token_cookie", "csrf_refresh_token"]);
    let response = with_cookies(
        &app,
        Method::POST,
        "/auth/refresh",
        refresh_cookies.clone(),
        None,
    )
    .await;
    assert_problem(response, 403, Some(CSRF_ERROR)).await;
    let response = with_cookies(
        &app,
        Method::POST,
        "/auth/refresh",
        refresh_cookies,
        Some(&jar.0["csrf_refresh_token"]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let renewed = Jar::from(&response);
    let generation = app
        .codec()
        .verify_refresh(&renewed.0["refresh_token_cookie"])
        .unwrap()
        .generation;
    assert_eq!(generation, 1, "rotation as with headers");

    let response = with_cookies(
        &app,
        Method::POST,
        "/auth/logout",
        renewed.header(&["access_token_cookie", "csrf_access_token"]),
        Some(&renewed.0["csrf_access_token"]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookies(&response);
    for name in [
        "access_token_cookie",
        "refresh_token_cookie",
        "csrf_access_token",
        "csrf_refresh_token",
    ] {
        assert!(
            cleared[name].has("Max-Age=0"),
            "{name}: {:?}",
            cleared[name]
        );
        assert!(cleared[name].value.is_empty(), "{name}");
    }
    let response = with_cookies(
        &app,
        Method::GET,
        "/users/me",
        renewed.header(&["access_token_cookie"]),
        None,
    )
    .await;
    assert_session_ended(response).await;
}

async fn a_bearer_header_wins_over_cookies_and_needs_no_csrf_header(backend: Backend) {
    let app = cookie_app(backend, "headers,cookies").await;
    let (_, jar) = cookie_login(&app).await;
    let (_, _, other) = app.logged_in_user().await;
    // The cookies belong to one user, the bearer token to another: the bearer decides.
    let response = app
        .client
        .post(app.url("/auth/logout"))
        .header(
            header::COOKIE,
            jar.header(&["access_token_cookie", "csrf_access_token"]),
        )
        .bearer_auth(&other.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_session_ended(app.me(&other.access).await).await;
    let response = with_cookies(
        &app,
        Method::GET,
        "/users/me",
        jar.header(&["access_token_cookie"]),
        None,
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the cookie session lives on"
    );
}

async fn cookies_are_ignored_unless_cookie_mode_is_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let response = app
        .client
        .get(app.url("/users/me"))
        .header(
            header::COOKIE,
            format!("access_token_cookie={}", tokens.access),
        )
        .send()
        .await
        .unwrap();
    assert_unauthorized(response, false, Some("Not authenticated")).await;
    let login = app.login(&app.registered_user().await.0, PASSWORD).await;
    assert!(set_cookies(&login).is_empty(), "no cookies in header mode");
}

async fn preflight(app: &TestApp, origin: &str) -> Response {
    app.client
        .request(Method::OPTIONS, app.url("/auth/login"))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "content-type,x-csrf-token",
        )
        .send()
        .await
        .unwrap()
}

async fn cors_allows_the_configured_origins_with_credentials_only(backend: Backend) {
    let allowed = "https://app.example.com";
    let app = spawn_app_with(
        backend.clone(),
        &[(
            "CORS_ORIGINS",
            "https://app.example.com,http://localhost:5173",
        )],
    )
    .await;
    let response = preflight(&app, allowed).await;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let allowed_headers = headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed_headers.contains("x-csrf-token"),
        "{allowed_headers}"
    );

    let foreign = preflight(&app, "https://evil.example").await;
    assert!(
        foreign
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    for (origin, expected) in [(allowed, Some(allowed)), ("https://evil.example", None)] {
        let response = app
            .client
            .get(app.url("/health"))
            .header(header::ORIGIN, origin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "non-browser clients unaffected"
        );
        assert_eq!(
            response
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .map(|v| v.to_str().unwrap()),
            expected,
            "{origin}"
        );
    }

    let no_cors = spawn_app(backend).await;
    let response = preflight(&no_cors, allowed).await;
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none(),
        "nothing by default"
    );
}

fn assert_security_headers(response: &Response, what: &str) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    assert!(headers.contains_key("x-request-id"), "{what}");
}

async fn every_answer_carries_the_security_headers_and_token_answers_no_store(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let answers = [
        ("200", app.me(&tokens.access).await),
        ("401", app.me("garbage").await),
        (
            "404",
            app.client.get(app.url("/nope")).send().await.unwrap(),
        ),
        (
            "405",
            app.client.get(app.url("/auth/login")).send().await.unwrap(),
        ),
        ("422", app.post_json("/auth/register", &json!({})).await),
        (
            "docs",
            app.client.get(app.url("/docs/")).send().await.unwrap(),
        ),
    ];
    for (what, response) in &answers {
        assert_security_headers(response, what);
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "no HSTS outside production"
        );
    }
    let token_answers = [
        app.login(&email, PASSWORD).await,
        app.refresh(&tokens.refresh).await,
        app.token(&email, PASSWORD).await,
    ];
    for response in &token_answers {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_security_headers(response, "token answer");
    }
}

async fn production_adds_hsts(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", TEST_SECRET),
            ("MFA_ENCRYPTION_KEY", crate::helpers::TEST_MFA_KEY),
            // Production refuses less than OWASP's argon2 floor.
            ("ARGON2_MEMORY_KIB", "19456"),
            ("ARGON2_ITERATIONS", "2"),
        ],
    )
    .await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_security_headers(&response, "health");
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

/// Login CSRF: a page elsewhere must not sign the visitor into the attacker's account by
/// posting the attacker's credentials (a simple form post needs no preflight).
async fn credential_routes_refuse_foreign_origins_in_cookie_mode(backend: Backend) {
    let front_end = "https://app.example.com";
    let app = spawn_app_with(
        backend,
        &[
            ("JWT_TOKEN_LOCATION", "cookies"),
            ("COOKIE_SECURE", "false"),
            ("CORS_ORIGINS", front_end),
            ("PUBLIC_URL", "https://auth.example.com/"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await;
    let login = async |headers: &[(&str, &str)]| {
        let mut request = app
            .client
            .post(app.url("/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    };
    let token = async |headers: &[(&str, &str)]| {
        let mut request = app
            .client
            .post(app.url("/auth/token"))
            .form(&[("username", email.as_str()), ("password", PASSWORD)]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    };
    let refused: [&[(&str, &str)]; 4] = [
        &[("Origin", "https://evil.example")],
        &[("Origin", "null")],
        &[("Origin", "https://app.example.com.evil.example")],
        &[("Sec-Fetch-Site", "cross-site")],
    ];
    for headers in refused {
        for response in [login(headers).await, token(headers).await] {
            assert!(set_cookies(&response).is_empty(), "{headers:?}: no cookie");
            assert_problem(response, 403, None).await;
        }
    }
    let accepted: [&[(&str, &str)]; 5] = [
        &[],
        &[("Origin", front_end)],
        &[("Origin", "https://auth.example.com")],
        &[("Sec-Fetch-Site", "same-origin")],
        &[("Sec-Fetch-Site", "none")],
    ];
    for headers in accepted {
        for response in [login(headers).await, token(headers).await] {
            assert_eq!(response.status(), StatusCode::OK, "{headers:?}");
            assert_eq!(set_cookies(&response).len(), 4, "{headers:?}");
        }
    }
    // In header mode nothing is set from a login, so nothing is refused.
    let headers_only = spawn_app(Backend::Sqlite).await;
    let (email, _) = headers_only.registered_user().await;
    let response = headers_only
        .client
        .post(headers_only.url("/auth/login"))
        .header("Origin", "https://evil.example")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// "Tokens out of JavaScript's reach" holds only if the body does not carry them too.
async fn in_cookies_only_mode_token_answers_carry_no_token_in_the_body(backend: Backend) {
    let app = cookie_app(backend, "cookies").await;
    let (email, jar) = cookie_login(&app).await;
    let token = app.token(&email, PASSWORD).await;
    let refresh = with_cookies(
        &app,
        Method::POST,
        "/auth/refresh",
        jar.header(&["refresh_token_cookie", "csrf_refresh_token"]),
        Some(&jar.0["csrf_refresh_token"]),
    )
    .await;
    let login = app.login(&email, PASSWORD).await;
    for response in [login, token, refresh] {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(set_cookies(&response).len(), 4);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer", "{body}");
        assert_eq!(body["expires_in"], 900, "{body}");
        let fields = body.as_object().unwrap();
        assert!(!fields.contains_key("access_token"), "{body}");
        assert!(!fields.contains_key("refresh_token"), "{body}");
    }

    // With headers too, the body carries both tokens, the cookies' values.
    let both = cookie_app(Backend::Sqlite, "headers,cookies").await;
    let (email, _) = both.registered_user().await;
    let response = both.login(&email, PASSWORD).await;
    let cookies = set_cookies(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["access_token"], cookies["access_token_cookie"].value);
    assert_eq!(body["refresh_token"], cookies["refresh_token_cookie"].value);
}

/// Every 4xx is a problem document, the CORS middleware's refusals too.
async fn a_preflight_from_a_foreign_origin_is_refused_with_a_problem_document(backend: Backend) {
    let app = spawn_app_with(backend, &[("CORS_ORIGINS", "https://app.example.com")]).await;
    let response = preflight(&app, "https://evil.example").await;
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    let status = response.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    assert_security_headers(&response, "refused preflight");
    assert_problem(response, status, None).await;
}
