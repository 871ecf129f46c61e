//! The administration pages end to end in a real headless Chromium: an administrator
//! signs in, finds an account and uses every button of its page, then the audit log, the
//! apps and the roles; each page passes the accessibility check and is tabbed through in
//! order, and is photographed for `docs/screenshots/`. A form from another origin and a
//! change after an old sign-in are refused, in the browser as an attacker would try them.
//! One backend (SQLite): `admin_pages.rs` and `admin_page_changes.rs` test every backend.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use fantoccini::Locator;
use gatehouse_domain::AuditEventType;
use reqwest::StatusCode;

use crate::{
    admin_page_changes::latest,
    chromium::Chromium,
    helpers::{Backend, PASSWORD, TestApp, Tokens, spawn_app_with, user_id},
};

/// The app on a port chosen first, so that `PUBLIC_URL` (the trusted origin) is the
/// address the browser opens; with a superuser signed in on the browser.
async fn signed_in_admin(javascript: bool) -> Option<(TestApp, Chromium, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let public_url = format!("http://localhost:{port}");
    let browser = Chromium::launch(&public_url, javascript).await?;
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("APP_PORT", &port), ("PUBLIC_URL", &public_url)],
    )
    .await;
    let (email, _, _) = app.superuser().await;
    // A visitor opening the admin pages is sent to sign in, and back.
    browser.open("/admin").await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("Email", &email).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Users").await;
    Some((app, browser, email))
}

/// Fails unless the page passes the accessibility check and Tab visits its links,
/// buttons and fields in the order the page shows them.
async fn assert_accessible(browser: &Chromium) {
    let mut problems = browser.accessibility_problems().await;
    problems.extend(browser.focus_order_problems().await);
    assert!(
        problems.is_empty(),
        "{}: {problems:#?}",
        browser.path().await
    );
}

