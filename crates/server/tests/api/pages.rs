//! The pages for browsers, over HTTP as a browser without JavaScript uses them: forms,
//! cookies, redirects. (The end-to-end tests in a real Chromium come with the rest of the
//! pages.)

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode, header};

use crate::helpers::{Backend, NEW_PASSWORD, PASSWORD, TestApp, Tokens, spawn_app, spawn_app_with};

backend_tests!(
    sign_up_and_sign_in_reach_the_account_page,
    a_wrong_password_shows_the_error_and_sets_no_cookie,
    forms_without_their_token_or_from_another_site_are_refused,
    an_account_with_totp_is_asked_for_its_code,
    sessions_end_from_the_account_page,
    every_field_is_labelled_and_every_page_has_one_heading,
    the_browser_session_outlives_the_access_token_and_signs_out_everywhere,
    limits_and_unreadable_forms_answer_as_pages,
    forgot_mail_and_reset_page_set_a_new_password,
    the_verify_link_verifies_only_when_its_button_is_pressed,
    the_password_changes_from_the_account_page,
    an_authenticator_app_is_set_up_and_turned_off_from_the_account_page,
);

/// `PUBLIC_URL`'s default origin.
pub(crate) const PAGE_ORIGIN: &str = "http://127.0.0.1:8000";

/// A browser without JavaScript: it keeps cookies, sends `Origin` on posts as browsers
/// do, and does not follow redirects (the tests look at them).
pub(crate) struct Browser {
    client: reqwest::Client,
    base: String,
    pub(crate) cookies: BTreeMap<String, String>,
}

/// A page as the browser got it.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: header::HeaderMap,
    pub(crate) html: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }

    /// The value of the form field `name` (the first one on the page).
    pub(crate) fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .html
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.html))
            + marker.len();
        let end = self.html[start..].find('"').unwrap() + start;
        self.html[start..end].to_owned()
    }
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.address.clone(),
            cookies: BTreeMap::new(),
        }
    }

    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header(
                header::USER_AGENT,
                "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0",
            );
        let cookie_header: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if !cookie_header.is_empty() {
            request = request.header(header::COOKIE, cookie_header.join("; "));
        }
        if method == Method::POST {
            request = request.form(form);
            if let Some(origin) = origin {
                request = request.header(header::ORIGIN, origin);
            }
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, &[], None).await
    }

    /// Posts `form` from this site (with the page's `csrf` added by the caller). A browser
    /// writes the origin it loaded the page from: `PUBLIC_URL`'s (the tests' server
    /// listens elsewhere, behind it as it were).
    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, form, Some(PAGE_ORIGIN)).await
    }

    /// Opens `path` and submits its form with `fields` and the page's CSRF token.
    pub(crate) async fn submit(
        &mut self,
        page_path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let page = self.get(page_path).await;
        assert_eq!(page.status, StatusCode::OK, "{page_path}: {}", page.html);
        let csrf = page.field("csrf");
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &csrf));
        self.post(action, &form).await
    }

    /// Signs in on `/login` with the tests' password.
    pub(crate) async fn sign_in(&mut self, email: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", PASSWORD)],
        )
        .await
    }

    pub(crate) fn signed_in(&self) -> bool {
        self.cookies.contains_key("access_token_cookie")
    }
}

