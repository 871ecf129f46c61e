//! What the fourth attack review found (issue 28), each as the attacker tried it: an
//! account prepared before its owner signs up (an identity of the attacker's, a passkey),
//! second steps and back-offs raced by concurrent guesses, logins waiting for a second step
//! that outlive a reset, an administrator's address shown to the user, an administrator
//! without their second factor, and the federation callback voided by a stranger. Each
//! test failed on the code before its fix.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode, header};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::{
    federation::{START, access_of, count},
    helpers::{
        Backend, NEW_PASSWORD, PASSWORD, TestApp, Tokens, assert_problem, spawn_app,
        spawn_app_with, token_in,
    },
    oidc_provider::{Visitor, app_with_provider},
    pages::Browser,
    soft_passkey::SoftPasskey,
};

backend_tests!(
    an_identity_cannot_be_linked_to_an_address_nobody_proved,
    a_passkey_cannot_be_added_to_an_address_nobody_proved,
    a_completed_reset_proves_the_mailbox_and_kills_pending_second_steps,
    a_password_change_kills_pending_second_steps,
    concurrent_wrong_codes_on_one_mfa_token_are_judged_at_most_five_times,
    concurrent_wrong_passwords_are_judged_no_faster_than_one_by_one,
    a_right_password_before_the_second_step_keeps_the_networks_failures,
    the_answer_carrying_an_mfa_token_is_not_stored,
    the_activity_list_hides_an_administrators_address_and_browser,
    an_administrator_with_a_second_factor_changes_accounts_only_with_it,
    a_stranger_with_the_callback_address_cannot_void_the_sign_in,
    a_link_by_bearer_token_needs_no_browser_headers,
    an_api_clients_access_token_opens_no_page,
    open_passkey_ceremonies_are_bounded_and_spend_the_network_budget,
    a_passkey_planted_with_a_stolen_password_is_undone_from_the_mail,
    an_authenticator_planted_with_a_stolen_password_is_undone_from_the_mail,
    an_identity_linked_with_a_stolen_password_is_undone_from_the_mail,
    passkeys_are_made_under_a_random_handle_per_account,
    an_administrators_password_change_kills_pending_second_steps,
    a_hash_upgrade_that_finishes_after_a_reset_writes_nothing,
    a_second_steps_ceremony_that_is_gone_counts_against_nothing,
    each_way_in_a_thief_added_has_its_link_and_the_page_says_what_remains,
    an_old_link_does_not_remove_a_later_authenticator,
    without_the_pages_the_notice_carries_no_link_to_them,
);

/// The victim's address, at the attacker's provider and in the attacker's registration.
const VICTIM: &str = "victim@example.com";

impl TestApp {
    /// Resets `email`'s password by its mail, as the mailbox's owner does.
    async fn reset_by_mail(&self, email: &str) {
        let asked = self
            .post_json("/auth/forgot-password", &json!({"email": email}))
            .await;
        assert_eq!(asked.status(), StatusCode::ACCEPTED);
        let mail = self.wait_for_mails(email, 1).await.remove(0);
        let reset = self
            .post_json(
                "/auth/reset-password",
                &json!({"token": token_in(&mail), "new_password": NEW_PASSWORD}),
            )
            .await;
        assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    }

    /// An account with TOTP on (its address verified first): the email, the
    /// authenticator, and the enrolling tokens.
    async fn with_totp(&self) -> (String, gatehouse_auth::TotpSecret, Tokens) {
        let (email, _, tokens) = self.logged_in_user().await;
        let secret = self.enrol_totp(&tokens.access).await;
        (email, secret, tokens)
    }
}

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap()
}

