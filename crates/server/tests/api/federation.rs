//! Signing in with another provider, against a real OpenID Provider (`oidc_provider.rs`):
//! new accounts, returning identities, the linking rules, every check of the provider's
//! answer, PKCE, `return_to`, identities and their last-way rule, a second factor, an
//! inactive account, and linking from a signed-in account.

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::Value;

use crate::{
    helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem},
    oidc_provider::{NAME, Visitor, app_with_provider, location},
};

backend_tests!(
    a_new_identity_creates_an_account_and_signs_in_again,
    an_existing_address_links_only_when_both_sides_verified_it,
    state_is_single_use_and_bound_to_the_browser,
    every_check_of_the_id_token_holds,
    pkce_binds_the_code_to_its_sign_in,
    return_to_stays_here,
    the_last_way_to_sign_in_cannot_be_removed,
    a_second_factor_still_applies_and_inactive_accounts_are_refused,
    a_signed_in_account_links_an_identity,
    the_account_page_links_and_unlinks_providers,
);

pub(crate) const START: &str = "/auth/oidc/test/start";
const LINK_FROM_ACCOUNT: &str =
    "An account with this email exists; sign in and link it from your account page";

/// The access token a signed-in browser holds.
pub(crate) fn access_of(visitor: &Visitor, app: &TestApp) -> String {
    visitor
        .cookie(app, "access_token_cookie")
        .expect("signed in")
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.bearer(Method::GET, "/users/me", token, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub(crate) async fn mark_verified(app: &TestApp, email: &str) {
    app.db
        .execute_unprepared(&format!(
            "UPDATE users SET is_verified = true WHERE email = '{email}'"
        ))
        .await
        .unwrap();
}

pub(crate) async fn count(app: &TestApp, table: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn a_new_identity_creates_an_account_and_signs_in_again(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let listed: Value = app
        .client
        .get(format!("{}/auth/providers", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed,
        serde_json::json!([{"name": "test", "label": "Test provider"}])
    );
    let login_page = app
        .client
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login_page.contains(
        "href=\"/auth/oidc/test/start?return_to=/account\">Sign in with Test provider</a>"
    ));

    provider
        .next_sign_in("alice-sub", "alice@example.com", true)
        .await;
    let mut visitor = Visitor::default();
    let signed_in = visitor.sign_in(&app, START).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/account");
    let token = access_of(&visitor, &app);
    let user = me(&app, &token).await;
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["is_verified"], true, "as the provider said");
    let claims = app.codec().verify_access(&token).unwrap();
    assert_eq!(claims.amr, ["fed"]);
    assert!(claims.fresh);
    // No password: a password login cannot get in.
    assert_eq!(
        app.login("alice@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let identities: Value = app
        .bearer(Method::GET, "/auth/identities", &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(identities.as_array().unwrap().len(), 1);
    assert_eq!(identities[0]["provider"], NAME);
    assert_eq!(identities[0]["subject"], "alice-sub");
    assert_eq!(identities[0]["email"], "alice@example.com");

    // The same identity again: the same account, even with another address now.
    provider
        .next_sign_in("alice-sub", "alice@elsewhere.example", true)
        .await;
    let mut again = Visitor::default();
    let back = again.sign_in(&app, START).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let again_user = me(&app, &access_of(&again, &app)).await;
    assert_eq!(again_user["id"], user["id"]);
    assert_eq!(count(&app, "users").await, 1);
    let events: Vec<String> = sqlx_events(&app).await;
    assert!(events.contains(&"identity.linked".to_owned()), "{events:?}");
    assert!(events.contains(&"user.registered".to_owned()), "{events:?}");
}

/// The audit events' types, oldest first.
async fn sqlx_events(app: &TestApp) -> Vec<String> {
    app.db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT type FROM audit_events ORDER BY at".to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "type").unwrap())
        .collect()
}

async fn an_existing_address_links_only_when_both_sides_verified_it(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let (email, id) = app.registered_user().await;

    // The account's address is not verified: nobody signs in, nothing is linked.
    provider.next_sign_in("bob-sub", &email, true).await;
    let mut visitor = Visitor::default();
    let refused = visitor.sign_in(&app, START).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains(LINK_FROM_ACCOUNT));
    assert!(visitor.cookie(&app, "access_token_cookie").is_none());
    assert_eq!(count(&app, "identities").await, 0);

    // Verified here, but the provider does not vouch for the address: refused too.
    mark_verified(&app, &email).await;
    provider.next_sign_in("bob-sub", &email, false).await;
    let refused = Visitor::default().sign_in(&app, START).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(count(&app, "identities").await, 0);

    // Both vouch: linked, and signed in to the existing account.
    provider.next_sign_in("bob-sub", &email, true).await;
    let mut visitor = Visitor::default();
    let linked = visitor.sign_in(&app, START).await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    assert_eq!(me(&app, &access_of(&visitor, &app)).await["id"], id);
    assert_eq!(count(&app, "users").await, 1);
    // Its password still works.
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

async fn state_is_single_use_and_bound_to_the_browser(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    provider
        .next_sign_in("carol-sub", "carol@example.com", true)
        .await;
    let mut visitor = Visitor::default();
    let callback = visitor.walk_to_callback(&app, START, None).await;

    // Another browser with the same callback (a link sent to a victim): refused, and the
    // sign-in is left to the browser that started it.
    let mut other = Visitor::default();
    let stolen = other.get(&callback, None).await;
    assert_eq!(stolen.status(), StatusCode::UNAUTHORIZED);
    assert!(other.cookie(&app, "access_token_cookie").is_none());
    assert_eq!(count(&app, "users").await, 0);
    let name = "__Host-gatehouse_oidc";
    let binding = visitor.cookie(&app, name).expect("the binding cookie");
    let owner = visitor.get(&callback, None).await;
    assert_eq!(owner.status(), StatusCode::SEE_OTHER);
    // Single use: even with its binding cookie, the callback is spent.
    let replayed = app
        .client
        .get(&callback)
        .header(reqwest::header::COOKIE, format!("{name}={binding}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED, "single use");
    assert_eq!(count(&app, "users").await, 1);

    // A state changed in the URL, or none.
    provider
        .next_sign_in("carol-sub", "carol@example.com", true)
        .await;
    let mut visitor = Visitor::default();
    let callback = visitor.walk_to_callback(&app, START, None).await;
    let forged = callback.replace("state=", "state=x");
    assert_eq!(
        visitor.get(&forged, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let no_state = format!("{}/auth/oidc/test/callback?code=abc", app.address);
    assert_eq!(
        visitor.get(&no_state, None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Expired (ten minutes on, as the database sees it).
    let callback = visitor.walk_to_callback(&app, START, None).await;
    app.db
        .execute_unprepared("UPDATE federated_logins SET expires_at = created_at")
        .await
        .unwrap();
    assert_eq!(
        visitor.get(&callback, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The provider's name must match the sign-in's.
    let unknown = format!("{}/auth/oidc/nope/callback?state=x&code=y", app.address);
    assert_eq!(
        visitor.get(&unknown, None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(count(&app, "users").await, 1, "only carol's first sign-in");

    // The same callback, used well, then replayed by the same browser.
    let callback = visitor.walk_to_callback(&app, START, None).await;
    assert_eq!(
        visitor.get(&callback, None).await.status(),
        StatusCode::SEE_OTHER
    );
    let mut replayer = Visitor::default();
    let replayed = replayer.get(&callback, None).await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
}

async fn every_check_of_the_id_token_holds(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    for mode in ["signature", "audience", "issuer", "nonce", "expired"] {
        provider.tamper(Some(mode)).await;
        provider
            .next_sign_in("dave-sub", "dave@example.com", true)
            .await;
        let mut visitor = Visitor::default();
        let refused = visitor.sign_in(&app, START).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{mode}");
        let page = refused.text().await.unwrap();
        assert!(
            page.contains("Sign-in with the provider failed"),
            "{mode}: {page}"
        );
        assert!(
            visitor.cookie(&app, "access_token_cookie").is_none(),
            "{mode}"
        );
    }
    assert_eq!(count(&app, "users").await, 0, "nothing created");

    // A key the provider added since: its keys are fetched again, once.
    provider.tamper(Some("rotate")).await;
    let rotated = Visitor::default().sign_in(&app, START).await;
    assert_eq!(rotated.status(), StatusCode::SEE_OTHER);
    // Another unknown key within the minute: not fetched again, refused.
    provider.tamper(Some("unknown_key")).await;
    let unknown = Visitor::default().sign_in(&app, START).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    provider.tamper(None).await;
}

async fn pkce_binds_the_code_to_its_sign_in(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let mut visitor = Visitor::default();
    let first = visitor.get(&format!("{}{START}", app.address), None).await;
    let authorize = location(&first);
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(authorize.contains("code_challenge="), "{authorize}");
    assert!(authorize.contains("nonce="), "{authorize}");
    // A second sign-in in the same browser; the first one's code is then brought back with
    // the second one's state: its verifier does not match the code's challenge.
    let second = visitor.get(&format!("{}{START}", app.address), None).await;
    provider
        .next_sign_in("erin-sub", "erin@example.com", true)
        .await;
    let first_callback = visitor.follow_provider(&app, authorize).await;
    let second_state = location(&second)
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let code = first_callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let crossed = format!(
        "{}/auth/oidc/test/callback?code={code}&state={second_state}",
        app.address
    );
    let refused = visitor.get(&crossed, None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(count(&app, "users").await, 0);
}

async fn return_to_stays_here(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    for (asked, landed) in [
        ("https://attacker.example/x", "/account"),
        ("//attacker.example", "/account"),
        ("/account/password", "/account/password"),
    ] {
        provider
            .next_sign_in("frank-sub", "frank@example.com", true)
            .await;
        let start = format!("{START}?return_to={}", urlencode(asked));
        let answer = Visitor::default().sign_in(&app, &start).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{asked}");
        assert_eq!(location(&answer), landed, "{asked}");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn the_last_way_to_sign_in_cannot_be_removed(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    provider
        .next_sign_in("gina-sub", "gina@example.com", true)
        .await;
    let mut visitor = Visitor::default();
    visitor.sign_in(&app, START).await;
    let token = access_of(&visitor, &app);
    let identities: Value = app
        .bearer(Method::GET, "/auth/identities", &token, None)
        .await
        .json()
        .await
        .unwrap();
    let id = identities[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/auth/identities/{id}");
    let refused = app.bearer(Method::DELETE, &path, &token, None).await;
    assert_problem(refused, 409, Some("Cannot remove the last way to sign in")).await;
    let unknown = app
        .bearer(
            Method::DELETE,
            "/auth/identities/0193a4c8-0000-7000-8000-000000000000",
            &token,
            None,
        )
        .await;
    assert_problem(unknown, 404, Some("Identity not found")).await;

    // A password set through the reset mail: now the identity may go.
    app.post_json(
        "/auth/forgot-password",
        &serde_json::json!({"email": "gina@example.com"}),
    )
    .await;
    let mail = app.wait_for_mails("gina@example.com", 1).await.remove(0);
    let reset = app
        .post_json(
            "/auth/reset-password",
            &serde_json::json!({"token": crate::helpers::token_in(&mail), "new_password": PASSWORD}),
        )
        .await;
    assert!(reset.status().is_success(), "{}", reset.status());
    let login = app.login("gina@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let fresh = Tokens::from_json(&login.json().await.unwrap());
    let removed = app.bearer(Method::DELETE, &path, &fresh.access, None).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(count(&app, "identities").await, 0);
}

async fn a_second_factor_still_applies_and_inactive_accounts_are_refused(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let (email, tokens) = {
        let (email, _, tokens) = app.logged_in_user().await;
        (email, tokens)
    };
    let secret = app.enrol_totp(&tokens.access).await;
    mark_verified(&app, &email).await;
    provider.next_sign_in("hank-sub", &email, true).await;
    let mut visitor = Visitor::default();
    let step = visitor.sign_in(&app, START).await;
    assert_eq!(
        step.status(),
        StatusCode::OK,
        "the second step, not a session"
    );
    assert!(visitor.cookie(&app, "access_token_cookie").is_none());
    let page = step.text().await.unwrap();
    assert!(page.contains("<label for=\"code\">Code</label>"), "{page}");
    let mfa_token = page
        .split("name=\"mfa_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let verified = app
        .post_json(
            "/auth/mfa/verify",
            &serde_json::json!({"mfa_token": mfa_token, "code": secret.code_at(now)}),
        )
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    let access = Tokens::from_json(&verified.json().await.unwrap()).access;
    let claims = app.codec().verify_access(&access).unwrap();
    assert_eq!(claims.amr, ["fed", "otp", "mfa"]);

    // Deactivated: the provider's word is not enough.
    app.db
        .execute_unprepared(&format!(
            "UPDATE users SET is_active = false WHERE email = '{email}'"
        ))
        .await
        .unwrap();
    provider.next_sign_in("hank-sub", &email, true).await;
    let refused = Visitor::default().sign_in(&app, START).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("Inactive user"));
}

async fn a_signed_in_account_links_an_identity(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let (email, _, tokens) = app.logged_in_user().await;
    app.verify_address(&email).await;
    // Any address at the provider: a link is the account's own doing.
    provider
        .next_sign_in("ivy-sub", "ivy@work.example", false)
        .await;
    let mut visitor = Visitor::default();
    let link = "/auth/oidc/test/link?return_to=/account";
    let callback = visitor
        .walk_to_callback(&app, link, Some(&tokens.access))
        .await;
    let linked = visitor.get(&callback, None).await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&linked), "/account");
    let identities: Value = app
        .bearer(Method::GET, "/auth/identities", &tokens.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(identities[0]["subject"], "ivy-sub");
    // Now that identity signs in to this account.
    provider
        .next_sign_in("ivy-sub", "ivy@work.example", false)
        .await;
    let mut signed = Visitor::default();
    assert_eq!(
        signed.sign_in(&app, START).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(me(&app, &access_of(&signed, &app)).await["email"], email);

    // Another account cannot link it too; a link needs a token.
    let (other_email, _, other) = app.logged_in_user().await;
    app.verify_address(&other_email).await;
    provider
        .next_sign_in("ivy-sub", "ivy@work.example", false)
        .await;
    let mut thief = Visitor::default();
    let callback = thief
        .walk_to_callback(&app, link, Some(&other.access))
        .await;
    let taken = thief.get(&callback, None).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let anonymous = Visitor::default()
        .get(&format!("{}{link}", app.address), None)
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn the_account_page_links_and_unlinks_providers(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    provider
        .next_sign_in("jo-sub", "jo@example.com", true)
        .await;
    let mut visitor = Visitor::default();
    visitor.sign_in(&app, START).await;
    let account = visitor
        .get(&format!("{}/account", app.address), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        account.contains("aria-label=\"Unlink Test provider\""),
        "{account}"
    );
    assert!(
        !account.contains(">Link Test provider</a>"),
        "linked already"
    );

    // A second identity at the provider (signed out there first), linked from the page
    // session (no token).
    visitor.forget(&provider.issuer);
    provider
        .next_sign_in("jo-work-sub", "jo@work.example", false)
        .await;
    let link = "/auth/oidc/test/link?return_to=/account%3Fchanged%3Didentity-linked";
    let callback = visitor.walk_to_callback(&app, link, None).await;
    let linked = visitor.get(&callback, None).await;
    assert_eq!(location(&linked), "/account?changed=identity-linked");
    let subjects: Vec<String> = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT subject FROM identities".to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "subject").unwrap())
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");

    // Unlinking: the first goes; the last is refused (no password, no passkey).
    let page = visitor
        .get(&format!("{}/account", app.address), None)
        .await
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let ids: Vec<String> = page
        .split("action=\"/account/identities/")
        .skip(1)
        .map(|rest| rest.split('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let removed = visitor
        .post_form(
            &app,
            &format!("/account/identities/{}/remove", ids[0]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(location(&removed), "/account?changed=identity-removed");
    let refused = visitor
        .post_form(
            &app,
            &format!("/account/identities/{}/remove", ids[1]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Cannot remove the last way to sign in")
    );
    assert_eq!(count(&app, "identities").await, 1);
    // Without the form's token: refused.
    let forged = visitor
        .post_form(&app, &format!("/account/identities/{}/remove", ids[1]), &[])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}
