//! The attacker's review of the OpenID Provider: each finding as a test that failed before
//! its fix (the closing note lists them).

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, spawn_app, spawn_app_with};
use crate::pages::Browser;
use crate::provider_authorize::{
    answer_consent, authorize_path, code_for, redirect_query, signed_in_browser, unescape_html,
};
use crate::provider_tokens::redeem;

backend_tests!(
    a_decision_smuggled_into_the_request_does_not_outvote_deny,
    a_code_not_yet_redeemed_dies_with_its_session_and_with_logout_all,
    the_sign_in_page_allows_forms_only_to_a_registered_redirect,
    authorization_requests_spend_the_network_budget_and_old_codes_are_purged,
    max_age_zero_is_answered_by_one_sign_in,
    concurrent_first_authorizations_all_get_a_code,
    a_first_party_token_is_no_id_token_hint,
);

async fn a_decision_smuggled_into_the_request_does_not_outvote_deny(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    let consent = browser
        .get(&authorize_path(
            &rp,
            &[("decision", "allow"), ("csrf", "x")],
        ))
        .await;
    assert_eq!(consent.status, StatusCode::OK);
    let denied = answer_consent(&mut browser, &consent, "deny").await;
    assert_eq!(denied.status, StatusCode::FOUND, "{}", denied.html);
    let query = redirect_query(&rp, denied.location());
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("access_denied"),
        "{query:?}"
    );
    assert!(!query.contains_key("code"));
}

async fn a_code_not_yet_redeemed_dies_with_its_session_and_with_logout_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    // Everywhere: a code pending while the account signs out everywhere.
    let (mut browser, email) = signed_in_browser(&app).await;
    let code = code_for(&mut browser, &rp, &[("scope", "openid offline_access")]).await;
    let session: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let ended = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(session["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        redeem(&app, &rp, &code).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Here: a code whose browser session signed out.
    let (mut browser, _) = signed_in_browser(&app).await;
    let code = code_for(&mut browser, &rp, &[]).await;
    let account = browser.get("/account").await;
    let csrf = account.field("csrf");
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        redeem(&app, &rp, &code).await.status(),
        StatusCode::BAD_REQUEST
    );
}

async fn the_sign_in_page_allows_forms_only_to_a_registered_redirect(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let mut browser = Browser::new(&app);
    for redirect in [
        "https://evil.example.com/cb",
        "https://*/",
        "https://wiki.example.com.evil.example/cb",
    ] {
        let request = authorize_path(&rp, &[("redirect_uri", redirect)]);
        let login = browser
            .get(&format!(
                "/login?return_to={}",
                url::form_urlencoded::byte_serialize(request.as_bytes()).collect::<String>()
            ))
            .await;
        let policy = login.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            !policy.contains("evil") && !policy.contains('*'),
            "{redirect}: {policy}"
        );
    }
    let request = authorize_path(&rp, &[]);
    let login = browser
        .get(&format!(
            "/login?return_to={}",
            url::form_urlencoded::byte_serialize(request.as_bytes()).collect::<String>()
        ))
        .await;
    let policy = login.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("form-action 'self' https://wiki.example.com"),
        "{policy}"
    );
}

async fn authorization_requests_spend_the_network_budget_and_old_codes_are_purged(
    backend: Backend,
) {
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "5"),
        ],
    )
    .await;
    let (_, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    let mut browser = Browser::new(&app);
    let mut refused = None;
    for _ in 0..12 {
        let page = browser.get(&authorize_path(&rp, &[])).await;
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(page);
            break;
        }
    }
    let refused = refused.expect("the network's budget ran out");
    assert!(refused.headers.contains_key(header::RETRY_AFTER));

    let app = spawn_app(Backend::Sqlite).await;
    let (_, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    code_for(&mut browser, &rp, &[]).await;
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared("UPDATE oauth_codes SET expires_at = '2000-01-01 00:00:00'")
        .await
        .unwrap();
    let purged = gatehouse_persistence::OauthGrantRepository::new(app.db.clone())
        .purge(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(purged, 1);
}

async fn max_age_zero_is_answered_by_one_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    let (email, _) = app.registered_user().await;
    let mut browser = Browser::new(&app);
    let to_login = browser.get(&authorize_path(&rp, &[("max_age", "0")])).await;
    let login = browser.get(to_login.location()).await;
    let csrf = login.field("csrf");
    let return_to = unescape_html(&login.field("return_to"));
    let signed_in = browser
        .post(
            "/login",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("return_to", &return_to),
            ],
        )
        .await;
    let back = browser.get(signed_in.location()).await;
    assert_eq!(
        back.status,
        StatusCode::FOUND,
        "one sign-in answers max_age=0: {}",
        back.headers[header::LOCATION].to_str().unwrap_or_default()
    );
    assert!(redirect_query(&rp, back.location()).contains_key("code"));
}

async fn concurrent_first_authorizations_all_get_a_code(backend: Backend) {
    let app = spawn_app_with(backend, &[("APP_WORKERS", "4")]).await;
    let (_, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    let (browser, _) = signed_in_browser(&app).await;
    let cookies: Vec<String> = browser
        .cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let cookies = cookies.join("; ");
    let path = authorize_path(&rp, &[]);
    let requests = (0..24).map(|_| {
        app.client
            .get(app.url(&path))
            .header(header::COOKIE, cookies.clone())
            .send()
    });
    for answer in futures_util::future::join_all(requests).await {
        assert_eq!(answer.unwrap().status(), StatusCode::FOUND);
    }
}

async fn a_first_party_token_is_no_id_token_hint(backend: Backend) {
    // One key for both, gatehouse's tokens with the provider's issuer and an audience:
    // only the claims tell an ID token from gatehouse's own.
    let keys = format!("{}/tests/fixtures/keys", env!("CARGO_MANIFEST_DIR"));
    let (private, public) = (
        format!("{keys}/es256-private.pem"),
        format!("{keys}/es256-public.pem"),
    );
    let app = spawn_app_with(
        backend,
        &[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_PRIVATE_KEY_FILE", &private),
            ("JWT_PUBLIC_KEY_FILE", &public),
            ("JWT_ISSUER", "http://127.0.0.1:8000"),
            ("JWT_AUDIENCE", "gatehouse"),
        ],
    )
    .await;
    let (mut browser, _) = signed_in_browser(&app).await;
    let handle = browser.cookies["access_token_cookie"].clone();
    let page = browser
        .get(&format!("/oauth/logout?id_token_hint={handle}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html.contains(">Sign out<"),
        "asked, not signed out: {}",
        page.html
    );
    assert!(browser.signed_in());
}
