//! What the admin pages refuse to change, over HTTP on every backend: a form from
//! another origin or without its token, a sign-in older than 15 minutes (by its `iat`,
//! whatever the token's lifetime), one without the second factor the administrator has,
//! and anyone who is no superuser.

use gatehouse_domain::AuditEventType;
use reqwest::StatusCode;

use crate::{
    admin_pages::admin_browser,
    helpers::{Backend, PASSWORD, spawn_app, user_id},
    pages::Browser,
};

backend_tests!(
    changes_need_a_recent_sign_in_with_the_second_factor_and_this_sites_form,
    a_handle_from_a_longer_lifetime_still_needs_a_sign_in_of_15_minutes,
);

async fn changes_need_a_recent_sign_in_with_the_second_factor_and_this_sites_form(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (mut browser, admin_email) = admin_browser(&app).await;
    let (_, id) = app.registered_user().await;
    let here = format!("/admin/users/{id}");
    let deactivate = format!("{here}/deactivate");
    let active = || async {
        app.users()
            .find_by_id(user_id(&id))
            .await
            .unwrap()
            .unwrap()
            .is_active
    };
    let csrf = browser.get(&here).await.field("csrf");

    // From another origin, with the right token even: refused.
    let foreign = browser
        .send(
            reqwest::Method::POST,
            &deactivate,
            &[("csrf", &csrf)],
            Some("https://attacker.example"),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert!(foreign.html.contains("did not come from this site"));
    // Without the token: refused.
    assert_eq!(
        browser.post(&deactivate, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(active().await);

    // The same session as if signed in 20 minutes ago: the pages show, changes do not go.
    let signed_in = browser.cookies["access_token_cookie"].clone();
    let codec = app.codec();
    let claims = codec.verify_session_handle(&signed_in).unwrap();
    let stale = codec
        .issue_page_handle(
            claims.user_id,
            claims.session_id,
            true,
            (
                &gatehouse_domain::Assurance::password(),
                &gatehouse_domain::HeldRoles::default(),
            ),
            chrono::Utc::now() - chrono::Duration::minutes(20),
        )
        .unwrap();
    browser
        .cookies
        .insert("access_token_cookie".into(), stale.token);
    assert_eq!(browser.get(&here).await.status, StatusCode::OK);
    for action in [
        deactivate.clone(),
        "/admin/roles".to_owned(),
        "/admin/apps".to_owned(),
    ] {
        let refused = browser
            .post(&action, &[("csrf", &csrf), ("name", "x")])
            .await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{action}: {}",
            refused.html
        );
        assert!(
            refused.html.contains("sign-in from the last 15 minutes"),
            "{}",
            refused.html
        );
    }
    let refused = browser.post(&deactivate, &[("csrf", &csrf)]).await;
    assert!(
        refused
            .html
            .contains(&format!("href=\"/login?return_to={here}\"")),
        "{}",
        refused.html
    );
    assert!(active().await);
    assert!(app.events_of(AuditEventType::RoleCreated).await.is_empty());
    browser
        .cookies
        .insert("access_token_cookie".into(), signed_in);

    // Turning a second factor on (from another session) ends this page session: a
    // change is sent to sign in.
    let tokens = crate::helpers::Tokens::from_json(
        &app.login(&admin_email, PASSWORD)
            .await
            .json()
            .await
            .unwrap(),
    );
    let secret = app.enrol_totp(&tokens.access).await;
    let sent = browser.post(&deactivate, &[("csrf", &csrf)]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    assert!(sent.location().starts_with("/login"));
    // Signed in again with the password and the code, changes go.
    let step = browser.sign_in(&admin_email).await;
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let signed = browser
        .post(
            "/login/second-step",
            &[
                ("csrf", &step.field("csrf")),
                ("mfa_token", &step.field("mfa_token")),
                ("code", &secret.code_at(now)),
            ],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.html);
    let csrf = browser.get(&here).await.field("csrf");
    let verified = browser
        .post(&format!("{here}/mark-verified"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        verified.location(),
        format!("{here}?done=verified"),
        "{}",
        verified.html
    );
    // A handle on this session from a sign-in without the second factor the account has
    // (as one begun before it was set up): refused.
    let claims = codec
        .verify_session_handle(&browser.cookies["access_token_cookie"])
        .unwrap();
    let password_only = codec
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
    browser
        .cookies
        .insert("access_token_cookie".into(), password_only.token);
    let refused = browser.post(&deactivate, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(
        refused
            .html
            .contains("need a sign-in with the second factor your account has"),
        "{}",
        refused.html
    );
    assert!(active().await);

    // Someone who is no superuser, and a visitor, change nothing either.
    let (email, _) = app.registered_user().await;
    let mut other = Browser::new(&app);
    other.sign_in(&email).await;
    let csrf = other.get("/account").await.field("csrf");
    let refused = other.post(&deactivate, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("Administrators only"));
    let mut visitor = Browser::new(&app);
    let csrf = visitor.get("/login").await.field("csrf");
    let sent = visitor.post(&deactivate, &[("csrf", &csrf)]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    assert!(sent.location().starts_with("/login"));
    assert!(active().await);
}

/// A page handle issued a day ago, under a longer `ACCESS_TOKEN_EXPIRES_MIN` than the
/// server runs with now (lowered since, with a restart), is not a recent sign-in: its
/// issue time says so, whatever its expiry.
async fn a_handle_from_a_longer_lifetime_still_needs_a_sign_in_of_15_minutes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, _) = admin_browser(&app).await;
    let (_, id) = app.registered_user().await;
    let here = format!("/admin/users/{id}");
    let csrf = browser.get(&here).await.field("csrf");
    let signed_in = browser.cookies["access_token_cookie"].clone();
    let handle = |minutes_ago| page_handle(&signed_in, minutes_ago, 1440);
    // Issued 23 h 50 min ago: 10 minutes to go before it expires, yet no recent sign-in.
    browser
        .cookies
        .insert("access_token_cookie".into(), handle(1430));
    let refused = browser
        .post(&format!("{here}/deactivate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(
        app.users()
            .find_by_id(user_id(&id))
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    // Issued 10 minutes ago: recent.
    browser
        .cookies
        .insert("access_token_cookie".into(), handle(10));
    let done = browser
        .post(&format!("{here}/deactivate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert!(
        !app.users()
            .find_by_id(user_id(&id))
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
}

/// A handle on the page session of handle `signed_in`, as if issued `minutes_ago` for a
/// lifetime of `lifetime` minutes at a password-only sign-in (signed with the tests'
/// secret, so the server takes it).
pub(crate) fn page_handle(signed_in: &str, minutes_ago: i64, lifetime: i64) -> String {
    let codec = gatehouse_auth::JwtCodec::new(gatehouse_auth::JwtConfig {
        access_ttl: chrono::Duration::minutes(lifetime),
        ..gatehouse_auth::JwtConfig::new(gatehouse_auth::SigningKey::hs256(
            crate::helpers::TEST_SECRET.as_bytes(),
        ))
    })
    .unwrap();
    let claims = codec.verify_session_handle(signed_in).unwrap();
    codec
        .issue_page_handle(
            claims.user_id,
            claims.session_id,
            true,
            (
                &gatehouse_domain::Assurance::password(),
                &gatehouse_domain::HeldRoles::default(),
            ),
            chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
        )
        .unwrap()
        .token
}