async fn sign_up_and_sign_in_reach_the_account_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut browser = Browser::new(&app);
    let email = format!("page-{}@example.com", uuid::Uuid::new_v4().simple());

    let created = browser
        .submit(
            "/register",
            "/register",
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    assert_eq!(created.location(), "/account");
    assert!(browser.signed_in());
    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.html.contains(&email));
    assert!(account.html.contains("Chrome on Linux"));
    let policy = account.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "only the pages' own script file, no inline script: {policy}"
    );
    assert_eq!(account.headers[header::CACHE_CONTROL], "no-store");
    // Under the API's `no-referrer`, browsers post forms with `Origin: null`, which the
    // origin check refuses (found in Chromium): the pages send the origin, never a path.
    assert_eq!(account.headers[header::REFERRER_POLICY], "strict-origin");
    let script = account
        .html
        .split("<script src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(script.starts_with("/assets/passkeys.") && script.ends_with(".js"));
    let served = browser.get(&script).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(
        served.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(
        served.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(
        browser.get("/assets/passkeys.000000000000.js").await.status,
        StatusCode::NOT_FOUND
    );

    // The stylesheet: by its hashed name only, kept for a year.
    let sheet = account
        .html
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let css = browser.get(&sheet).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(
        browser.get("/assets/pages.000000000000.css").await.status,
        StatusCode::NOT_FOUND
    );

    let csrf = account.field("csrf");
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (out.status, out.location()),
        (StatusCode::SEE_OTHER, "/login")
    );
    assert!(!browser.signed_in());
    let away = browser.get("/account").await;
    assert_eq!(away.status, StatusCode::SEE_OTHER);
    assert_eq!(away.location(), "/login?return_to=/account");

    // Signing in again goes where it was sent from.
    let page = browser.get("/login?return_to=/account").await;
    let csrf = page.field("csrf");
    let back = browser
        .post(
            "/login",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("return_to", "/account"),
            ],
        )
        .await;
    assert_eq!(
        (back.status, back.location()),
        (StatusCode::SEE_OTHER, "/account")
    );
    // The session is the cookie mode's: HttpOnly token cookies, whatever
    // JWT_TOKEN_LOCATION says for the API (headers here).
    let access = back
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap())
        .find(|value| value.starts_with("access_token_cookie="))
        .unwrap();
    assert!(
        access.contains("HttpOnly") && access.contains("SameSite=Lax"),
        "{access}"
    );
}

async fn a_wrong_password_shows_the_error_and_sets_no_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let mut browser = Browser::new(&app);
    let refused = browser
        .submit(
            "/login",
            "/login",
            &[("email", &email), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.html.contains("role=\"alert\""));
    assert!(refused.html.contains("Invalid credentials"));
    assert!(refused.html.contains("aria-describedby=\"form-problem\""));
    assert!(refused.html.contains(&email), "the email stays filled in");
    assert!(!browser.signed_in());
    // An empty form names what is missing.
    let empty = browser.submit("/login", "/login", &[]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.html.contains("email"));
}

async fn forms_without_their_token_or_from_another_site_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, &[("CORS_ORIGINS", "https://app.example")]).await;
    let (email, _) = app.registered_user().await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/login").await;
    let csrf = page.field("csrf");
    let fields = [("email", email.as_str()), ("password", PASSWORD)];

    let no_token = browser.post("/login", &fields).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut wrong: Vec<(&str, &str)> = fields.to_vec();
    wrong.push(("csrf", "0".repeat(64).leak()));
    assert_eq!(
        browser.post("/login", &wrong).await.status,
        StatusCode::FORBIDDEN
    );
    let mut right: Vec<(&str, &str)> = fields.to_vec();
    right.push(("csrf", &csrf));
    let foreign = browser
        .send(Method::POST, "/login", &right, Some("https://evil.example"))
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert!(!browser.signed_in());

    // return_to: a path here, or a CORS origin; anything else lands on /account.
    for (asked, landed) in [
        ("/account?tab=sessions", "/account?tab=sessions"),
        ("https://app.example/welcome", "https://app.example/welcome"),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
    ] {
        let mut browser = Browser::new(&app);
        let page = browser.get("/login").await;
        let csrf = page.field("csrf");
        let mut form = right.clone();
        form.retain(|(name, _)| *name != "csrf");
        form.extend([("csrf", csrf.as_str()), ("return_to", asked)]);
        let signed_in = browser.post("/login", &form).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{asked}");
        assert_eq!(signed_in.location(), landed, "{asked}");
    }
}

async fn an_account_with_totp_is_asked_for_its_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let secret = app.enrol_totp(&tokens.access).await;
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();

    let mut browser = Browser::new(&app);
    let step = browser.sign_in(&email).await;
    assert_eq!(step.status, StatusCode::OK);
    assert!(step.html.contains("<label for=\"code\">Code</label>"));
    assert!(!browser.signed_in());
    let mfa_token = step.field("mfa_token");
    let csrf = step.field("csrf");
    let wrong = browser
        .post(
            "/login/second-step",
            &[
                ("csrf", &csrf),
                ("mfa_token", &mfa_token),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("Invalid code"));
    let code = secret.code_at(now);
    let right = browser
        .post(
            "/login/second-step",
            &[("csrf", &csrf), ("mfa_token", &mfa_token), ("code", &code)],
        )
        .await;
    assert_eq!(
        (right.status, right.location()),
        (StatusCode::SEE_OTHER, "/account")
    );
    assert!(browser.signed_in());
    let claims = app
        .codec()
        .verify_access(&browser.cookies["access_token_cookie"])
        .unwrap();
    assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
}

