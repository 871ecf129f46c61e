//! Passkeys on the pages, over HTTP on every backend: the forms the pages' script posts
//! (with the software authenticator in place of the browser's), and their refusals. The
//! script itself runs in Chromium in `pages_in_chromium.rs`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, spawn_app},
    pages::{Browser, Page},
    soft_passkey::SoftPasskey,
};

backend_tests!(
    a_passkey_is_added_signs_in_and_is_removed_through_the_page_forms,
    passkey_forms_refuse_foreign_posts_and_bad_answers,
    changing_how_one_signs_in_needs_a_recent_sign_in,
);

/// Where the pages' passkeys live: `PUBLIC_URL`'s default with `localhost`.
const ORIGIN: &str = "http://localhost:8000";

/// The JSON of an answer to the script.
fn json_of(page: &Page) -> Value {
    serde_json::from_str(&page.html).unwrap_or_else(|_| panic!("not JSON: {}", page.html))
}

/// Adds a passkey from `device` on the account page, as the script does: the answer.
async fn add_on_the_account_page(
    browser: &mut Browser,
    device: &mut SoftPasskey,
    name: &str,
) -> Page {
    let csrf = browser.get("/account").await.field("csrf");
    let options = browser
        .post("/account/passkeys/options", &[("csrf", &csrf)])
        .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.html);
    assert_eq!(options.headers["cache-control"], "no-store");
    let options = json_of(&options);
    let credential = device.create(&options).unwrap().to_string();
    let challenge = options["challenge_id"].as_str().unwrap();
    browser
        .post(
            "/account/passkeys",
            &[
                ("csrf", &csrf),
                ("challenge_id", challenge),
                ("credential", &credential),
                ("name", name),
            ],
        )
        .await
}