/// Mallory registers the victim's address with a password of his own and, while nobody has
/// proved the address, links his identity at his provider. Before the fix the link was
/// made (and kept as vouched), survived the owner's reset and verification, and signed
/// Mallory in to the owner's account.
async fn an_identity_cannot_be_linked_to_an_address_nobody_proved(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    assert_eq!(
        app.register(VICTIM, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let mallory = Tokens::from_json(&app.login(VICTIM, PASSWORD).await.json().await.unwrap());
    provider
        .next_sign_in("mallory-sub", "mallory@evil.example", true)
        .await;
    let link = Visitor::default()
        .get(
            &format!("{}/auth/oidc/test/link", app.address),
            Some(&mallory.access),
        )
        .await;
    assert_problem(link, 403, Some("Email not verified")).await;
    assert_eq!(count(&app, "identities").await, 0);
    assert_eq!(count(&app, "federated_logins").await, 0);

    // The owner takes the account back by mail; Mallory's identity is nobody's way in.
    app.reset_by_mail(VICTIM).await;
    assert_eq!(
        app.me(&mallory.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "Mallory's session ended with the reset"
    );
    provider
        .next_sign_in("mallory-sub", "mallory@evil.example", true)
        .await;
    let mut visitor = Visitor::default();
    assert_eq!(
        visitor.sign_in(&app, START).await.status(),
        StatusCode::SEE_OTHER
    );
    let me: Value = app
        .me(&access_of(&visitor, &app))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["email"], "mallory@evil.example",
        "not the victim's account"
    );
    // Once the owner proved the address, the owner may link.
    let owner = Tokens::from_json(&app.login(VICTIM, NEW_PASSWORD).await.json().await.unwrap());
    let allowed = Visitor::default()
        .get(
            &format!("{}/auth/oidc/test/link", app.address),
            Some(&owner.access),
        )
        .await;
    assert_eq!(allowed.status(), StatusCode::FOUND);
}

/// The same with a passkey from Mallory's authenticator: before the fix it was added,
/// kept by the owner's reset, and signed Mallory in.
async fn a_passkey_cannot_be_added_to_an_address_nobody_proved(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.register(VICTIM, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let mallory = Tokens::from_json(&app.login(VICTIM, PASSWORD).await.json().await.unwrap());
    let options = app
        .bearer(
            Method::POST,
            "/auth/passkeys/register/options",
            &mallory.access,
            None,
        )
        .await;
    assert_problem(options, 403, Some("Email not verified")).await;
    // Nor an authenticator app.
    let totp = app
        .bearer(Method::POST, "/auth/mfa/totp/setup", &mallory.access, None)
        .await;
    assert_problem(totp, 403, Some("Email not verified")).await;

    // A passkey ceremony that began while the address was verified cannot be finished
    // once it is not (an administrator changed the address, say).
    app.verify_address(VICTIM).await;
    let mut device = SoftPasskey::new(crate::passkeys::ORIGIN);
    let options: Value = app
        .bearer(
            Method::POST,
            "/auth/passkeys/register/options",
            &mallory.access,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let credential = device.create(&options).unwrap();
    app.users()
        .set_verified(
            crate::helpers::user_id(
                app.me(&mallory.access).await.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap(),
            ),
            false,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let finished = app
        .bearer(
            Method::POST,
            "/auth/passkeys/register",
            &mallory.access,
            Some(json!({"challenge_id": options["challenge_id"], "credential": credential})),
        )
        .await;
    assert_problem(finished, 403, Some("Email not verified")).await;
    assert_eq!(count(&app, "passkeys").await, 0);
}

/// A reset proves the mailbox: the address is verified, and a login that was waiting for
/// its second step (begun with the old password) cannot be finished. Before the fix the
/// address stayed unverified and the old `mfa_token` with a relayed code gave 200.
async fn a_completed_reset_proves_the_mailbox_and_kills_pending_second_steps(backend: Backend) {
    let app = spawn_app(backend).await;
    let (plain, _) = app.registered_user().await;
    app.reset_by_mail(&plain).await;
    let tokens = Tokens::from_json(&app.login(&plain, NEW_PASSWORD).await.json().await.unwrap());
    let me: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["is_verified"], true, "the reset proved the address");

    let (email, secret, _) = app.with_totp().await;
    let pending = app.first_step(&email).await;
    app.reset_by_mail(&email).await;
    let relayed = app
        .second_step(&pending, json!({"code": secret.code_at(now())}))
        .await;
    assert_problem(relayed, 401, Some("Invalid or expired MFA token")).await;
}

/// The same for a password change: a login begun with the old password dies with it.
async fn a_password_change_kills_pending_second_steps(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, secret, _) = app.with_totp().await;
    let owner = app.first_step(&email).await;
    let signed_in = app
        .second_step(&owner, json!({"code": secret.code_at(now())}))
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let owner = Tokens::from_json(&signed_in.json().await.unwrap());
    let thief = app.first_step(&email).await;
    let changed = app
        .bearer(
            Method::POST,
            "/auth/change-password",
            &owner.access,
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let relayed = app
        .second_step(&thief, json!({"code": secret.code_at(now() + 30)}))
        .await;
    assert_problem(relayed, 401, Some("Invalid or expired MFA token")).await;
}

/// Fifty wrong codes at once on one `mfa_token`: at most five are judged. Before the fix
/// every one that read the count before the others wrote it was judged (up to all 50).
async fn concurrent_wrong_codes_on_one_mfa_token_are_judged_at_most_five_times(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, secret, _) = app.with_totp().await;
    let mfa_token = app.first_step(&email).await;
    // A code of an hour ago: wrong now.
    let wrong = secret.code_at(now() - 3600);
    let answers = join_all((0..50).map(|_| async {
        let response = app.second_step(&mfa_token, json!({"code": wrong})).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (
            status,
            body["detail"].as_str().unwrap_or_default().to_owned(),
        )
    }))
    .await;
    let judged = answers
        .iter()
        .filter(|(_, detail)| detail == "Invalid code")
        .count();
    assert!(judged <= 5, "{judged} wrong codes were judged");
    assert!(
        answers
            .iter()
            .all(|(status, detail)| *status == StatusCode::UNAUTHORIZED
                && (detail == "Invalid code" || detail == "Invalid or expired MFA token")),
        "{answers:?}"
    );
    // And the right code cannot follow them.
    let late = app
        .second_step(&mfa_token, json!({"code": secret.code_at(now())}))
        .await;
    assert_problem(late, 401, Some("Invalid or expired MFA token")).await;
}

fn throttled(settings: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut all = vec![
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "10000"),
        ("TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
    ];
    all.extend_from_slice(settings);
    all
}

async fn login_from(app: &TestApp, client: &str, email: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/auth/login"))
        .header("X-Forwarded-For", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Thirty wrong passwords at once from one network: no more are judged than the back-off
/// lets through one after another (five). Before the fix each read the back-off before
/// any failure was counted, and all were judged.
async fn concurrent_wrong_passwords_are_judged_no_faster_than_one_by_one(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &throttled(&[("LOGIN_FAILURES_BEFORE_BACKOFF", "5")]),
    )
    .await;
    let (email, _) = app.registered_user().await;
    let statuses =
        join_all((0..30).map(|_| login_from(&app, "198.51.100.7", &email, "not-the-password")))
            .await;
    let judged = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        judged <= 5,
        "{judged} wrong passwords were judged: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::UNAUTHORIZED
                || *status == StatusCode::TOO_MANY_REQUESTS)
    );
}

/// A right password of an account with a second factor is not a sign-in: the network's
/// failures stay. Before the fix it cleared them, so a thief who knows the password could
/// guess codes (or passwords of a shared address) without ever meeting the back-off.
async fn a_right_password_before_the_second_step_keeps_the_networks_failures(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &throttled(&[("LOGIN_FAILURES_BEFORE_BACKOFF", "3")]),
    )
    .await;
    let (email, _, _) = app.with_totp().await;
    let thief = "203.0.113.9";
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, thief, &email, "not-the-password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, thief, &email, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "the second step"
    );
    // The third failure from this network starts its back-off: all three are counted.
    assert_eq!(
        login_from(&app, thief, &email, "not-the-password").await,
        StatusCode::UNAUTHORIZED
    );
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT failures, blocked_until FROM login_throttles \
                 WHERE email = '{email}' AND network = '{thief}'"
            ),
        ))
        .await
        .unwrap()
        .expect("the network's count");
    assert_eq!(row.try_get::<i32>("", "failures").unwrap(), 3);
    // The owner's network is not held back.
    assert_eq!(
        login_from(&app, "192.0.2.10", &email, PASSWORD).await,
        StatusCode::FORBIDDEN
    );
}

