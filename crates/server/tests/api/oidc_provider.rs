//! A real, independent OpenID Provider for the federation tests: panva's certified
//! `oidc-provider` (npm, locked in `tests/oidc-provider/package-lock.json`), run with
//! Node.js on loopback by `tests/oidc-provider/provider.mjs`; and a browser that follows
//! the redirects between it and gatehouse, keeping each side's cookies.
//!
//! `GATEHOUSE_TEST_OIDC_PROVIDER=1` makes these tests mandatory (CI sets it, after
//! `npm ci`); without it they skip with a note when `node` or the installed package is
//! missing.

use std::{
    collections::{BTreeMap, HashMap},
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};

/// The client registered at the provider.
pub const CLIENT_ID: &str = "gatehouse";
const CLIENT_SECRET: &str = "gatehouse-test-secret";
/// The provider's name in gatehouse's settings.
pub const NAME: &str = "test";

/// A running provider.
pub struct TestProvider {
    pub issuer: String,
    child: Child,
    http: reqwest::Client,
}

impl TestProvider {
    /// Starts a provider whose client may be sent back to `redirect_uri`, or `None` (with
    /// a note) when this machine cannot run it and the tests are not mandatory.
    pub fn start(redirect_uri: &str) -> Option<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
        let mandatory = std::env::var_os("GATEHOUSE_TEST_OIDC_PROVIDER").is_some();
        let installed = dir.join("node_modules/oidc-provider").exists();
        let node = Command::new("node").arg("--version").output().is_ok();
        if !(installed && node) {
            assert!(
                !mandatory,
                "GATEHOUSE_TEST_OIDC_PROVIDER is set but node or {} is missing (npm ci there)",
                dir.display()
            );
            crate::skips::skipped(crate::skips::Needs::OidcProvider);
            return None;
        }
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URIS", redirect_uri)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        let started: Value = serde_json::from_str(&first_line)
            .unwrap_or_else(|_| panic!("the provider said {first_line:?}"));
        Some(Self {
            issuer: started["issuer"].as_str().unwrap().to_owned(),
            child,
            http: reqwest::Client::new(),
        })
    }

    /// Who signs in at the provider's next authorization.
    pub async fn next_sign_in(&self, subject: &str, email: &str, email_verified: bool) {
        let body = json!({"sub": subject, "email": email, "email_verified": email_verified});
        let answer = self
            .http
            .post(format!("{}/test/login", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }

    /// How the provider spoils its next ID tokens (`None`: not at all).
    pub async fn tamper(&self, mode: Option<&str>) {
        let answer = self
            .http
            .post(format!("{}/test/tamper", self.issuer))
            .json(&json!({"mode": mode}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app, with the provider configured as `test`, listening where `PUBLIC_URL` says
/// (the provider sends the browser back there). `None` when the provider cannot run.
pub async fn app_with_provider(
    backend: Backend,
    extra: &[(&str, &str)],
) -> Option<(TestApp, TestProvider)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let public_url = format!("http://127.0.0.1:{port}");
    let provider = TestProvider::start(&format!("{public_url}/auth/oidc/{NAME}/callback"))?;
    let mut settings: Vec<(&str, &str)> = vec![
        ("APP_PORT", &port),
        ("PUBLIC_URL", &public_url),
        ("OIDC_PROVIDERS", NAME),
        ("OIDC_TEST_ISSUER", &provider.issuer),
        ("OIDC_TEST_CLIENT_ID", CLIENT_ID),
        ("OIDC_TEST_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_TEST_LABEL", "Test provider"),
    ];
    settings.extend_from_slice(extra);
    let app = spawn_app_with(backend, &settings).await;
    Some((app, provider))
}

/// A browser without JavaScript between gatehouse and the provider: it keeps cookies per
/// host and follows redirects itself, so a test can stop anywhere.
#[derive(Default)]
pub struct Visitor {
    cookies: HashMap<String, BTreeMap<String, String>>,
}

impl Visitor {
    /// GETs `url` as a navigation from `site` (what the browser says in `Sec-Fetch-Site`:
    /// `same-origin` from the app's own pages, `cross-site` from another site's).
    pub async fn get_from(&mut self, url: &str, site: Option<&str>) -> Response {
        self.send(url, None, site).await
    }

    /// GETs `url` with this browser's cookies for its host, keeping what it sets (a
    /// navigation from the app's own pages).
    pub async fn get(&mut self, url: &str, bearer: Option<&str>) -> Response {
        self.send(url, bearer, Some("same-origin")).await
    }

    async fn send(&mut self, url: &str, bearer: Option<&str>, site: Option<&str>) -> Response {
        let host = host_of(url);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut request = client.get(url);
        if let Some(jar) = self.cookies.get(&host)
            && !jar.is_empty()
        {
            let header: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(header::COOKIE, header.join("; "));
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().await.unwrap();
        let jar = self.cookies.entry(host).or_default();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let gone = value.is_empty()
                || attributes.to_ascii_lowercase().contains("max-age=0")
                || attributes.contains("1970");
            if gone {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        response
    }

    /// Posts `form` to `path` on the app from its own pages (its origin in `Origin`).
    pub async fn post_form(
        &mut self,
        app: &TestApp,
        path: &str,
        form: &[(&str, &str)],
    ) -> Response {
        let host = host_of(&app.address);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let jar = self.cookies.get(&host).cloned().unwrap_or_default();
        let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        client
            .post(format!("{}{path}", app.address))
            .header(header::COOKIE, cookies.join("; "))
            .header(header::ORIGIN, app.address.clone())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Forgets the cookies of `url`'s host (signs out at the provider, say).
    pub fn forget(&mut self, url: &str) {
        self.cookies.remove(&host_of(url));
    }

    /// The cookie `name` this browser holds for the app.
    pub fn cookie(&self, app: &TestApp, name: &str) -> Option<String> {
        self.cookies.get(&host_of(&app.address))?.get(name).cloned()
    }

    /// Starts at `start` (a path on the app), follows the provider's redirects, and stops
    /// at the app's callback: its URL (not yet opened).
    pub async fn walk_to_callback(
        &mut self,
        app: &TestApp,
        start: &str,
        bearer: Option<&str>,
    ) -> String {
        let sent = self.get(&format!("{}{start}", app.address), bearer).await;
        assert_eq!(
            sent.status(),
            StatusCode::FOUND,
            "{}",
            sent.text().await.unwrap()
        );
        self.follow_provider(app, location(&sent)).await
    }

    /// Follows the provider's redirects from `url` until they lead back to the app.
    pub async fn follow_provider(&mut self, app: &TestApp, mut url: String) -> String {
        for _ in 0..10 {
            // (With the slash: port 3717's address is a prefix of port 37175's.)
            if url.starts_with(&format!("{}/", app.address)) {
                return url;
            }
            let answer = self.get(&url, None).await;
            assert!(
                answer.status().is_redirection(),
                "the provider answered {} at {url}: {}",
                answer.status(),
                answer.text().await.unwrap()
            );
            let next = location(&answer);
            url = if next.starts_with('/') {
                format!("{}{next}", origin_of(&url))
            } else {
                next
            };
        }
        panic!("the provider never sent the browser back");
    }

    /// The whole sign-in: start, provider, callback (opened); the callback's answer.
    pub async fn sign_in(&mut self, app: &TestApp, start: &str) -> Response {
        let callback = self.walk_to_callback(app, start, None).await;
        self.get(&callback, None).await
    }
}

pub fn location(response: &Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

fn host_of(url: &str) -> String {
    origin_of(url)
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority = rest.split(['/', '?']).next().unwrap();
    format!("{scheme}://{authority}")
}
