//! The user's side of the OpenID Provider over HTTP: RP-initiated logout (a valid hint
//! signs out at once, anything else asks; only registered URIs are followed) and the
//! account page's `Apps with access` with `Remove access`.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::pages::Browser;
use crate::provider_authorize::{Rp, code_for, signed_in_browser, unescape_html};
use crate::provider_tokens::{as_client, claims, redeem, tokens_for};

backend_tests!(
    a_valid_hint_signs_out_at_once_and_goes_to_the_registered_uri,
    without_a_valid_hint_logout_asks_and_never_follows_an_unregistered_uri,
    apps_with_access_are_listed_and_removed_at_once,
    a_reset_a_deactivation_and_an_mfa_reset_end_every_grant,
);

fn logout_path(pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    format!("/oauth/logout?{}", query.finish())
}

/// A browser signed in with `rp`'s tokens (`openid offline_access`).
async fn browser_with_tokens(app: &TestApp, rp: &Rp) -> (Browser, Value) {
    let (mut browser, _) = signed_in_browser(app).await;
    let code = code_for(&mut browser, rp, &[("scope", "openid offline_access")]).await;
    let tokens = redeem(app, rp, &code).await.json().await.unwrap();
    (browser, tokens)
}

async fn a_valid_hint_signs_out_at_once_and_goes_to_the_registered_uri(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (mut browser, tokens) = browser_with_tokens(&app, &rp).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let out = browser
        .get(&logout_path(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://wiki.example.com/bye"),
            ("state", "s-9"),
        ]))
        .await;
    assert_eq!(out.status, StatusCode::FOUND, "{}", out.html);
    assert_eq!(out.location(), "https://wiki.example.com/bye?state=s-9");
    assert!(!browser.signed_in(), "the cookies are cleared");
    // The session itself ended: its cookie would open nothing any more.
    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER);

    // The same hint again, now for a browser session that is gone: nothing to sign out,
    // and the registered URI is still the only place it goes.
    let again = browser
        .get(&logout_path(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ]))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.html.contains("You are signed out"));
    assert!(!again.headers.contains_key(header::LOCATION));
}

async fn without_a_valid_hint_logout_asks_and_never_follows_an_unregistered_uri(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, rp) = app.admin_and_rp(json!({})).await;
    let other = app.registered_rp(&admin, json!({ "name": "Other", "post_logout_redirect_uris": ["https://other.example.com/bye"] })).await;
    let (mut browser, tokens) = browser_with_tokens(&app, &rp).await;
    // A hint of another client than the one named proves nothing.
    let mismatched = logout_path(&[
        ("id_token_hint", tokens["id_token"].as_str().unwrap()),
        ("client_id", &other.id),
        ("post_logout_redirect_uri", "https://other.example.com/bye"),
    ]);
    for path in [
        logout_path(&[
            ("client_id", &rp.id),
            ("post_logout_redirect_uri", "https://wiki.example.com/bye"),
        ]),
        logout_path(&[("id_token_hint", "not-a-token")]),
        mismatched,
    ] {
        let asked = browser.get(&path).await;
        assert_eq!(asked.status, StatusCode::OK, "{path}");
        assert!(asked.html.contains(">Sign out<"), "{}", asked.html);
        assert!(browser.signed_in(), "asking signs nobody out");
    }
    // The button, from another site: refused.
    let asked = browser
        .get(&logout_path(&[
            ("client_id", &rp.id),
            ("post_logout_redirect_uri", "https://wiki.example.com/bye"),
            ("state", "s-1"),
        ]))
        .await;
    let policy = asked.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("form-action 'self' https://wiki.example.com"),
        "{policy}"
    );
    let fields: Vec<(String, String)> = asked
        .html
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            (
                name.to_owned(),
                unescape_html(rest.split('"').next().unwrap()),
            )
        })
        .collect();
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let foreign: Vec<(&str, &str)> = form
        .iter()
        .filter(|(name, _)| *name != "csrf")
        .copied()
        .collect();
    let forged = browser
        .send(
            reqwest::Method::POST,
            "/oauth/logout",
            &foreign,
            Some("https://evil.example.com"),
        )
        .await;
    assert!(
        forged.status == StatusCode::OK && forged.html.contains(">Sign out<"),
        "a post without the token only asks"
    );
    assert!(browser.signed_in());
    let confirmed = browser.post("/oauth/logout", &form).await;
    assert_eq!(confirmed.status, StatusCode::FOUND, "{}", confirmed.html);
    assert_eq!(
        confirmed.location(),
        "https://wiki.example.com/bye?state=s-1"
    );
    assert!(!browser.signed_in());

    // An unregistered URI is never followed, signed in or not.
    let (mut browser, tokens) = browser_with_tokens(&app, &rp).await;
    let out = browser
        .get(&logout_path(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ]))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.html.contains("You are signed out"));
    assert!(!browser.signed_in());
}