/// The 403 that carries an `mfa_token` is a credential in transit: no cache keeps it.
async fn the_answer_carrying_an_mfa_token_is_not_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, _) = app.with_totp().await;
    let response = app.login(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
}

/// What an administrator did shows in the user's own activity without the
/// administrator's address and browser. Before the fix they were shown.
async fn the_activity_list_hides_an_administrators_address_and_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (_, id, user) = app.logged_in_user().await;
    let changed = app
        .client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(&admin.access)
        .header(
            header::USER_AGENT,
            "AdminConsole/1.0 (corp-vpn host ops-laptop-17)",
        )
        .json(&json!({"is_verified": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let activity: Value = app
        .bearer(Method::GET, "/auth/activity", &user.access, None)
        .await
        .json()
        .await
        .unwrap();
    let updated = activity
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "user.updated")
        .expect("the change is listed");
    assert_eq!(updated["ip"], Value::Null);
    assert_eq!(updated["user_agent"], Value::Null);
    let login = activity
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "login.succeeded")
        .expect("the user's own login");
    assert!(login["ip"].is_string(), "the user's own events keep theirs");
}

/// An administrator whose account has a second factor changes other accounts only from a
/// login that used it. Before the fix a password-only token (the factor added after the
/// login) was enough.
async fn an_administrator_with_a_second_factor_changes_accounts_only_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (_, id, _) = app.logged_in_user().await;
    app.enrol_totp(&admin.access).await;
    let path = format!("/users/{id}");
    let patch = app
        .bearer(
            Method::PATCH,
            &path,
            &admin.access,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_problem(patch, 403, Some("Stronger authentication required")).await;
    let reset = app
        .bearer(Method::DELETE, &format!("{path}/mfa"), &admin.access, None)
        .await;
    assert_problem(reset, 403, Some("Stronger authentication required")).await;
    let delete = app.bearer(Method::DELETE, &path, &admin.access, None).await;
    assert_problem(delete, 403, Some("Stronger authentication required")).await;
    // Reading stays open.
    let read = app.bearer(Method::GET, &path, &admin.access, None).await;
    assert_eq!(read.status(), StatusCode::OK);
}