async fn a_passkey_is_added_signs_in_and_is_removed_through_the_page_forms(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    app.verify_address(&email).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email).await;
    let mut device = SoftPasskey::new(ORIGIN);

    let added = add_on_the_account_page(&mut browser, &mut device, "Work laptop").await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    assert_eq!(added.location(), "/account?changed=passkey-added");
    let account = browser.get("/account?changed=passkey-added").await;
    assert!(account.html.contains("Your passkey is added."));
    assert!(account.html.contains("Work laptop"));
    let id = account
        .html
        .split("action=\"/account/passkeys/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();

    // Renamed (a rename needs no second factor: it changes nothing about signing in).
    let csrf = account.field("csrf");
    let renamed = browser
        .post(
            &format!("/account/passkeys/{id}/rename"),
            &[("csrf", &csrf), ("name", "Old laptop")],
        )
        .await;
    assert_eq!(renamed.location(), "/account?changed=passkey-renamed");
    assert!(browser.get("/account").await.html.contains("Old laptop"));

    // Signed out, then in with the passkey alone, to `return_to`.
    browser.post("/logout", &[("csrf", &csrf)]).await;
    assert!(!browser.signed_in());
    let login = browser.get("/login?return_to=/account/password").await;
    let csrf = login.field("csrf");
    let options: Value = app
        .post_json("/auth/passkeys/login/options", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let assertion = device.get(&options).unwrap().to_string();
    let signed_in = browser
        .post(
            "/login/passkey",
            &[
                ("csrf", &csrf),
                ("return_to", &login.field("return_to")),
                ("challenge_id", options["challenge_id"].as_str().unwrap()),
                ("credential", &assertion),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    assert_eq!(signed_in.location(), "/account/password");
    assert!(browser.signed_in());

    // The same answer again: its challenge is spent.
    let csrf = browser.get("/login").await.field("csrf");
    let replayed = browser
        .post(
            "/login/passkey",
            &[
                ("csrf", &csrf),
                ("challenge_id", options["challenge_id"].as_str().unwrap()),
                ("credential", &assertion),
            ],
        )
        .await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST);
    assert!(replayed.html.contains("Invalid or expired challenge"));

    // Removed from this (aal2) session.
    let csrf = browser.get("/account").await.field("csrf");
    let removed = browser
        .post(
            &format!("/account/passkeys/{id}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(removed.location(), "/account?changed=passkey-removed");
    let account = browser.get("/account").await;
    assert!(!account.html.contains("Old laptop"));
}

async fn passkey_forms_refuse_foreign_posts_and_bad_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    app.verify_address(&email).await;
    let mut browser = Browser::new(&app);

    // No token, or another site: refused before anything is read.
    for path in ["/login/passkey", "/account/passkeys"] {
        let refused = browser.post(path, &[("credential", "{}")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            refused.html.contains("did not come from this site"),
            "{path}"
        );
    }
    // The script's own route answers problem documents, which it shows.
    let refused = browser
        .post("/account/passkeys/options", &[("csrf", "forged")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&refused)["detail"], "This page expired: reload it");
    let csrf = browser.get("/login").await.field("csrf");
    let signed_out = browser
        .post("/account/passkeys/options", &[("csrf", &csrf)])
        .await;
    assert_eq!(signed_out.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_of(&signed_out)["detail"],
        "Signed out: reload the page"
    );
    let csrf = browser.get("/login").await.field("csrf");
    let foreign = browser
        .send(
            reqwest::Method::POST,
            "/login/passkey",
            &[("csrf", &csrf)],
            Some("https://attacker.example"),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);

    // Answers that are not a credential, or for no live challenge: the sign-in page says
    // so, and nobody is signed in.
    let not_json = browser
        .post(
            "/login/passkey",
            &[("csrf", &csrf), ("challenge_id", "x"), ("credential", "{")],
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_json.html.contains("role=\"alert\""));
    let no_challenge = browser
        .post(
            "/login/passkey",
            &[
                ("csrf", &csrf),
                ("challenge_id", "0193a4c8-0000-7000-8000-000000000000"),
                ("credential", "{\"id\":\"x\"}"),
            ],
        )
        .await;
    assert!(
        no_challenge.status.is_client_error(),
        "{}",
        no_challenge.status
    );
    assert!(!browser.signed_in());

    // Signed in: a bad name, an unknown passkey, a registration for no challenge.
    browser.sign_in(&email).await;
    let csrf = browser.get("/account").await.field("csrf");
    let unknown = browser
        .post(
            "/account/passkeys/0193a4c8-0000-7000-8000-000000000000/rename",
            &[("csrf", &csrf), ("name", "Laptop")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.html.contains("Passkey not found"));
    let not_an_id = browser
        .post("/account/passkeys/not-a-uuid/remove", &[("csrf", &csrf)])
        .await;
    assert_eq!(not_an_id.status, StatusCode::UNPROCESSABLE_ENTITY);
    let blank = browser
        .post(
            "/account/passkeys/0193a4c8-0000-7000-8000-000000000000/rename",
            &[("csrf", &csrf), ("name", "")],
        )
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_ceremony = browser
        .post(
            "/account/passkeys",
            &[
                ("csrf", &csrf),
                ("challenge_id", "0193a4c8-0000-7000-8000-000000000000"),
                ("credential", "{\"id\":\"x\",\"type\":\"public-key\"}"),
            ],
        )
        .await;
    assert!(no_ceremony.status.is_client_error());
    assert!(no_ceremony.html.contains("Your account"));

    // Unnamed, it is numbered; then it is the account's second factor, which the page's
    // second step takes (its form, as the script posts it).
    let mut device = SoftPasskey::new(ORIGIN);
    let added = add_on_the_account_page(&mut browser, &mut device, "").await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    assert!(browser.get("/account").await.html.contains("Passkey 1"));
    let mut other = Browser::new(&app);
    let second_step = other.sign_in(&email).await;
    assert!(second_step.html.contains(">Use a passkey</button>"));
    let (csrf, mfa_token) = (second_step.field("csrf"), second_step.field("mfa_token"));
    let garbled = other
        .post(
            "/login/second-step",
            &[
                ("csrf", &csrf),
                ("mfa_token", &mfa_token),
                ("passkey", "1"),
                ("challenge_id", "x"),
                ("credential", "not json"),
            ],
        )
        .await;
    assert_eq!(garbled.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        garbled.html.contains(">Use a passkey</button>"),
        "offered again"
    );
    let options: Value = app
        .post_json(
            "/auth/mfa/passkey/options",
            &json!({"mfa_token": mfa_token}),
        )
        .await
        .json()
        .await
        .unwrap();
    let assertion = device.get(&options).unwrap().to_string();
    let signed_in = other
        .post(
            "/login/second-step",
            &[
                ("csrf", &csrf),
                ("mfa_token", &mfa_token),
                ("passkey", "1"),
                ("challenge_id", options["challenge_id"].as_str().unwrap()),
                ("credential", &assertion),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    assert!(other.signed_in());
}

/// A session left open (a shared computer, a stolen cookie) must not add a way in: adding
/// or removing a passkey and the authenticator app's changes need a sign-in of the last
/// 15 minutes (the API's fresh token), else the visitor is asked to sign in again.
async fn changing_how_one_signs_in_needs_a_recent_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    app.verify_address(&email).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email).await;
    // The same session, as if signed in 20 minutes ago.
    let codec = app.codec();
    let claims = codec
        .verify_session_handle(&browser.cookies["access_token_cookie"])
        .unwrap();
    let earlier = chrono::Utc::now() - chrono::Duration::minutes(20);
    let stale = codec
        .issue_page_handle(
            claims.user_id,
            claims.session_id,
            true,
            (
                &gatehouse_domain::Assurance::password(),
                &gatehouse_domain::HeldRoles::default(),
            ),
            earlier,
        )
        .unwrap();
    browser
        .cookies
        .insert("access_token_cookie".into(), stale.token);
    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::OK, "the session itself is open");
    let csrf = account.field("csrf");

    let options = browser
        .post("/account/passkeys/options", &[("csrf", &csrf)])
        .await;
    assert_eq!(options.status, StatusCode::FORBIDDEN, "{}", options.html);
    let problem = json_of(&options);
    assert_eq!(problem["detail"], "Sign in again to change how you sign in");
    let added = browser
        .post(
            "/account/passkeys",
            &[("csrf", &csrf), ("challenge_id", "x"), ("credential", "{}")],
        )
        .await;
    assert_eq!(added.status, StatusCode::FORBIDDEN);
    assert!(
        added
            .html
            .contains("Sign in again to change how you sign in")
    );
    assert!(added.html.contains("/login?return_to=/account"));
    let totp = browser.post("/account/totp", &[("csrf", &csrf)]).await;
    assert_eq!(totp.status, StatusCode::FORBIDDEN);

    // Signing in again opens a fresh session, which may.
    browser.sign_in(&email).await;
    let csrf = browser.get("/account").await.field("csrf");
    let options = browser
        .post("/account/passkeys/options", &[("csrf", &csrf)])
        .await;
    assert_eq!(options.status, StatusCode::OK);
}