async fn sessions_end_from_the_account_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let elsewhere = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let mut browser = Browser::new(&app);
    let signed_in = browser.sign_in(&email).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let account = browser.get("/account").await;
    assert_eq!(account.html.matches("<li>").count(), 2);
    assert_eq!(
        account.html.matches(">End</button>").count(),
        1,
        "not this browser's own"
    );
    let action = account
        .html
        .split("action=\"/account/sessions/")
        .nth(1)
        .unwrap();
    let id = action.split('/').next().unwrap().to_owned();
    let csrf = account.field("csrf");
    let ended = browser
        .post(&format!("/account/sessions/{id}/end"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        (ended.status, ended.location()),
        (StatusCode::SEE_OTHER, "/account")
    );
    crate::helpers::assert_session_ended(app.me(&elsewhere.access).await).await;
    assert_eq!(
        browser.get("/account").await.html.matches("<li>").count(),
        1
    );

    // Sign out everywhere ends this browser's session too.
    let other = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let out = browser
        .post("/logout", &[("csrf", &csrf), ("everywhere", "true")])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    crate::helpers::assert_session_ended(app.me(&other.access).await).await;
    assert_eq!(browser.get("/account").await.status, StatusCode::SEE_OTHER);
}

async fn every_field_is_labelled_and_every_page_has_one_heading(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut browser = Browser::new(&app);
    let (email, _) = app.registered_user().await;
    let mut pages = vec![browser.get("/login").await, browser.get("/register").await];
    pages.push(
        browser
            .submit(
                "/register",
                "/register",
                &[("email", "not-an-email"), ("password", "x")],
            )
            .await,
    );
    browser.sign_in(&email).await;
    pages.push(browser.get("/account").await);
    for page in &pages {
        assert_eq!(page.html.matches("<h1>").count(), 1, "{}", page.html);
        assert!(page.html.contains("<html lang=\"en\">"));
        for input in page.html.split("<input").skip(1) {
            let tag = input.split('>').next().unwrap();
            if tag.contains("type=\"hidden\"") {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert!(
                page.html.contains(&format!("<label for=\"{id}\">")),
                "input {id} has a label: {}",
                page.html
            );
        }
    }
    // Errors are tied to their fields.
    let invalid = &pages[2];
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(invalid.html.contains("aria-describedby=\"email-error\""));
    assert!(invalid.html.contains("id=\"email-error\""));
    assert!(invalid.html.contains("password-error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_enabled_false_turns_the_pages_off() {
    let app = spawn_app_with(Backend::Sqlite, &[("UI_ENABLED", "false")]).await;
    let response = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app.client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

async fn the_browser_session_outlives_the_access_token_and_signs_out_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let elsewhere = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let mut browser = Browser::new(&app);
    browser.sign_in(&email).await;
    // The access cookie outlives its token (15 minutes): an hour later the page still
    // knows the session, which the server checks.
    let claims = app
        .codec()
        .verify_access(&browser.cookies["access_token_cookie"])
        .unwrap();
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let expired = app
        .codec()
        .issue_page_handle(
            claims.user_id,
            claims.session_id,
            true,
            (
                &gatehouse_domain::Assurance::password(),
                &gatehouse_domain::HeldRoles::default(),
            ),
            an_hour_ago,
        )
        .unwrap();
    assert!(app.codec().verify_access(&expired.token).is_err());
    browser
        .cookies
        .insert("access_token_cookie".into(), expired.token.clone());
    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.html);
    // "Sign out everywhere" then ends every session, the other device's too.
    let csrf = account.field("csrf");
    let out = browser
        .post("/logout", &[("csrf", &csrf), ("everywhere", "true")])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    crate::helpers::assert_session_ended(app.me(&elsewhere.access).await).await;
    // The ended session's handle opens nothing.
    browser
        .cookies
        .insert("access_token_cookie".into(), expired.token);
    assert_eq!(browser.get("/account").await.status, StatusCode::SEE_OTHER);
}

async fn limits_and_unreadable_forms_answer_as_pages(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "2"),
        ],
    )
    .await;
    let mut browser = Browser::new(&app);
    let mut last = None;
    for _ in 0..3 {
        last = Some(
            browser
                .submit(
                    "/login",
                    "/login",
                    &[("email", "a@example.com"), ("password", "x")],
                )
                .await,
        );
    }
    let limited = last.unwrap();
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    assert!(limited.html.contains("Too many attempts"));
    assert!(limited.html.contains("<title>Error: Sign in"));

    // A field twice: a page, not the API's JSON.
    let page = browser.get("/login").await;
    let csrf = page.field("csrf");
    let response = app
        .client
        .post(app.url("/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("gatehouse_page_csrf={csrf}"))
        .body(format!("csrf={csrf}&csrf={csrf}&email=a"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

async fn forgot_mail_and_reset_page_set_a_new_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let mut browser = Browser::new(&app);
    let asked = browser
        .submit("/forgot-password", "/forgot-password", &[("email", &email)])
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    assert!(asked.html.contains("Check your mail"));
    // An address no account has gets the same page.
    let unknown = browser
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!(
        unknown.html.replace("nobody@example.com", ""),
        asked.html.replace(&email, "")
    );
    let malformed = browser
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("email", "not-an-address")],
        )
        .await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(malformed.html.contains("id=\"email-error\""));

    let mail = app.wait_for_mails(&email, 1).await.remove(0);
    let token = crate::helpers::token_in(&mail);
    let link = format!("/reset-password?token={token}");
    assert!(
        mail.replace("=\r\n", "").replace("=\n", "").contains(&link),
        "{mail}"
    );
    // Opening the link (twice: a mail scanner, then the owner) spends nothing.
    browser.get(&link).await;
    let page = browser.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html
            .contains("<label for=\"new_password\">New password</label>")
    );
    assert!(page.html.contains(">Set password</button>"));
    let csrf = page.field("csrf");
    let weak = browser
        .post(
            "/reset-password",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new_password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.html.contains("id=\"password-error\""));
    let set = browser
        .post(
            "/reset-password",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.html);
    assert!(set.html.contains("Password set"));
    let again = browser
        .post(
            "/reset-password",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.html.contains("expired or was used"));
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn the_verify_link_verifies_only_when_its_button_is_pressed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id) = app.registered_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email).await;
    let account = browser.get("/account").await;
    assert!(account.html.contains("not verified yet"));
    let csrf = account.field("csrf");
    let sent = browser
        .post("/account/verify-mail", &[("csrf", &csrf)])
        .await;
    assert_eq!(sent.location(), "/account?sent=verification");
    assert!(
        browser
            .get(sent.location())
            .await
            .html
            .contains("on its way")
    );

    let mail = app.wait_for_mails(&email, 1).await.remove(0);
    let token = crate::helpers::token_in(&mail);
    let mut scanner = Browser::new(&app);
    let page = scanner.get(&format!("/verify?token={token}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(">Verify</button>"));
    let verified_now = || async {
        app.users()
            .find_by_id(crate::helpers::user_id(&id))
            .await
            .unwrap()
            .unwrap()
            .is_verified
    };
    assert!(!verified_now().await, "a GET spends nothing");
    let csrf = page.field("csrf");
    let verified = scanner
        .post("/verify", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(verified.status, StatusCode::OK);
    assert!(verified.html.contains("is verified"));
    assert!(verified_now().await);
    assert!(browser.get("/account").await.html.contains("verified"));
    assert!(!browser.get("/account").await.html.contains("not verified"));
    let bad = scanner
        .post("/verify", &[("csrf", &csrf), ("token", "nope")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

async fn the_password_changes_from_the_account_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    let elsewhere = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let mut browser = Browser::new(&app);
    browser.sign_in(&email).await;
    assert!(
        browser
            .get("/account")
            .await
            .html
            .contains("href=\"/account/password\"")
    );
    let page = browser.get("/account/password").await;
    assert!(
        page.html
            .contains("<label for=\"current_password\">Current password</label>")
    );
    let csrf = page.field("csrf");
    let wrong = browser
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", "not-it"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("id=\"current-error\""));
    let weak = browser
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.html.contains("id=\"password-error\""));
    let changed = browser
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.location(), "/account?changed=password");
    let account = browser.get(changed.location()).await;
    assert_eq!(account.status, StatusCode::OK, "this session stays");
    assert!(account.html.contains("Your password is changed"));
    crate::helpers::assert_session_ended(app.me(&elsewhere.access).await).await;
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    app.wait_for_notice(&email, "your password was changed")
        .await;

    // An account with a second factor needs a session that used it.
    let (other, _, tokens) = app.logged_in_user().await;
    let mut password_only = Browser::new(&app);
    password_only.sign_in(&other).await;
    app.enrol_totp(&tokens.access).await;
    // Enrolling ended the browser's other session; the one that enrolled stays, at aal1.
    assert_eq!(
        password_only.get("/account").await.status,
        StatusCode::SEE_OTHER
    );
    // The enrolling session, as a page session would hold it (an API token is none).
    let claims = app.codec().verify_access(&tokens.access).unwrap();
    let handle = app
        .codec()
        .issue_page_handle(
            claims.user_id,
            claims.session_id,
            true,
            (
                &gatehouse_domain::Assurance::password(),
                &gatehouse_domain::HeldRoles::default(),
            ),
            chrono::Utc::now(),
        )
        .unwrap();
    password_only
        .cookies
        .insert("access_token_cookie".into(), handle.token);
    let page = password_only.get("/account/password").await;
    let csrf = page.field("csrf");
    let refused = password_only
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("Stronger authentication required"));
    // Unchanged: the old password still opens the first step.
    let first_step = app.login(&other, PASSWORD).await;
    assert_eq!(first_step.status(), StatusCode::FORBIDDEN);
}

