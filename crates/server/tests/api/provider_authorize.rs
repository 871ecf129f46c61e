//! The OpenID Provider's discovery and authorization endpoint over HTTP: every error of
//! the endpoint (a 400 page where the request cannot go back, a redirect with `state` and
//! `iss` otherwise), the sign-in and consent pages on the way, and the code.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::pages::Browser;

backend_tests!(
    discovery_names_the_issuer_and_endpoints_under_both_names,
    an_unknown_client_or_unregistered_redirect_is_a_page_never_a_redirect,
    each_request_error_goes_back_with_state_and_iss,
    a_visitor_signs_in_consents_and_comes_back_with_a_code,
    consent_is_remembered_asked_for_a_new_scope_and_when_prompted,
    a_first_party_app_asks_no_consent_and_prompt_none_answers_at_once,
    prompt_login_and_max_age_ask_for_a_fresh_sign_in,
    acr_aal2_is_unmet_for_an_account_without_a_second_factor,
    a_consent_answer_from_another_site_is_refused,
);

/// RFC 7636's example verifier and its `S256` challenge.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The issuer: the tests' `PUBLIC_URL`.
pub(crate) const ISSUER: &str = "http://127.0.0.1:8000";

/// A registered client as the tests use it.
#[derive(Debug, Clone)]
pub(crate) struct Rp {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
    pub(crate) redirect: String,
}

impl TestApp {
    /// Registers a client by the admin API: `changes` on top of a confidential "Wiki".
    pub(crate) async fn registered_rp(&self, admin: &str, changes: Value) -> Rp {
        let mut body = json!({
            "name": "Wiki",
            "redirect_uris": ["https://wiki.example.com/cb"],
            "post_logout_redirect_uris": ["https://wiki.example.com/bye"],
        });
        for (name, value) in changes.as_object().unwrap() {
            body[name] = value.clone();
        }
        let created = self
            .bearer(Method::POST, "/oauth/clients", admin, Some(body))
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let client: Value = created.json().await.unwrap();
        Rp {
            id: client["client_id"].as_str().unwrap().to_owned(),
            secret: client["client_secret"].as_str().map(str::to_owned),
            redirect: client["redirect_uris"][0].as_str().unwrap().to_owned(),
        }
    }

    /// A superuser's access token and a confidential client.
    pub(crate) async fn admin_and_rp(&self, changes: Value) -> (String, Rp) {
        let (_, _, admin) = self.superuser().await;
        let rp = self.registered_rp(&admin.access, changes).await;
        (admin.access, rp)
    }
}

