//! Federation as an attacker tries it (each test came from a review of the first version
//! and failed on it): squatting an address at a careless provider, cross-site links,
//! identities that differ only in case, sessions and ways in that outlive their removal,
//! and oversized claims.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::{
    federation::{START, access_of, count},
    helpers::{Backend, PASSWORD, Tokens, assert_problem},
    oidc_provider::{Visitor, app_with_provider, location},
    soft_passkey::SoftPasskey,
};

backend_tests!(
    an_unverified_address_cannot_keep_an_account_from_its_owner,
    links_refuse_requests_from_other_sites,
    subjects_differing_in_case_are_different_people,
    unlinking_ends_the_other_sessions,
    a_passkey_cannot_be_removed_when_it_is_the_last_way_in,
    oversized_claims_are_refused_not_failed,
    a_link_dies_with_the_session_that_started_it,
);

/// Mallory sets the victim's address, unverified, at a provider that does not check, and
/// so creates the victim's account before the victim does, then adds a second factor.
/// When the owner of the mailbox proves it (a reset), what Mallory attached goes.
async fn an_unverified_address_cannot_keep_an_account_from_its_owner(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let victim = "victim@example.com";
    provider.next_sign_in("mallory-sub", victim, false).await;
    let mut mallory = Visitor::default();
    assert_eq!(
        mallory.sign_in(&app, START).await.status(),
        StatusCode::SEE_OTHER
    );
    let squatter = access_of(&mallory, &app);
    // An address nobody proved adds no way in (before, Mallory added an authenticator).
    let refused = app
        .bearer(Method::POST, "/auth/mfa/totp/setup", &squatter, None)
        .await;
    assert_problem(refused, 403, Some("Email not verified")).await;

    // The owner cannot register, so resets the password by mail.
    assert_eq!(
        app.register(victim, PASSWORD).await.status(),
        StatusCode::CONFLICT
    );
    app.post_json(
        "/auth/forgot-password",
        &serde_json::json!({"email": victim}),
    )
    .await;
    let mail = app.wait_for_mails(victim, 1).await.remove(0);
    let reset = app
        .post_json(
            "/auth/reset-password",
            &serde_json::json!({"token": crate::helpers::token_in(&mail), "new_password": PASSWORD}),
        )
        .await;
    assert!(reset.status().is_success(), "{}", reset.status());

    // The account is the owner's alone: no second factor of Mallory's, no identity.
    let login = app.login(victim, PASSWORD).await;
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "no second step of Mallory's"
    );
    assert_eq!(count(&app, "identities").await, 0);
    assert_eq!(
        app.bearer(Method::GET, "/users/me", &squatter, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "Mallory's session ended"
    );
    provider.next_sign_in("mallory-sub", victim, false).await;
    let again = Visitor::default().sign_in(&app, START).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "not back in");
}

async fn links_refuse_requests_from_other_sites(backend: Backend) {
    let Some((app, provider)) =
        app_with_provider(backend, &[("JWT_TOKEN_LOCATION", "headers,cookies")]).await
    else {
        return;
    };
    // A browser signed in on the pages (its cookies are also the API's in cookie mode).
    provider
        .next_sign_in("kim-sub", "kim@example.com", true)
        .await;
    let mut visitor = Visitor::default();
    visitor.sign_in(&app, START).await;
    let link = format!("{}/auth/oidc/test/link", app.address);
    for site in [Some("cross-site"), Some("same-site"), None] {
        let response = visitor.get_from(&link, site).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "Sec-Fetch-Site {site:?}"
        );
    }
    assert_eq!(count(&app, "federated_logins").await, 0);
    // From the account page itself.
    let own = visitor.get_from(&link, Some("same-origin")).await;
    assert_eq!(own.status(), StatusCode::FOUND);
}

async fn subjects_differing_in_case_are_different_people(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    provider
        .next_sign_in("Alice", "alice1@example.com", true)
        .await;
    let mut first = Visitor::default();
    first.sign_in(&app, START).await;
    provider
        .next_sign_in("alice", "alice2@example.com", true)
        .await;
    let mut second = Visitor::default();
    assert_eq!(
        second.sign_in(&app, START).await.status(),
        StatusCode::SEE_OTHER
    );
    let me: Value = app
        .bearer(Method::GET, "/users/me", &access_of(&second, &app), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "alice2@example.com", "not Alice's account");
    assert_eq!(count(&app, "users").await, 2);
}

