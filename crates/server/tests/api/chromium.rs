//! A real browser for the pages' end-to-end tests: Debian's `chromium`, headless, driven
//! through its `chromedriver` over WebDriver (fantoccini), with Chromium's virtual
//! authenticator (the WebDriver WebAuthn extension) for passkeys.
//!
//! `GATEHOUSE_TEST_CHROMEDRIVER` names the driver and makes these tests mandatory (CI sets
//! it); without it they use `chromedriver` from `PATH`, and skip with a note when there
//! is none. Browsers take turns: one at a time is what two cores afford.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

static TURNS: Semaphore = Semaphore::const_new(1);

/// The driver to use: the variable's (which must exist), else `chromedriver` on `PATH`.
fn chromedriver() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("GATEHOUSE_TEST_CHROMEDRIVER") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "GATEHOUSE_TEST_CHROMEDRIVER: {path:?} not found"
        );
        return Some(path);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join("chromedriver"))
        .find(|candidate| candidate.exists())
}

/// A headless Chromium with a fresh profile, on the app at `base`.
pub struct Chromium {
    pub client: Client,
    pub base: String,
    driver: Child,
    _turn: SemaphorePermit<'static>,
}

impl Chromium {
    /// Starts a browser, or `None` (with a note) when this machine has no chromedriver.
    pub async fn launch(base: &str, javascript: bool) -> Option<Self> {
        let Some(driver_path) = chromedriver() else {
            crate::skips::skipped(crate::skips::Needs::Chromium);
            return None;
        };
        let turn = TURNS.acquire().await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&driver_path)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so the browser goes with it (see Drop).
                .process_group(0)
                .spawn()
                .expect("chromedriver starts")
        };
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--window-size=1000,1000", "--lang=en-US",
                "--password-store=basic",
            ],
        });
        if let Ok(binary) = std::env::var("GATEHOUSE_TEST_CHROMIUM") {
            options["binary"] = json!(binary);
        }
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => {
                    return Some(Self {
                        client,
                        base: base.to_owned(),
                        driver,
                        _turn: turn,
                    });
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromium did not start: {last_error:?}");
    }

    /// Opens `path` on the app.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The path (and query) the browser is on.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the page's `h1` says `title`.
    pub async fn wait_for_heading(&self, title: &str) {
        for _ in 0..100 {
            if let Ok(heading) = self.client.find(Locator::Css("h1")).await
                && heading.text().await.is_ok_and(|text| text == title)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no heading {title:?} on {}: {}",
            self.path().await,
            self.body_text().await
        );
    }

    /// The visible text of the page.
    pub async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Types `text` into the field labelled `label` (as the API's labels name them).
    pub async fn fill(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// The field whose `<label>` says `label`.
    pub async fn field(&self, label: &str) -> fantoccini::elements::Element {
        let path = format!("//*[@id=//label[normalize-space()='{label}']/@for]");
        self.client
            .find(Locator::XPath(&path))
            .await
            .unwrap_or_else(|_| panic!("no field labelled {label:?}"))
    }

    /// Clicks the (first) button that says `text`, and waits for the next page.
    pub async fn press(&self, text: &str) {
        self.click(Locator::XPath(&format!(
            "//button[normalize-space()='{text}']"
        )))
        .await;
    }

    /// Clicks what `locator` finds (waiting for it to be there), and waits for the next
    /// page.
    pub async fn click(&self, locator: Locator<'_>) {
        let old_page = self.client.find(Locator::Css("html")).await.unwrap();
        let target = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(locator)
            .await
            .unwrap_or_else(|_| panic!("nothing to click at {locator:?}"));
        target.click().await.unwrap();
        for _ in 0..150 {
            // The old page's element goes stale once the browser has left it.
            if old_page.tag_name().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "clicking {locator:?} led nowhere: {}",
            self.body_text().await
        );
    }

    /// Whether a button that says `text` is shown.
    pub async fn shows_button(&self, text: &str) -> bool {
        let path = format!("//button[normalize-space()='{text}']");
        match self.client.find(Locator::XPath(&path)).await {
            Ok(button) => button.is_displayed().await.unwrap(),
            Err(_) => false,
        }
    }

    /// The names of the cookies the browser holds for the app.
    pub async fn cookie_names(&self) -> Vec<String> {
        self.client
            .get_all_cookies()
            .await
            .unwrap()
            .iter()
            .map(|cookie| cookie.name().to_owned())
            .collect()
    }

    /// Runs `script` in the page.
    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// What an assistive technology would miss on this page: an input without a label,
    /// not exactly one `h1`, an error not announced or not tied to its field, a nameless
    /// button, no language. Empty when all is well.
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let found = self.run(ACCESSIBILITY_CHECK).await;
        serde_json::from_value(found).unwrap()
    }

    /// What is wrong with the page's focus order: the order of its links, buttons and
    /// fields must be the order they are shown in (top to bottom, left to right on a
    /// row), and from the first each Tab must reach the next (no `tabindex` reordering,
    /// nothing unreachable). Empty when all is well.
    pub async fn focus_order_problems(&self) -> Vec<String> {
        let expected: Vec<String> = serde_json::from_value(
            self.run(&format!("{FOCUSABLE}; return focusable().map(describe);"))
                .await,
        )
        .unwrap();
        let Some(first) = expected.first() else {
            return vec!["nothing on the page takes the focus".to_owned()];
        };
        let shown_out_of_order: Vec<String> = serde_json::from_value(
            self.run(&format!("{FOCUSABLE}; return visualOrderProblems();"))
                .await,
        )
        .unwrap();
        if !shown_out_of_order.is_empty() {
            return shown_out_of_order;
        }
        self.run(&format!("{FOCUSABLE}; focusable()[0].focus();"))
            .await;
        let mut reached = vec![self.focused().await];
        if &reached[0] != first {
            return vec![format!("focus went to {} instead of {first}", reached[0])];
        }
        for wanted in &expected[1..] {
            // A date-and-time field takes a Tab for each of its parts.
            let mut now = reached.last().unwrap().clone();
            for _ in 0..8 {
                let active = self.client.active_element().await.unwrap();
                active
                    .send_keys(&char::from(fantoccini::key::Key::Tab).to_string())
                    .await
                    .unwrap();
                now = self.focused().await;
                if &now != reached.last().unwrap() {
                    break;
                }
            }
            if &now != wanted {
                return vec![format!(
                    "after {} Tab went to {now}, not {wanted}",
                    reached.last().unwrap()
                )];
            }
            reached.push(now);
        }
        // As the page was: nothing focused, at its top.
        self.run(
            "document.activeElement.blur(); window.scrollTo(0, 0); \
             for (const box of document.querySelectorAll('*')) if (box.scrollLeft) box.scrollLeft = 0;",
        )
            .await;
        Vec::new()
    }

    async fn focused(&self) -> String {
        let found = self
            .run(&format!(
                "{FOCUSABLE}; return describe(document.activeElement);"
            ))
            .await;
        serde_json::from_value(found).unwrap()
    }

    /// How far the page scrolls sideways (0 when it fits the window's width).
    pub async fn sideways_scroll(&self) -> Value {
        self.run(
            "const page = document.documentElement; return page.scrollWidth - page.clientWidth",
        )
        .await
    }

    /// Saves a screenshot of the page as `docs/screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Sends a command under the session (`/session/{id}/{path}`).
    pub async fn command(&self, method: http::Method, path: &str, body: Option<Value>) -> Value {
        self.client
            .issue_cmd(SessionCommand {
                method,
                path: path.to_owned(),
                body,
            })
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    /// Adds Chromium's virtual platform authenticator (user verification on, resident
    /// keys, presence given at once); its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "isUserConsenting": true,
        });
        let id = self
            .command(http::Method::POST, "webauthn/authenticator", Some(options))
            .await;
        id.as_str().unwrap().to_owned()
    }

    /// The credentials the virtual authenticator `id` holds.
    pub async fn authenticator_credentials(&self, id: &str) -> Vec<Value> {
        let path = format!("webauthn/authenticator/{id}/credentials");
        let listed = self.command(http::Method::GET, &path, None).await;
        listed.as_array().unwrap().clone()
    }

    /// Shows the pages as to a visitor who prefers a dark scheme.
    pub async fn prefer_dark(&self) {
        let features = json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]});
        self.cdp("Emulation.setEmulatedMedia", features).await;
    }

    /// Sends a DevTools command (through chromedriver's `goog/cdp/execute`).
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        let body = json!({"cmd": command, "params": params});
        self.command(http::Method::POST, "goog/cdp/execute", Some(body))
            .await
    }

    /// Ends the browser (its session, then the driver).
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // The driver and, in its process group, the browser it started.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

/// A WebDriver command under the session that fantoccini has no method for.
#[derive(Debug)]
struct SessionCommand {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

/// What Tab reaches, in the page's order, and how each is named in a report.
const FOCUSABLE: &str = include_str!("js/focusable.js");

const ACCESSIBILITY_CHECK: &str = include_str!("js/accessibility.js");
