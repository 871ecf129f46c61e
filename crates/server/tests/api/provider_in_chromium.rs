//! The OpenID Provider in a real headless Chromium: a relying party's page (a small
//! server in the test, on a loopback address) sends the browser to gatehouse, which asks
//! it to sign in and to consent, and sends it back with a code the relying party redeems.
//! The consent form's answer is redirected to another origin, which the pages' `form-action`
//! policy must allow: Chromium enforces it, so only a real browser shows it holds.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    chromium::Chromium,
    helpers::{Backend, PASSWORD, spawn_app_with},
    provider_authorize::{CHALLENGE, VERIFIER},
    provider_tokens::{as_client, claims},
};

/// What the relying party knows: where its button goes, and the answer it got back.
#[derive(Default)]
struct RelyingParty {
    sign_in_url: String,
    answer: Option<String>,
}

async fn rp_home(party: web::Data<Arc<Mutex<RelyingParty>>>) -> HttpResponse {
    let url = party.lock().unwrap().sign_in_url.replace('&', "&amp;");
    HttpResponse::Ok().content_type("text/html").body(format!(
        "<!doctype html><title>Wiki</title><h1>Wiki</h1><a href=\"{url}\">Sign in with gatehouse</a>"
    ))
}

async fn rp_callback(
    party: web::Data<Arc<Mutex<RelyingParty>>>,
    request: actix_web::HttpRequest,
) -> HttpResponse {
    party.lock().unwrap().answer = Some(request.query_string().to_owned());
    HttpResponse::Ok()
        .content_type("text/html")
        .body("<!doctype html><title>Wiki</title><h1>Welcome back</h1>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_signs_a_user_in_through_the_login_and_consent_pages_in_chromium() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let public_url = format!("http://localhost:{port}");
    let Some(browser) = Chromium::launch(&public_url, true).await else {
        return;
    };
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("APP_PORT", &port), ("PUBLIC_URL", &public_url)],
    )
    .await;

    let party = Arc::new(Mutex::new(RelyingParty::default()));
    let shared = party.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(shared.clone()))
            .route("/", web::get().to(rp_home))
            .route("/cb", web::get().to(rp_callback))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let rp_base = format!("http://127.0.0.1:{}", server.addrs()[0].port());
    tokio::spawn(server.run());

    let redirect = format!("{rp_base}/cb");
    let (_, rp) = app
        .admin_and_rp(json!({ "redirect_uris": [redirect] }))
        .await;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", rp.id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", "openid email"),
        ("state", "from-the-wiki"),
        ("nonce", "n-chromium"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ] {
        query.append_pair(name, value);
    }
    party.lock().unwrap().sign_in_url = format!("{public_url}/oauth/authorize?{}", query.finish());
    let (email, _) = app.registered_user().await;

    // The wiki's button, gatehouse's sign-in page, its consent page, and back.
    browser.client.goto(&rp_base).await.unwrap();
    browser
        .click(Locator::LinkText("Sign in with gatehouse"))
        .await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("Email", &email).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Allow access?").await;
    let consent = browser.body_text().await;
    assert!(
        consent.contains("Wiki") && consent.contains("127.0.0.1"),
        "{consent}"
    );
    assert!(consent.contains("See your email address"), "{consent}");
    browser.press("Allow").await;
    for _ in 0..100 {
        if party.lock().unwrap().answer.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let answer = party
        .lock()
        .unwrap()
        .answer
        .clone()
        .unwrap_or_else(|| panic!("the browser did not come back: it is on {}", "gatehouse"));
    let answer: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(answer.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(answer["state"], "from-the-wiki");
    assert_eq!(answer["iss"], public_url);

    // The relying party redeems the code.
    let tokens = as_client(
        &app,
        &rp,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &answer["code"]),
            ("redirect_uri", &redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(tokens.status(), StatusCode::OK);
    let tokens: serde_json::Value = tokens.json().await.unwrap();
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], "n-chromium");
    assert_eq!(id_token["email"], email);
    browser.quit().await;
}