async fn unlinking_ends_the_other_sessions(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let (email, _, tokens) = app.logged_in_user().await;
    crate::federation::mark_verified(&app, &email).await;
    provider.next_sign_in("lee-sub", &email, true).await;
    let mut visitor = Visitor::default();
    visitor.sign_in(&app, START).await;
    let federated = access_of(&visitor, &app);
    let identities: Value = app
        .bearer(Method::GET, "/auth/identities", &tokens.access, None)
        .await
        .json()
        .await
        .unwrap();
    let id = identities[0]["id"].as_str().unwrap();
    let removed = app
        .bearer(
            Method::DELETE,
            &format!("/auth/identities/{id}"),
            &tokens.access,
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.bearer(Method::GET, "/users/me", &federated, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "the session the identity opened ended with it"
    );
    assert_eq!(
        app.bearer(Method::GET, "/users/me", &tokens.access, None)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn a_passkey_cannot_be_removed_when_it_is_the_last_way_in(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    provider
        .next_sign_in("max-sub", "max@example.com", true)
        .await;
    let mut visitor = Visitor::default();
    visitor.sign_in(&app, START).await;
    let token = access_of(&visitor, &app);
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let mut device = SoftPasskey::new(&format!("http://localhost:{port}"));
    let passkey = app.add_passkey(&token, &mut device).await;
    // The account has a factor now: a session that used it (the passkey alone is aal2).
    let options = app.sign_in_options().await;
    let signed_in = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let token = Tokens::from_json(&signed_in.json().await.unwrap()).access;
    // The identity may go (the passkey is a way in)...
    let identities: Value = app
        .bearer(Method::GET, "/auth/identities", &token, None)
        .await
        .json()
        .await
        .unwrap();
    let id = identities[0]["id"].as_str().unwrap();
    let removed = app
        .bearer(
            Method::DELETE,
            &format!("/auth/identities/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    // ...but then not the passkey.
    let refused = app
        .bearer(
            Method::DELETE,
            &format!("/auth/passkeys/{passkey}"),
            &token,
            None,
        )
        .await;
    assert_problem(refused, 409, Some("Cannot remove the last way to sign in")).await;
}

async fn oversized_claims_are_refused_not_failed(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let long_subject = "s".repeat(300);
    provider
        .next_sign_in(&long_subject, "nora@example.com", true)
        .await;
    let refused = Visitor::default().sign_in(&app, START).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(count(&app, "users").await, 0);
    // A long address at link time is not stored as it came.
    let (email, _, tokens) = app.logged_in_user().await;
    app.verify_address(&email).await;
    let long_email = format!("{}@example.com", "e".repeat(330));
    provider.next_sign_in("nora-sub", &long_email, false).await;
    let mut visitor = Visitor::default();
    let callback = visitor
        .walk_to_callback(&app, "/auth/oidc/test/link", Some(&tokens.access))
        .await;
    let linked = visitor.get(&callback, None).await;
    assert_eq!(
        linked.status(),
        StatusCode::SEE_OTHER,
        "{}",
        location(&linked)
    );
}

/// A stolen fresh token starts a link; the owner notices and signs out everywhere before
/// the thief comes back from the provider: the link must not happen.
async fn a_link_dies_with_the_session_that_started_it(backend: Backend) {
    let Some((app, provider)) = app_with_provider(backend, &[]).await else {
        return;
    };
    let (email, _, stolen) = app.logged_in_user().await;
    app.verify_address(&email).await;
    provider
        .next_sign_in("thief-sub", "thief@example.com", true)
        .await;
    let mut thief = Visitor::default();
    let callback = thief
        .walk_to_callback(&app, "/auth/oidc/test/link", Some(&stolen.access))
        .await;
    let ended = app
        .bearer(Method::POST, "/auth/logout-all", &stolen.access, None)
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let refused = thief.get(&callback, None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(count(&app, "identities").await, 0);
}