/// `/oauth/authorize?…` for `rp` asking `openid email` with PKCE and `state=st8`; each of
/// `changes` replaces (or adds) a parameter, and the value `<absent>` removes it.
pub(crate) fn authorize_path(rp: &Rp, changes: &[(&str, &str)]) -> String {
    let mut parameters: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", rp.id.as_str()),
        ("redirect_uri", rp.redirect.as_str()),
        ("scope", "openid email"),
        ("state", "st8"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
    .collect();
    for (name, value) in changes {
        parameters.retain(|(existing, _)| existing != name);
        if *value != "<absent>" {
            parameters.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in &parameters {
        query.append_pair(name, value);
    }
    format!("/oauth/authorize?{}", query.finish())
}

/// The query of a redirect to `rp`, by name.
pub(crate) fn redirect_query(rp: &Rp, location: &str) -> BTreeMap<String, String> {
    let query = location
        .strip_prefix(&format!("{}?", rp.redirect))
        .unwrap_or_else(|| panic!("{location} does not go back to {}", rp.redirect));
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// A browser signed in to a new account, and the account's address.
pub(crate) async fn signed_in_browser(app: &TestApp) -> (Browser, String) {
    let (email, _) = app.registered_user().await;
    let mut browser = Browser::new(app);
    let signed_in = browser.sign_in(&email).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    (browser, email)
}

/// Runs an authorization through the consent page (allowing) when it shows; the code.
pub(crate) async fn code_for(browser: &mut Browser, rp: &Rp, changes: &[(&str, &str)]) -> String {
    let mut page = browser.get(&authorize_path(rp, changes)).await;
    if page.status == StatusCode::OK {
        assert!(page.html.contains("Allow"), "{}", page.html);
        page = answer_consent(browser, &page, "allow").await;
    }
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.html);
    let query = redirect_query(rp, page.location());
    query
        .get("code")
        .unwrap_or_else(|| panic!("no code: {query:?}"))
        .clone()
}

/// Posts the consent page's form with `decision`.
pub(crate) async fn answer_consent(
    browser: &mut Browser,
    page: &crate::pages::Page,
    decision: &str,
) -> crate::pages::Page {
    let fields = hidden_fields(&page.html);
    let mut form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    form.push(("decision", decision));
    browser.post("/oauth/authorize", &form).await
}

/// `text` with the entities the templates write undone.
pub(crate) fn unescape_html(text: &str) -> String {
    text.replace("&#38;", "&")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden fields of a page's form, HTML entities undone.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            let value = rest.split('"').next().unwrap();
            (name.to_owned(), unescape_html(value))
        })
        .collect()
}

async fn discovery_names_the_issuer_and_endpoints_under_both_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let openid: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oauth: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openid, oauth);
    assert_eq!(openid["issuer"], ISSUER);
    assert_eq!(
        openid["authorization_endpoint"],
        format!("{ISSUER}/oauth/authorize")
    );
    assert_eq!(openid["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(
        openid["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json")
    );
    assert_eq!(openid["response_types_supported"], json!(["code"]));
    assert_eq!(openid["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(openid["subject_types_supported"], json!(["public"]));
    assert_eq!(
        openid["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(openid["acr_values_supported"], json!(["aal1", "aal2"]));
    assert_eq!(
        openid["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        openid["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        openid["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        openid["scopes_supported"],
        json!(["openid", "email", "profile", "offline_access", "roles"])
    );
}

async fn an_unknown_client_or_unregistered_redirect_is_a_page_never_a_redirect(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let unknown = Rp {
        id: "0123456789abcdef0123456789abcdef".into(),
        ..rp.clone()
    };
    let elsewhere = [("redirect_uri", "https://evil.example.com/cb")];
    let prefix = [("redirect_uri", "https://wiki.example.com/cb/more")];
    let missing = [("redirect_uri", "<absent>")];
    let mut browser = Browser::new(&app);
    for (who, changes) in [
        (&unknown, &[][..]),
        (&rp, &elsewhere[..]),
        (&rp, &prefix[..]),
        (&rp, &missing[..]),
        (&rp, &[("client_id", "<absent>")][..]),
    ] {
        let page = browser.get(&authorize_path(who, changes)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{changes:?}");
        assert!(!page.headers.contains_key(header::LOCATION));
        assert!(
            page.html.contains("Sign-in request refused"),
            "{}",
            page.html
        );
    }
    // A repeated redirect_uri is as untrusted as a wrong one, even when one is right.
    let doubled = format!(
        "{}&redirect_uri=https%3A%2F%2Fevil.example.com%2Fcb",
        authorize_path(&rp, &[])
    );
    let page = browser.get(&doubled).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

async fn each_request_error_goes_back_with_state_and_iss(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let mut visitor = Browser::new(&app);
    let cases: [(&[(&str, &str)], &str); 8] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("code_challenge", "<absent>")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("scope", "openid admin")], "invalid_scope"),
        (&[("prompt", "none")], "login_required"),
        (&[("max_age", "-1")], "invalid_request"),
        (&[("prompt", "none login")], "invalid_request"),
        (&[("prompt", "sideways")], "invalid_request"),
    ];
    for (changes, error) in cases {
        let page = visitor.get(&authorize_path(&rp, changes)).await;
        assert_eq!(page.status, StatusCode::FOUND, "{changes:?}: {}", page.html);
        let query = redirect_query(&rp, page.location());
        assert_eq!(query["error"], error, "{changes:?}");
        assert!(!query["error_description"].is_empty());
        assert_eq!(query["state"], "st8");
        assert_eq!(query["iss"], ISSUER);
        assert!(!query.contains_key("code"));
    }
    let repeated = format!("{}&scope=openid", authorize_path(&rp, &[]));
    let page = visitor.get(&repeated).await;
    assert_eq!(
        redirect_query(&rp, page.location())["error"],
        "invalid_request"
    );

    // Signed in, prompt=none before consent; then the user's Deny.
    let (mut browser, _) = signed_in_browser(&app).await;
    let page = browser
        .get(&authorize_path(&rp, &[("prompt", "none")]))
        .await;
    assert_eq!(
        redirect_query(&rp, page.location())["error"],
        "consent_required"
    );
    let consent = browser.get(&authorize_path(&rp, &[])).await;
    assert_eq!(consent.status, StatusCode::OK);
    let denied = answer_consent(&mut browser, &consent, "deny").await;
    assert_eq!(denied.status, StatusCode::FOUND);
    let query = redirect_query(&rp, denied.location());
    assert_eq!(
        (query["error"].as_str(), query["state"].as_str()),
        ("access_denied", "st8")
    );
}

async fn a_visitor_signs_in_consents_and_comes_back_with_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (email, _) = app.registered_user().await;
    let mut browser = Browser::new(&app);
    let request = authorize_path(&rp, &[("login_hint", &email), ("nonce", "n-1")]);
    let to_login = browser.get(&request).await;
    assert_eq!(to_login.status, StatusCode::SEE_OTHER);
    let login_path = to_login.location().to_owned();
    assert!(login_path.starts_with("/login?return_to="), "{login_path}");
    let login = browser.get(&login_path).await;
    assert!(
        login.html.contains(&format!("value=\"{email}\"")),
        "login_hint fills Email"
    );
    let policy = login.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("form-action 'self' https://wiki.example.com"),
        "{policy}"
    );
    let csrf = login.field("csrf");
    let return_to = unescape_html(&login.field("return_to"));
    let signed_in = browser
        .post(
            "/login",
            &[
                ("email", &email),
                ("password", crate::helpers::PASSWORD),
                ("csrf", &csrf),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    let back = signed_in.location().to_owned();
    assert!(back.starts_with("/oauth/authorize?"), "{back}");

    let consent = browser.get(&back).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    assert!(consent.html.contains("Wiki"));
    assert!(consent.html.contains("wiki.example.com"));
    assert!(consent.html.contains("See your email address"));
    assert!(consent.html.contains(">Allow<") && consent.html.contains(">Deny<"));
    let policy = consent.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("form-action 'self' https://wiki.example.com"),
        "{policy}"
    );
    let allowed = answer_consent(&mut browser, &consent, "allow").await;
    assert_eq!(allowed.status, StatusCode::FOUND, "{}", allowed.html);
    let query = redirect_query(&rp, allowed.location());
    assert_eq!(query["state"], "st8");
    assert_eq!(query["iss"], ISSUER);
    assert_eq!(query["code"].len(), 64, "256 random bits");
    let events = app
        .events_of(gatehouse_domain::AuditEventType::OauthConsentGranted)
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["client_id"], rp.id);
    assert_eq!(events[0].details["scope"], "openid email");
}

async fn consent_is_remembered_asked_for_a_new_scope_and_when_prompted(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    code_for(&mut browser, &rp, &[]).await;
    let again = browser.get(&authorize_path(&rp, &[])).await;
    assert_eq!(again.status, StatusCode::FOUND, "remembered");
    let fewer = browser
        .get(&authorize_path(&rp, &[("scope", "openid")]))
        .await;
    assert_eq!(
        fewer.status,
        StatusCode::FOUND,
        "fewer scopes were granted too"
    );
    let more = browser
        .get(&authorize_path(&rp, &[("scope", "openid email profile")]))
        .await;
    assert_eq!(more.status, StatusCode::OK, "a new scope asks again");
    assert!(more.html.contains("See your user name"));
    let prompted = browser
        .get(&authorize_path(&rp, &[("prompt", "consent")]))
        .await;
    assert_eq!(prompted.status, StatusCode::OK, "prompt=consent asks again");
}

async fn a_first_party_app_asks_no_consent_and_prompt_none_answers_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    let page = browser
        .get(&authorize_path(&rp, &[("prompt", "none")]))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(redirect_query(&rp, page.location()).contains_key("code"));
}

async fn prompt_login_and_max_age_ask_for_a_fresh_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    let login = browser
        .get(&authorize_path(&rp, &[("prompt", "login")]))
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let location = login.location().to_owned();
    assert!(location.starts_with("/login?return_to="), "{location}");
    assert!(
        !location.contains("prompt"),
        "the sign-in answers prompt=login: {location}"
    );
    let none = browser
        .get(&authorize_path(
            &rp,
            &[("prompt", "none"), ("max_age", "0")],
        ))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let stale = browser.get(&authorize_path(&rp, &[("max_age", "1")])).await;
    assert_eq!(
        stale.status,
        StatusCode::SEE_OTHER,
        "a sign-in older than max_age"
    );
    assert!(stale.location().starts_with("/login?"));
    let stale_none = browser
        .get(&authorize_path(
            &rp,
            &[("prompt", "none"), ("max_age", "1")],
        ))
        .await;
    assert_eq!(
        redirect_query(&rp, stale_none.location())["error"],
        "login_required"
    );
    let fresh = browser
        .get(&authorize_path(&rp, &[("max_age", "3600")]))
        .await;
    assert_eq!(fresh.status, StatusCode::FOUND);
    drop(none);
}

async fn acr_aal2_is_unmet_for_an_account_without_a_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({ "first_party": true })).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    let page = browser
        .get(&authorize_path(&rp, &[("acr_values", "aal2")]))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        redirect_query(&rp, page.location())["error"],
        "unmet_authentication_requirements"
    );
}

async fn a_consent_answer_from_another_site_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    let consent = browser.get(&authorize_path(&rp, &[])).await;
    let fields = hidden_fields(&consent.html);
    let mut form: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(name, _)| name != "csrf")
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    form.push(("decision", "allow"));
    let forged = browser
        .send(
            Method::POST,
            "/oauth/authorize",
            &form,
            Some("https://evil.example.com"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!forged.headers.contains_key(header::LOCATION));
    let consents = app
        .client
        .get(app.url(&authorize_path(&rp, &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert_eq!(
        consents.status(),
        StatusCode::FOUND,
        "a visitor: login_required"
    );
    let page = browser
        .get(&authorize_path(&rp, &[("prompt", "none")]))
        .await;
    assert_eq!(
        redirect_query(&rp, page.location())["error"],
        "consent_required",
        "nothing was consented"
    );
}