/// Someone who sees a callback's address (a proxy log, over a shoulder) opens it without
/// the browser's binding cookie: refused, and the owner's sign-in still completes. Before
/// the fix the stranger's request spent the `state` and the owner's failed.
async fn a_stranger_with_the_callback_address_cannot_void_the_sign_in(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    provider
        .next_sign_in("olga-sub", "olga@example.com", true)
        .await;
    let mut owner = Visitor::default();
    let callback = owner.walk_to_callback(&app, START, None).await;
    let stranger = Visitor::default().get(&callback, None).await;
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    let signed_in = owner.get(&callback, None).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
}

/// A script links with its Bearer token and sends no browser headers: a Bearer header is
/// never sent cross-site, so nothing is refused. Before the fix: 403 `Cross-site request
/// refused`.
async fn a_link_by_bearer_token_needs_no_browser_headers(backend: Backend) {
    let Some((app, _provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let (email, _, tokens) = app.logged_in_user().await;
    app.verify_address(&email).await;
    let link = app
        .client
        .get(app.url("/auth/oidc/test/link"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), StatusCode::FOUND);
}

/// An API client's access token put in the pages' cookie is no page session, and an
/// expired one opens nothing. Before the fix any access token was accepted as a handle on
/// its session, expired or not: `/account` showed, and "Sign out everywhere" worked.
async fn an_api_clients_access_token_opens_no_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let claims = app.codec().verify_access(&tokens.access).unwrap();
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let expired = app
        .codec()
        .issue_access_at(
            claims.user_id,
            claims.session_id,
            true,
            (
                &gatehouse_domain::Assurance::password(),
                &gatehouse_domain::HeldRoles::default(),
            ),
            an_hour_ago,
        )
        .unwrap()
        .token;
    for token in [&tokens.access, &expired] {
        let page = app
            .client
            .get(app.url("/account"))
            .header(header::COOKIE, format!("access_token_cookie={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
        assert!(
            page.headers()[header::LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/login"),
        );
    }
}

/// Registration options in a loop: an account keeps at most five open (a new one replaces
/// the oldest), and every options route spends the network's budget. Before the fix each
/// request left a row until the hourly purge, and registration options were not limited.
async fn open_passkey_ceremonies_are_bounded_and_spend_the_network_budget(backend: Backend) {
    let app = spawn_app(backend.clone()).await;
    let (email, _, tokens) = app.logged_in_user().await;
    app.verify_address(&email).await;
    let mut challenges = Vec::new();
    for _ in 0..8 {
        let options: Value = app
            .bearer(
                Method::POST,
                "/auth/passkeys/register/options",
                &tokens.access,
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        challenges.push(options["challenge_id"].clone());
    }
    assert_eq!(count(&app, "passkey_ceremonies").await, 5);
    // The oldest was replaced: it cannot be finished.
    let mut device = SoftPasskey::new(crate::passkeys::ORIGIN);
    let options = json!({"challenge_id": challenges[0], "publicKey": {
        "challenge": "AAAAAAAAAAAAAAAAAAAAAA", "rp": {"id": "localhost", "name": "x"},
        "user": {"id": "AAAA", "name": email, "displayName": email},
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}]}});
    let credential = device.create(&options).unwrap();
    let stale = app
        .bearer(
            Method::POST,
            "/auth/passkeys/register",
            &tokens.access,
            Some(json!({"challenge_id": challenges[0], "credential": credential})),
        )
        .await;
    assert_problem(stale, 400, Some("Invalid or expired challenge")).await;

    let limited = spawn_app_with(backend, &throttled(&[("RATE_LIMIT_LOGIN_PER_MIN", "5")])).await;
    let (email, _) = limited.registered_user().await;
    limited.verify_address(&email).await;
    let tokens = Tokens::from_json(&limited.login(&email, PASSWORD).await.json().await.unwrap());
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(
            limited
                .bearer(
                    Method::POST,
                    "/auth/passkeys/register/options",
                    &tokens.access,
                    None,
                )
                .await
                .status(),
        );
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

/// The "this wasn't me" link of a security mail: `/not-me?token=…`. Opening it twice
/// spends nothing; a password that breaks the rules is refused and spends nothing either;
/// `Secure my account` with a new password undoes the way in and signs every device out.
/// Returns the page that says so.
async fn secure_from_notice(
    app: &TestApp,
    owner: &str,
    subject: &str,
    public_url: Option<&str>,
) -> crate::pages::Page {
    let notice = app.wait_for_notice(owner, subject).await;
    assert!(notice.contains("/not-me?token="), "{notice}");
    let token = token_in(&notice);
    let mut browser = Browser::new(app);
    let link = format!("/not-me?token={token}");
    browser.get(&link).await;
    let page = browser.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "opening spends nothing");
    assert!(
        page.html.contains(">Secure my account</button>")
            && page
                .html
                .contains("<label for=\"new_password\">New password</label>"),
        "{}",
        page.html
    );
    // From the page, as a browser posts it: with `PUBLIC_URL`'s origin.
    let origin = public_url.unwrap_or(crate::pages::PAGE_ORIGIN);
    let weak = browser
        .send(
            Method::POST,
            "/not-me",
            &[
                ("csrf", &page.field("csrf")),
                ("token", &token),
                ("new_password", "short"),
            ],
            Some(origin),
        )
        .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.html
    );
    assert!(weak.html.contains("id=\"password-error\""));
    let secured = browser
        .send(
            Method::POST,
            "/not-me",
            &[
                ("csrf", &weak.field("csrf")),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
            ],
            Some(origin),
        )
        .await;
    assert_eq!(secured.status, StatusCode::OK, "{}", secured.html);
    assert!(
        secured.html.contains("Your account is secured"),
        "{}",
        secured.html
    );
    // The link works once.
    let form = browser.get("/forgot-password").await;
    let again = browser
        .send(
            Method::POST,
            "/not-me",
            &[
                ("csrf", &form.field("csrf")),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
            ],
            Some(origin),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    secured
}

/// After securing: the thief's session is over, the old password opens nothing, and the
/// owner's new password (typed on the page) signs in.
async fn owner_takes_over(app: &TestApp, owner: &str, thief: &Tokens) {
    assert_eq!(
        app.me(&thief.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(owner, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "the password the thief knew is gone"
    );
    assert_eq!(
        app.login(owner, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// Someone with the owner's password (fresh session) adds a passkey. Before the fix the
/// mail only said so; the passkey outlived the owner's reset, and the owner was then asked
/// for a passkey they do not have.
async fn a_passkey_planted_with_a_stolen_password_is_undone_from_the_mail(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.registered_user().await;
    app.verify_address(&owner).await;
    let thief = Tokens::from_json(&app.login(&owner, PASSWORD).await.json().await.unwrap());
    let mut device = SoftPasskey::new(crate::passkeys::ORIGIN);
    app.add_passkey(&thief.access, &mut device).await;
    let secured = secure_from_notice(&app, &owner, "a passkey was added", None).await;
    assert!(
        secured.html.contains("a passkey was removed"),
        "{}",
        secured.html
    );
    assert_eq!(count(&app, "passkeys").await, 0);
    let options = app.sign_in_options().await;
    let refused = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    owner_takes_over(&app, &owner, &thief).await;
}

/// The same with an authenticator app: after securing, the owner signs in with no
/// second step of the thief's.
async fn an_authenticator_planted_with_a_stolen_password_is_undone_from_the_mail(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.registered_user().await;
    let thief = Tokens::from_json(&app.login(&owner, PASSWORD).await.json().await.unwrap());
    app.enrol_totp(&thief.access).await;
    secure_from_notice(&app, &owner, "a second factor was added", None).await;
    assert_eq!(count(&app, "totp_authenticators").await, 0);
    assert_eq!(
        count(&app, "recovery_codes").await,
        0,
        "they went with the factor"
    );
    owner_takes_over(&app, &owner, &thief).await;
}

/// The same with an identity linked at the thief's provider (a real OpenID Provider).
async fn an_identity_linked_with_a_stolen_password_is_undone_from_the_mail(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let (owner, _) = app.registered_user().await;
    app.verify_address(&owner).await;
    let thief = Tokens::from_json(&app.login(&owner, PASSWORD).await.json().await.unwrap());
    provider
        .next_sign_in("thief-sub", "thief@evil.example", true)
        .await;
    let mut visitor = Visitor::default();
    let callback = visitor
        .walk_to_callback(&app, "/auth/oidc/test/link", Some(&thief.access))
        .await;
    assert_eq!(
        visitor.get(&callback, None).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(count(&app, "identities").await, 1);
    secure_from_notice(
        &app,
        &owner,
        "a sign-in with another provider was linked",
        Some(&app.address),
    )
    .await;
    assert_eq!(count(&app, "identities").await, 0);
    owner_takes_over(&app, &owner, &thief).await;
    // The thief's identity signs in to nobody's account but a new one of its own.
    provider
        .next_sign_in("thief-sub", "thief@evil.example", true)
        .await;
    let mut again = Visitor::default();
    again.sign_in(&app, START).await;
    let me: Value = app.me(&access_of(&again, &app)).await.json().await.unwrap();
    assert_eq!(me["email"], "thief@evil.example");
}

/// Authenticators get a random 64-byte user handle per account, not the account id (a
/// UUIDv7 tells when the account was made); the same one for each of the account's
/// passkeys. Before the fix it was the account id.
async fn passkeys_are_made_under_a_random_handle_per_account(backend: Backend) {
    use base64::Engine;
    let app = spawn_app(backend).await;
    let handle_of = async |app: &TestApp| {
        let (email, id, tokens) = app.logged_in_user().await;
        app.verify_address(&email).await;
        let options = app.passkey_options(&tokens.access).await;
        let again = app.passkey_options(&tokens.access).await;
        let handle = options["publicKey"]["user"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(again["publicKey"]["user"]["id"], handle, "one per account");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&handle)
            .unwrap();
        assert_eq!(bytes.len(), 64);
        let account = uuid::Uuid::parse_str(&id).unwrap();
        assert!(!bytes.windows(16).any(|window| window == account.as_bytes()));
        (handle, tokens)
    };
    let (first, tokens) = handle_of(&app).await;
    let (second, _) = handle_of(&app).await;
    assert_ne!(first, second);
    // A passkey made under it signs in.
    let mut device = SoftPasskey::new(crate::passkeys::ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;
    let options = app.sign_in_options().await;
    let signed_in = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
}

/// An administrator sets a new password (a lost one, a compromised one): a login waiting
/// for its second step, begun with the old password, dies too. (Found by this fix's own
/// review.)
async fn an_administrators_password_change_kills_pending_second_steps(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (email, secret, _) = app.with_totp().await;
    let id = app
        .users()
        .find_by_email(&gatehouse_domain::Email::parse(&email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let pending = app.first_step(&email).await;
    let changed = app
        .bearer(
            Method::PATCH,
            &format!("/users/{id}"),
            &admin.access,
            Some(json!({"password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let relayed = app
        .second_step(&pending, json!({"code": secret.code_at(now())}))
        .await;
    assert_problem(relayed, 401, Some("Invalid or expired MFA token")).await;
}

/// A login re-hashes an old hash with current parameters; if a reset lands while it
/// hashes, the upgrade must not write the old password back. (Found by this fix's own
/// review: the upgrade wrote unconditionally.)
async fn a_hash_upgrade_that_finishes_after_a_reset_writes_nothing(backend: Backend) {
    use gatehouse_domain::{AuditContext, AuditEventType, NewAuditEvent, PasswordHash};
    let (db, _guard) = crate::helpers::migrated_database(backend).await;
    let owner = crate::repositories::user(&db, "upgrade@example.com").await;
    let users = gatehouse_persistence::UserRepository::new(db);
    let now = chrono::Utc::now();
    let reset = PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$cmVzZXRzYWx0$cmVzZXQ");
    let event = NewAuditEvent::new(
        AuditEventType::PasswordReset,
        Some(owner.id),
        &AuditContext::default(),
        now,
    );
    users
        .reset_password(owner.id, &reset, now, &event)
        .await
        .unwrap();
    let upgraded = PasswordHash::new("$argon2id$v=19$m=16,t=2,p=1$bmV3c2FsdA$b2xk");
    assert!(
        !users
            .upgrade_password_hash(owner.id, &owner.password_hash, &upgraded, now)
            .await
            .unwrap()
    );
    let stored = users.find_by_id(owner.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.as_str(), reset.as_str());
    assert!(stored.is_verified, "the reset proved the address");
}

/// Someone with the password opens passkey ceremonies for the owner's second step until
/// the owner's is replaced (at most five are open): the owner's answer is refused as a
/// gone ceremony and counts as no wrong code (the ceremony is taken before the `mfa_token`
/// and the back-off count the attempt). (Found by this fix's own review: it counted.)
async fn a_second_steps_ceremony_that_is_gone_counts_against_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(crate::passkeys::ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;
    let mfa_token = app.first_step(&email).await;
    let app = &app;
    let options = async |token: String| {
        let response = app
            .post_json("/auth/mfa/passkey/options", &json!({"mfa_token": token}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    let owners = options(mfa_token.clone()).await;
    let answer = device.get(&owners).unwrap();
    for _ in 0..5 {
        options(app.first_step(&email).await).await;
    }
    let gone = app
        .second_step(
            &mfa_token,
            json!({"challenge_id": owners["challenge_id"], "credential": answer}),
        )
        .await;
    assert_problem(gone, 400, Some("Invalid or expired challenge")).await;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT failed_attempts AS n FROM mfa_challenges WHERE token_hash = '{}'",
                gatehouse_auth::hash_one_time_token(&mfa_token)
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<i32>("", "n").unwrap(),
        0,
        "nothing was counted"
    );
    // The owner's next ceremony finishes the login.
    let fresh = options(mfa_token.clone()).await;
    let done = app
        .second_step(
            &mfa_token,
            json!({"challenge_id": fresh["challenge_id"], "credential": device.get(&fresh).unwrap()}),
        )
        .await;
    assert_eq!(done.status(), StatusCode::OK);
}

/// The page that follows a secured link.
async fn secure_with(app: &TestApp, notice: &str) -> crate::pages::Page {
    let token = token_in(notice);
    let mut browser = Browser::new(app);
    let page = browser.get(&format!("/not-me?token={token}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    browser
        .post(
            "/not-me",
            &[
                ("csrf", &page.field("csrf")),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await
}

/// A thief with the password adds an authenticator app, then (with it) a passkey: two
/// mails, two links. The first link removes the app and the recovery codes made with it,
/// and the page says the passkey is still there; the second removes the passkey. (Found by
/// the second review: the page said "secured" whatever remained, and the thief's recovery
/// codes stayed beside the passkey.)
async fn each_way_in_a_thief_added_has_its_link_and_the_page_says_what_remains(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.registered_user().await;
    let thief = Tokens::from_json(&app.login(&owner, PASSWORD).await.json().await.unwrap());
    let secret = app.enrol_totp(&thief.access).await;
    let mfa_token = app.first_step(&owner).await;
    let strong = app
        .second_step(&mfa_token, json!({"code": secret.code_at(now())}))
        .await;
    let strong = Tokens::from_json(&strong.json().await.unwrap());
    let mut device = SoftPasskey::new(crate::passkeys::ORIGIN);
    app.add_passkey(&strong.access, &mut device).await;
    let totp_mail = app
        .wait_for_notice(&owner, "a second factor was added")
        .await;
    let passkey_mail = app.wait_for_notice(&owner, "a passkey was added").await;

    let first = secure_with(&app, &totp_mail).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.html);
    assert!(first.html.contains("an authenticator app was removed"));
    assert!(
        first.html.contains("Still on your account: a passkey."),
        "{}",
        first.html
    );
    assert_eq!(count(&app, "recovery_codes").await, 0);
    let second = secure_with(&app, &passkey_mail).await;
    assert!(second.html.contains("a passkey was removed"));
    assert!(
        second
            .html
            .contains("Your password is now the only way to sign in."),
        "{}",
        second.html
    );
    assert_eq!(
        app.login(&owner, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// A link names the authenticator app of its mail: once the owner has set up another one
/// (here: the one on the account was confirmed at another time), an old link removes
/// nothing, and the page says so. (Found by the second review: a link removed whatever
/// authenticator was there.)
async fn an_old_link_does_not_remove_a_later_authenticator(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _, tokens) = app.logged_in_user().await;
    app.enrol_totp(&tokens.access).await;
    let mail = app
        .wait_for_notice(&owner, "a second factor was added")
        .await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let statement = sea_orm::sea_query::Query::update()
        .table(sea_orm::sea_query::Alias::new("totp_authenticators"))
        .value(sea_orm::sea_query::Alias::new("confirmed_at"), later)
        .to_owned();
    app.db.execute(&statement).await.unwrap();
    let page = secure_with(&app, &mail).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("had been removed already"),
        "{}",
        page.html
    );
    assert!(page.html.contains("an authenticator app"));
    assert_eq!(count(&app, "totp_authenticators").await, 1);
}

/// With the pages off (`UI_ENABLED=false`) the link's page does not exist: the notice of
/// a way in added says so without a link that would answer 404.
async fn without_the_pages_the_notice_carries_no_link_to_them(backend: Backend) {
    let app = spawn_app_with(backend, &[("UI_ENABLED", "false")]).await;
    let (owner, _, tokens) = app.logged_in_user().await;
    app.enrol_totp(&tokens.access).await;
    let notice = app
        .wait_for_notice(&owner, "a second factor was added")
        .await;
    assert!(!notice.contains("/not-me"), "{notice}");
    assert!(notice.contains("/forgot-password"), "{notice}");
}