async fn an_authenticator_app_is_set_up_and_turned_off_from_the_account_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = app.registered_user().await;
    app.verify_address(&email).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email).await;
    let account = browser.get("/account").await;
    assert!(
        account
            .html
            .contains(">Set up an authenticator app</button>")
    );
    let csrf = account.field("csrf");
    let setup = browser.post("/account/totp", &[("csrf", &csrf)]).await;
    assert_eq!(setup.status, StatusCode::OK);
    assert!(setup.html.contains("<svg"), "a QR code drawn on the server");
    assert!(!setup.html.contains("<?xml"));
    assert_eq!(setup.headers[header::CACHE_CONTROL], "no-store");
    let key = setup
        .html
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let secret = gatehouse_auth::TotpSecret::from_base32(&key).unwrap();
    let wrong = browser
        .post(
            "/account/totp/confirm",
            &[("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong.html.contains("Invalid code") && wrong.html.contains(&key),
        "the same key again"
    );
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let code = secret.code_at(now - 30);
    let codes = browser
        .post("/account/totp/confirm", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(codes.status, StatusCode::OK, "{}", codes.html);
    let listed = codes.html.split("<pre class=\"codes\"").nth(1).unwrap();
    let listed = listed.split("</pre>").next().unwrap();
    assert_eq!(listed.lines().filter(|line| line.contains('-')).count(), 10);
    assert!(
        codes
            .html
            .contains("download=\"recovery-codes.txt\" href=\"data:text/plain")
    );

    // The next sign-in asks for the code.
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let step = browser.sign_in(&email).await;
    assert!(step.html.contains("<label for=\"code\">Code</label>"));
    let csrf = step.field("csrf");
    let mfa_token = step.field("mfa_token");
    let signed_in = browser
        .post(
            "/login/second-step",
            &[
                ("csrf", &csrf),
                ("mfa_token", &mfa_token),
                ("code", &secret.code_at(now)),
            ],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let account = browser.get("/account").await;
    assert!(
        account
            .html
            .contains("Authenticator app: on · 10 recovery codes left")
    );
    let csrf = account.field("csrf");
    let off = browser
        .post("/account/totp/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(off.location(), "/account?changed=totp");
    assert!(
        browser
            .get("/account")
            .await
            .html
            .contains(">Set up an authenticator app</button>")
    );
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}
