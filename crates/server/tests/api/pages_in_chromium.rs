//! The pages end to end in a real headless Chromium: what a person does, clicking buttons
//! found by the labels the pages show (`docs/API.md`, "Pages"), with the page's own script for passkeys and
//! Chromium's virtual authenticator. Each test also checks each page it visits for what
//! assistive technology needs, and some take the screenshots under `docs/screenshots/`.
//!
//! One backend (SQLite): what the pages store is the API's, tested on every backend by
//! `pages.rs` and the API tests; here the browser is what is under test.

use fantoccini::{Locator, key::Key};
use reqwest::StatusCode;

use crate::{
    chromium::Chromium,
    helpers::{Backend, NEW_PASSWORD, PASSWORD, TestApp, spawn_app_with, token_in},
};

/// The app on a port chosen first, so that `PUBLIC_URL` (and so the trusted origin and
/// the passkeys' RP id) is the address the browser opens: `http://localhost:{port}`.
async fn app_and_browser(javascript: bool) -> Option<(TestApp, Chromium)> {
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
    Some((app, browser))
}

/// Fails with the page's problems when assistive technology would miss something on it.
async fn assert_accessible(browser: &Chromium) {
    let problems = browser.accessibility_problems().await;
    assert!(
        problems.is_empty(),
        "{}: {problems:#?}",
        browser.path().await
    );
}