/// Opens `path`, checks it, and saves its picture as `name`.
async fn look_at(browser: &Chromium, path: &str, heading: &str, name: &str) {
    browser.open(path).await;
    browser.wait_for_heading(heading).await;
    assert_accessible(browser).await;
    browser.screenshot(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_uses_every_admin_page_in_chromium() {
    let Some((app, browser, _)) = signed_in_admin(true).await else {
        return;
    };
    // A short address makes a plain picture.
    let email = "ada@example.com".to_owned();
    app.register(&email, PASSWORD).await;
    let tokens = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let id = app
        .users()
        .find_by_email(&gatehouse_domain::Email::parse(&email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    app.enrol_totp(&tokens.access).await;
    // (Only a verified address may add a second factor; Mark verified is to come.)
    app.users()
        .set_verified(user_id(&id), false, chrono::Utc::now())
        .await
        .unwrap();

    // Roles first: one to grant (and one the picture shows beside it).
    browser.open("/admin/roles").await;
    browser.wait_for_heading("Roles").await;
    assert_accessible(&browser).await;
    for (name, description) in [
        ("billing:read", "Reads invoices"),
        ("support", "Answers the help desk"),
    ] {
        browser.fill("Name", name).await;
        browser.fill("Description", description).await;
        browser.press("Create role").await;
        browser.wait_for_heading("Roles").await;
        assert!(browser.body_text().await.contains("The role is made"));
    }
    look_at(&browser, "/admin/roles", "Roles", "admin-roles").await;

    // The account, found by a part of its address.
    browser.open("/admin/users").await;
    browser.fill("Email contains", &email[..8]).await;
    browser.press("Search").await;
    browser.wait_for_heading("Users").await;
    assert_accessible(&browser).await;
    browser.screenshot("admin-users").await;
    browser.click(Locator::LinkText(&email)).await;
    browser.wait_for_heading("User").await;
    assert_accessible(&browser).await;
    browser.screenshot("admin-user").await;

    browser.press("Grant").await;
    browser.wait_for_heading("User").await;
    assert!(browser.body_text().await.contains("The role is granted"));
    browser.press("Revoke").await;
    browser.wait_for_heading("User").await;
    assert!(browser.body_text().await.contains("The role is taken away"));
    browser.press("Mark verified").await;
    browser.wait_for_heading("User").await;
    assert!(
        browser
            .body_text()
            .await
            .contains("The address is marked verified")
    );
    browser.press("Deactivate").await;
    browser.wait_for_heading("User").await;
    assert!(
        browser
            .body_text()
            .await
            .contains("The account is deactivated")
    );
    assert_eq!(
        app.login(&email, PASSWORD).await.status(),
        StatusCode::FORBIDDEN
    );
    browser.press("Activate").await;
    browser.wait_for_heading("User").await;
    browser.press("Send reset link").await;
    browser.wait_for_heading("User").await;
    app.wait_for_mails(&email, 1).await;

    // Its second factor, asked again first; its sessions end with it.
    browser.press("Reset second factor").await;
    browser.wait_for_heading("Reset the second factor?").await;
    assert_accessible(&browser).await;
    browser.screenshot("admin-confirm").await;
    browser.press("Reset second factor").await;
    browser.wait_for_heading("User").await;
    assert!(browser.body_text().await.contains("Authenticator app: off"));
    let reset = latest(&app, AuditEventType::MfaReset).await;
    assert!(reset.context.actor_id.is_some());

    // A session of the account (a password is enough again), ended.
    let api = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    browser.open(&format!("/admin/users/{id}")).await;
    browser.press("End").await;
    browser.wait_for_heading("User").await;
    assert!(browser.body_text().await.contains("The session has ended"));
    assert_eq!(
        app.refresh(&api.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The audit log, filtered by the account's address and a type.
    look_at(&browser, "/admin/audit", "Audit", "admin-audit").await;
    browser.fill("Account", &email).await;
    let kind = browser.field("Type").await;
    kind.select_by_value("mfa.reset").await.unwrap();
    browser.press("Filter").await;
    browser.wait_for_heading("Audit").await;
    let rows = browser.client.find(Locator::Css("tbody")).await.unwrap();
    let text = rows.text().await.unwrap();
    assert!(
        text.contains("mfa.reset") && !text.contains("user.registered"),
        "{text}"
    );

    // An app: registered, its secret shown once, a new one, then deleted.
    browser.open("/admin/apps").await;
    browser.wait_for_heading("Apps").await;
    assert_accessible(&browser).await;
    browser.fill("Name", "Wiki").await;
    browser
        .fill("Redirect URIs", "https://wiki.example.com/callback")
        .await;
    browser.press("Register an app").await;
    browser.wait_for_heading("App registered").await;
    assert_accessible(&browser).await;
    let first = browser
        .client
        .find(Locator::Id("client-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(first.len(), 64);
    browser.click(Locator::LinkText("Back to the apps")).await;
    browser.wait_for_heading("Apps").await;
    assert!(!browser.body_text().await.contains(&first));
    look_at(&browser, "/admin/apps", "Apps", "admin-apps").await;
    browser.press("New secret").await;
    browser
        .wait_for_heading("Give this app a new secret?")
        .await;
    browser.press("New secret").await;
    browser.wait_for_heading("New secret").await;
    let second = browser
        .client
        .find(Locator::Id("client-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(first, second);
    browser.open("/admin/apps").await;
    browser.press("Delete").await;
    browser.wait_for_heading("Delete this app?").await;
    browser.press("Delete").await;
    browser.wait_for_heading("Apps").await;
    assert!(browser.body_text().await.contains("The app is deleted"));

    // The roles, deleted (each asked again).
    for _ in 0..2 {
        browser.open("/admin/roles").await;
        browser.press("Delete").await;
        browser.wait_for_heading("Delete this role?").await;
        assert_accessible(&browser).await;
        browser.press("Delete").await;
        browser.wait_for_heading("Roles").await;
        assert!(browser.body_text().await.contains("The role is deleted"));
    }
    assert!(browser.body_text().await.contains("No roles yet"));

    // The account, deleted once its address is typed (a wrong one deletes nothing).
    browser.open(&format!("/admin/users/{id}")).await;
    browser
        .fill("Email of the account to delete", "someone@example.com")
        .await;
    browser.press("Delete").await;
    browser.wait_for_heading("User").await;
    assert!(browser.body_text().await.contains("nothing was deleted"));
    assert_accessible(&browser).await;
    browser.fill("Email of the account to delete", &email).await;
    browser.press("Delete").await;
    browser.wait_for_heading("Users").await;
    assert!(browser.body_text().await.contains("The account is deleted"));
    assert!(
        app.users()
            .find_by_id(user_id(&id))
            .await
            .unwrap()
            .is_none()
    );

    // On a phone's width, the pages do not scroll sideways (tables scroll in their box).
    browser.client.set_window_size(390, 844).await.unwrap();
    for path in [
        "/admin/audit",
        "/admin/apps",
        "/admin/roles",
        "/admin/users",
    ] {
        browser.open(path).await;
        assert_eq!(
            browser.sideways_scroll().await,
            serde_json::json!(0),
            "{path}: no sideways scrolling"
        );
    }
    // (The users' list, last.)
    browser.screenshot("admin-users-phone").await;
    browser.quit().await;
}

/// An attacker's page on another origin, with a button that posts to `target`.
async fn attacker_page(target: String) -> String {
    let target = Arc::new(Mutex::new(target));
    let server = HttpServer::new(move || {
        let target = target.clone();
        App::new().route(
            "/",
            web::get().to(move || {
                let action = target.lock().unwrap().clone();
                async move {
                    HttpResponse::Ok().content_type("text/html").body(format!(
                        "<!doctype html><title>Prize</title><h1>You won</h1>\
                         <form method=\"post\" action=\"{action}\"><button>Claim the prize</button></form>"
                    ))
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_form_and_an_old_sign_in_change_nothing_in_chromium() {
    let Some((app, browser, admin_email)) = signed_in_admin(false).await else {
        return;
    };
    let (_, id) = app.registered_user().await;
    let active = || async {
        app.users()
            .find_by_id(user_id(&id))
            .await
            .unwrap()
            .unwrap()
            .is_active
    };

    // Another site's button that posts to the account's Deactivate: refused.
    let attacker = attacker_page(format!("{}/admin/users/{id}/deactivate", browser.base)).await;
    browser.client.goto(&attacker).await.unwrap();
    browser.wait_for_heading("You won").await;
    browser.press("Claim the prize").await;
    browser.wait_for_heading("Please try again").await;
    assert!(active().await);

    // The same session as if signed in a day ago: pages show, changes do not go.
    browser.open(&format!("/admin/users/{id}")).await;
    let handle = browser
        .client
        .get_named_cookie("access_token_cookie")
        .await
        .unwrap();
    // Issued 23 h 50 min ago for a day: not expired, but no sign-in of the last 15 minutes.
    let stale = crate::admin_page_refusals::page_handle(handle.value(), 1430, 1440);
    // In place of the browser's cookie (DevTools: WebDriver cannot set a host-only one).
    let set = serde_json::json!({
        "name": "access_token_cookie", "value": stale, "url": browser.base,
        "path": "/", "httpOnly": true, "sameSite": "Lax",
    });
    browser.cdp("Network.setCookie", set).await;
    browser.open(&format!("/admin/users/{id}")).await;
    browser.wait_for_heading("User").await;
    browser.press("Deactivate").await;
    browser.wait_for_heading("Sign in again").await;
    assert!(
        browser
            .body_text()
            .await
            .contains("sign-in from the last 15 minutes")
    );
    assert!(active().await);
    // Signing in again comes back to the account's page, where the change goes.
    browser.click(Locator::LinkText("Sign in again")).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("Email", &admin_email).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("User").await;
    assert_eq!(browser.path().await, format!("/admin/users/{id}"));
    browser.press("Deactivate").await;
    browser.wait_for_heading("User").await;
    assert!(!active().await);
    browser.quit().await;
}