async fn apps_with_access_are_listed_and_removed_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (mut browser, tokens) = browser_with_tokens(&app, &rp).await;
    let account = browser.get("/account").await;
    assert!(
        account.html.contains("Apps with access"),
        "{}",
        account.html
    );
    assert!(account.html.contains("Wiki"));
    assert!(account.html.contains("openid offline_access"));
    let csrf = account.field("csrf");
    let removed = browser
        .post(
            &format!("/account/apps/{}/remove", rp.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let introspected: Value = as_client(&app, &rp, "/oauth/introspect", &[("token", refresh)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, json!({ "active": false }));
    let refreshed = as_client(
        &app,
        &rp,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    let account = browser.get("/account").await;
    assert!(!account.html.contains("Apps with access"));
    let events = app
        .events_of(gatehouse_domain::AuditEventType::OauthConsentRevoked)
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["client_id"], rp.id);
    // And the next authorization asks again.
    let again = browser
        .get(&crate::provider_authorize::authorize_path(&rp, &[]))
        .await;
    assert_eq!(again.status, StatusCode::OK);
}

async fn a_reset_a_deactivation_and_an_mfa_reset_end_every_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    let refreshes = |tokens: &Value| {
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let (app, rp) = (&app, &rp);
        async move {
            as_client(
                app,
                rp,
                "/oauth/token",
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await
            .status()
        }
    };
    // A password reset by mail.
    let (tokens, email) = tokens_for(&app, &rp, "openid offline_access").await;
    let forgot = app
        .post_json("/auth/forgot-password", &json!({ "email": email }))
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let token = crate::helpers::token_in(&app.wait_for_mails(&email, 1).await[0]);
    let reset = app
        .post_json(
            "/auth/reset-password",
            &json!({ "token": token, "new_password": crate::helpers::NEW_PASSWORD }),
        )
        .await;
    assert!(reset.status().is_success(), "{}", reset.status());
    assert_eq!(
        refreshes(&tokens).await,
        StatusCode::BAD_REQUEST,
        "after a reset"
    );

    // An administrator's deactivation, and an MFA reset.
    for change in ["deactivation", "mfa-reset"] {
        let (tokens, _) = tokens_for(&app, &rp, "openid offline_access").await;
        let id = claims(tokens["id_token"].as_str().unwrap())["sub"]
            .as_str()
            .unwrap()
            .to_owned();
        let answer = if change == "deactivation" {
            app.client
                .patch(app.url(&format!("/users/{id}")))
                .bearer_auth(&admin)
                .json(&json!({ "is_active": false }))
                .send()
                .await
                .unwrap()
        } else {
            app.client
                .delete(app.url(&format!("/users/{id}/mfa")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
        };
        assert!(
            answer.status().is_success(),
            "{change}: {}",
            answer.status()
        );
        assert_eq!(
            refreshes(&tokens).await,
            StatusCode::BAD_REQUEST,
            "after the {change}"
        );
    }
}