async fn sign_in(browser: &Chromium, email: &str, password: &str) {
    browser.open("/login").await;
    browser.fill("Email", email).await;
    browser.fill("Password", password).await;
    browser.press("Sign in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_verify_sessions_password_and_return_to_in_chromium() {
    let Some((app, browser)) = app_and_browser(true).await else {
        return;
    };
    // Each test has its own database: a plain address makes plain screenshots.
    // A long address, as some are: the phone-width check below must wrap it.
    let email = "ada.augusta.king.countess.of.lovelace@analytical-engine.example.com".to_owned();

    // Sign up, and land on the account page.
    browser.open("/register").await;
    assert_accessible(&browser).await;
    browser.fill("Email", &email).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Create account").await;
    browser.wait_for_heading("Your account").await;
    assert!(browser.body_text().await.contains("not verified yet"));
    assert_accessible(&browser).await;

    // The verification mail, asked for from the account page (it is sent at sign-up only
    // when sign-in needs a verified address); its link verifies nothing until the button.
    browser.press("Send the verification mail again").await;
    browser.wait_for_heading("Your account").await;
    assert!(browser.body_text().await.contains("is on its way"));
    let mail = app.wait_for_mails(&email, 1).await.remove(0);
    browser
        .open(&format!("/verify?token={}", token_in(&mail)))
        .await;
    browser.wait_for_heading("Confirm your address").await;
    browser.press("Verify").await;
    browser.wait_for_heading("Address confirmed").await;
    assert_accessible(&browser).await;
    browser.open("/account").await;
    assert!(
        browser
            .body_text()
            .await
            .contains(&format!("{email} — verified"))
    );

    // Signing out, then a wrong password: the error is shown and no session cookie set.
    browser.press("Sign out").await;
    browser.wait_for_heading("Sign in").await;
    assert!(
        !browser
            .cookie_names()
            .await
            .iter()
            .any(|name| name.contains("access"))
    );
    sign_in(&browser, &email, "not-the-password").await;
    browser.wait_for_heading("Sign in").await;
    assert!(browser.body_text().await.contains("Invalid credentials"));
    assert_accessible(&browser).await;
    let cookies = browser.cookie_names().await;
    assert!(
        !cookies
            .iter()
            .any(|name| name.contains("access") || name.contains("refresh")),
        "{cookies:?}"
    );

    // `return_to` to a foreign origin lands on the account page.
    browser
        .open("/login?return_to=https%3A%2F%2Fattacker.example%2Fphish")
        .await;
    browser.fill("Email", &email).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Your account").await;
    assert_eq!(browser.path().await, "/account");

    // Another session (an API client), ended from the account page.
    let other = app.login(&email, PASSWORD).await;
    assert_eq!(other.status(), StatusCode::OK);
    let other = crate::helpers::Tokens::from_json(&other.json().await.unwrap());
    browser.open("/account").await;
    browser.press("End").await;
    browser.wait_for_heading("Your account").await;
    assert_eq!(
        app.refresh(&other.refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "the ended session refreshes no more"
    );
    browser.client.set_window_size(1000, 1000).await.unwrap();
    browser.screenshot("account").await;

    // On a phone's width the page fits, light and dark.
    browser.client.set_window_size(390, 844).await.unwrap();
    assert_eq!(
        browser.sideways_scroll().await,
        serde_json::json!(0),
        "no sideways scrolling"
    );
    browser.prefer_dark().await;
    let background = browser
        .run("return getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(background, serde_json::json!("rgb(13, 17, 23)"), "dark");
    browser.screenshot("account-phone-dark").await;
    browser.client.set_window_size(1000, 1000).await.unwrap();

    // The password, changed from the account page.
    browser.open("/account/password").await;
    assert_accessible(&browser).await;
    browser.fill("Current password", PASSWORD).await;
    browser.fill("New password", NEW_PASSWORD).await;
    browser.press("Change password").await;
    browser.wait_for_heading("Your account").await;
    assert!(
        browser
            .body_text()
            .await
            .contains("Your password is changed")
    );
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );

    // A form without its token is refused, and signs nobody in.
    browser.press("Sign out").await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("Email", &email).await;
    browser.fill("Password", NEW_PASSWORD).await;
    browser
        .run("document.querySelector('form[action=\"/login\"] input[name=csrf]').remove()")
        .await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Please try again").await;
    assert!(
        browser
            .body_text()
            .await
            .contains("did not come from this site")
    );
    browser.open("/account").await;
    browser.wait_for_heading("Sign in").await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_mail_and_reset_page_in_chromium() {
    let Some((app, browser)) = app_and_browser(true).await else {
        return;
    };
    let (email, _) = app.registered_user().await;
    browser.open("/login").await;
    browser
        .click(Locator::LinkText("Forgot your password?"))
        .await;
    browser.wait_for_heading("Forgot your password?").await;
    assert_accessible(&browser).await;
    browser.fill("Email", &email).await;
    browser.press("Send reset link").await;
    browser.wait_for_heading("Check your mail").await;

    let mail = app.wait_for_mails(&email, 1).await.remove(0);
    browser
        .open(&format!("/reset-password?token={}", token_in(&mail)))
        .await;
    browser.wait_for_heading("Set a new password").await;
    assert_accessible(&browser).await;
    browser.fill("New password", NEW_PASSWORD).await;
    browser.press("Set password").await;
    browser.wait_for_heading("Password set").await;

    sign_in(&browser, &email, NEW_PASSWORD).await;
    browser.wait_for_heading("Your account").await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_set_up_then_the_sign_in_asks_for_the_code_in_chromium() {
    let Some((app, browser)) = app_and_browser(true).await else {
        return;
    };
    let (email, _) = app.registered_user().await;
    app.verify_address(&email).await;
    sign_in(&browser, &email, PASSWORD).await;
    browser.wait_for_heading("Your account").await;
    browser.press("Set up an authenticator app").await;
    browser
        .wait_for_heading("Set up an authenticator app")
        .await;
    assert_accessible(&browser).await;
    let qr = browser.client.find(Locator::Css(".qr svg")).await.unwrap();
    assert!(qr.is_displayed().await.unwrap(), "the QR code is drawn");
    let key = browser
        .client
        .find(Locator::Css("code.secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = gatehouse_auth::TotpSecret::from_base32(&key).unwrap();
    let now = || u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    browser.fill("Code", &secret.code_at(now() - 30)).await;
    browser.press("Turn on").await;
    browser.wait_for_heading("Your recovery codes").await;
    let codes = browser
        .client
        .find(Locator::Css("pre.codes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(codes.lines().filter(|line| line.contains('-')).count(), 10);

    browser.open("/account").await;
    browser.press("Sign out").await;
    browser.wait_for_heading("Sign in").await;
    sign_in(&browser, &email, PASSWORD).await;
    browser.wait_for_heading("Second step").await;
    assert_accessible(&browser).await;
    browser.screenshot("second-step").await;
    browser.fill("Code", "000000").await;
    browser.press("Verify").await;
    browser.wait_for_heading("Second step").await;
    assert!(browser.body_text().await.contains("Invalid code"));
    assert_accessible(&browser).await;
    browser.fill("Code", &secret.code_at(now())).await;
    browser.press("Verify").await;
    browser.wait_for_heading("Your account").await;
    assert!(browser.body_text().await.contains("Authenticator app: on"));
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_is_added_and_signs_in_through_chromiums_virtual_authenticator() {
    let Some((app, browser)) = app_and_browser(true).await else {
        return;
    };
    let authenticator = browser.add_virtual_authenticator().await;
    let (email, _) = app.registered_user().await;
    app.verify_address(&email).await;
    sign_in(&browser, &email, PASSWORD).await;
    browser.wait_for_heading("Your account").await;
    browser.fill("Name for a new passkey", "This laptop").await;
    browser.press("Add a passkey").await;
    browser.wait_for_heading("Your account").await;
    for _ in 0..50 {
        if browser.body_text().await.contains("Your passkey is added.") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = browser.body_text().await;
    assert!(text.contains("Your passkey is added."), "{text}");
    assert!(text.contains("This laptop"), "{text}");
    assert_eq!(
        browser
            .authenticator_credentials(&authenticator)
            .await
            .len(),
        1,
        "a discoverable credential in the authenticator"
    );
    assert_accessible(&browser).await;

    // Passwordless, by the browser's autofill: the sign-in page asks for a passkey with
    // conditional mediation, which the virtual authenticator answers at once, as a person
    // picking the passkey from the email field's list would.
    browser.press("Sign out").await;
    browser.wait_for_heading("Your account").await;
    assert_eq!(browser.path().await, "/account");
    assert!(
        browser.body_text().await.contains("last used"),
        "signed in by the passkey"
    );

    // Passwordless, by the button, in a browser that offers no autofill.
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({
                "source": "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"
            }),
        )
        .await;
    browser.press("Sign out").await;
    browser.wait_for_heading("Sign in").await;
    browser.screenshot("login").await;
    assert_accessible(&browser).await;
    browser.press("Sign in with a passkey").await;
    browser.wait_for_heading("Your account").await;
    assert!(browser.body_text().await.contains("This laptop"));

    // The passkey is now the account's second factor: after the password, "Use a passkey".
    browser.press("Sign out").await;
    browser.wait_for_heading("Sign in").await;
    sign_in(&browser, &email, PASSWORD).await;
    browser.wait_for_heading("Second step").await;
    browser.press("Use a passkey").await;
    browser.wait_for_heading("Your account").await;

    // Renamed, then removed.
    browser.fill("Name of This laptop", "Old laptop").await;
    browser.click(Locator::Css("form.rename button")).await;
    browser.wait_for_heading("Your account").await;
    assert!(browser.body_text().await.contains("Old laptop"));
    browser
        .click(Locator::Css(
            "button[aria-label='Remove the passkey Old laptop']",
        ))
        .await;
    browser.wait_for_heading("Your account").await;
    let text = browser.body_text().await;
    assert!(text.contains("Your passkey is removed"), "{text}");
    assert!(!text.contains("Old laptop"), "{text}");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_by_keyboard_with_javascript_disabled() {
    let Some((app, browser)) = app_and_browser(false).await else {
        return;
    };
    let (email, _) = app.registered_user().await;
    browser.open("/login").await;
    browser.wait_for_heading("Sign in").await;
    assert!(
        !browser.shows_button("Sign in with a passkey").await,
        "without script, no passkey button that cannot work"
    );
    // Keyboard only: type, Tab to the next field, Enter to send.
    let field = browser.field("Email").await;
    field.send_keys(&email).await.unwrap();
    field
        .send_keys(&format!(
            "{}{PASSWORD}{}",
            char::from(Key::Tab),
            char::from(Key::Enter)
        ))
        .await
        .unwrap();
    browser.wait_for_heading("Your account").await;
    assert!(browser.body_text().await.contains(&email));
    browser.quit().await;
}
