//! Passkeys: registration, passwordless sign-in, the login's second step, and every
//! refusal, with the software authenticator of `soft_passkey.rs`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, spawn_app, user_id},
    process::GatehouseProcess,
    soft_passkey::{SoftPasskey, Tweaks},
};
use gatehouse_domain::{Aal, AuditEventType};
use gatehouse_persistence::{AuditFilter, AuditRepository};
use sea_orm::ConnectionTrait;

backend_tests!(
    a_passkey_is_registered_listed_renamed_and_counted_as_a_factor,
    a_credential_is_registered_once_across_accounts,
    passwordless_sign_in_opens_a_fresh_aal2_session,
    a_passkey_is_a_second_step_after_the_password,
    every_failed_check_signs_in_nobody,
    challenges_serve_one_purpose_one_account_once_for_five_minutes,
    a_counter_that_goes_back_is_refused_and_flags_the_passkey,
    removal_needs_fresh_aal2_and_codes_go_with_the_last_factor,
    adding_a_passkey_ends_the_other_password_only_sessions,
    inactive_accounts_and_admin_resets,
    concurrent_finishes_of_one_challenge_let_one_through,
    totp_and_passkeys_together,
    a_second_step_checks_the_counter_stored_now_not_when_it_began,
    recovery_codes_renewed_while_the_last_factor_goes_do_not_outlive_it,
    an_account_holds_at_most_twenty_passkeys,
    the_options_spend_the_per_ip_budget,
);

/// Where the tests' pages are: `PUBLIC_URL`'s default, with `localhost` for its address.
pub(crate) const ORIGIN: &str = "http://localhost:8000";
const FAILED: &str = "Passkey verification failed";
const INVALID_CHALLENGE: &str = "Invalid or expired challenge";

impl TestApp {
    pub(crate) async fn passkey_options(&self, token: &str) -> Value {
        self.verify_holder(token).await;
        let response = self
            .bearer(Method::POST, "/auth/passkeys/register/options", token, None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub(crate) async fn register_passkey(
        &self,
        token: &str,
        options: &Value,
        credential: Value,
        name: Option<&str>,
    ) -> reqwest::Response {
        let mut body = json!({"challenge_id": options["challenge_id"], "credential": credential});
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.bearer(Method::POST, "/auth/passkeys/register", token, Some(body))
            .await
    }

    /// Adds a new passkey made by `device` to the account of `token`: its id.
    pub(crate) async fn add_passkey(&self, token: &str, device: &mut SoftPasskey) -> String {
        let options = self.passkey_options(token).await;
        let credential = device.create(&options).unwrap();
        let response = self
            .register_passkey(token, &options, credential, None)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn sign_in_options(&self) -> Value {
        let response = self
            .post_json("/auth/passkeys/login/options", &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub(crate) async fn passkey_sign_in(
        &self,
        options: &Value,
        credential: Value,
    ) -> reqwest::Response {
        self.post_json(
            "/auth/passkeys/login",
            &json!({"challenge_id": options["challenge_id"], "credential": credential}),
        )
        .await
    }

    /// A passwordless sign-in with `device`, which must succeed.
    async fn signed_in_with(&self, device: &mut SoftPasskey) -> Tokens {
        let options = self.sign_in_options().await;
        let credential = device.get(&options).unwrap();
        let response = self.passkey_sign_in(&options, credential).await;
        assert_eq!(response.status(), StatusCode::OK);
        Tokens::from_json(&response.json().await.unwrap())
    }

    async fn passkeys_of(&self, token: &str) -> Vec<Value> {
        let response = self
            .bearer(Method::GET, "/auth/passkeys", token, None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn sessions_of_user(&self, id: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!(
                    "SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL AND user_id = {}",
                    uuid_literal(&self.db, id)
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    async fn user_events(
        &self,
        id: &str,
        kind: AuditEventType,
    ) -> Vec<gatehouse_domain::NewAuditEvent> {
        let filter = AuditFilter {
            user_id: Some(user_id(id)),
            event_type: Some(kind),
            ..AuditFilter::default()
        };
        let (events, _) = AuditRepository::new(self.db.clone())
            .list(&filter, None, 100)
            .await
            .unwrap();
        events.into_iter().map(|stored| stored.event).collect()
    }
}

/// A UUID as each backend compares it in SQL.
fn uuid_literal(db: &sea_orm::DatabaseConnection, id: &str) -> String {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!("'{id}'::uuid"),
        sea_orm::DatabaseBackend::MySql => {
            format!("UNHEX('{}')", id.replace('-', ""))
        }
        _ => format!("X'{}'", id.replace('-', "")),
    }
}

async fn a_passkey_is_registered_listed_renamed_and_counted_as_a_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);

    let options = app.passkey_options(&tokens.access).await;
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["rp"]["name"], "AuthX Starter");
    assert_eq!(public_key["user"]["name"], email.as_str());
    let selection = &public_key["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(public_key["excludeCredentials"], json!([]));

    let credential = device.create(&options).unwrap();
    let response = app
        .register_passkey(&tokens.access, &options, credential, Some("  Laptop "))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let added: Value = response.json().await.unwrap();
    assert_eq!(added["name"], "Laptop");
    assert_eq!(added["last_used_at"], Value::Null);
    assert_eq!(added["possibly_cloned"], false);
    let passkey_id = added["id"].as_str().unwrap().to_owned();

    // The account has a second factor now: the next registration needs aal2, and
    // excludes the passkey, so the authenticator refuses to make a second.
    let refused = app
        .bearer(
            Method::POST,
            "/auth/passkeys/register/options",
            &tokens.access,
            None,
        )
        .await;
    assert_problem(refused, 403, Some("Stronger authentication required")).await;
    let tokens = app.signed_in_with(&mut device).await;
    let options = app.passkey_options(&tokens.access).await;
    let excluded = options["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(excluded.len(), 1);
    assert_eq!(device.create(&options), Err("excluded"));
    // A second authenticator adds a second passkey, named by its number.
    let mut phone = SoftPasskey::new(ORIGIN);
    let response = app
        .register_passkey(
            &tokens.access,
            &options,
            phone.create(&options).unwrap(),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["name"], "Passkey 2");

    let listed = app.passkeys_of(&tokens.access).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], passkey_id.as_str());
    assert_eq!(listed[0]["created_at"], added["created_at"]);

    let path = format!("/auth/passkeys/{passkey_id}");
    let renamed = app
        .bearer(
            Method::PATCH,
            &path,
            &tokens.access,
            Some(json!({"name": "Work laptop"})),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(
        renamed.json::<Value>().await.unwrap()["name"],
        "Work laptop"
    );
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(65)}),
        json!({}),
    ] {
        let refused = app
            .bearer(Method::PATCH, &path, &tokens.access, Some(bad))
            .await;
        assert_problem(refused, 422, None).await;
    }
    let (_, _, other) = app.logged_in_user().await;
    let foreign = app
        .bearer(
            Method::PATCH,
            &path,
            &other.access,
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_problem(foreign, 404, Some("Passkey not found")).await;
    let not_an_id = app
        .bearer(
            Method::PATCH,
            "/auth/passkeys/nope",
            &tokens.access,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_problem(not_an_id, 422, None).await;
    assert_eq!(
        app.passkeys_of(&tokens.access).await[0]["name"],
        "Work laptop"
    );

    let status = app
        .bearer(Method::GET, "/auth/mfa", &tokens.access, None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(status["passkeys"], 2);
    assert_eq!(
        app.user_events(&id, AuditEventType::PasskeyAdded)
            .await
            .len(),
        2
    );
    app.wait_for_notice(&email, "a passkey was added").await;
    // Without a token: 401; without a body: 422.
    let anonymous = app
        .post_json("/auth/passkeys/register/options", &json!({}))
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let empty = app
        .bearer(
            Method::POST,
            "/auth/passkeys/register",
            &tokens.access,
            Some(json!({})),
        )
        .await;
    let body = assert_problem(empty, 422, None).await;
    assert_eq!(
        crate::helpers::error_fields(&body),
        ["challenge_id", "credential"]
    );
}

async fn a_credential_is_registered_once_across_accounts(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, owner) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&owner.access, &mut device).await;
    let again = Tweaks {
        same_credential_as: Some(0),
        ..Tweaks::default()
    };
    // The same credential again, on the same account (a client ignoring the exclusion)…
    let (_, _, other) = app.logged_in_user().await;
    for token in [&other.access, &owner.access] {
        // The owner's account has a factor now: its next registration needs aal2.
        let token = if *token == owner.access {
            app.signed_in_with(&mut device).await.access
        } else {
            token.clone()
        };
        let options = app.passkey_options(&token).await;
        let credential = device.create_with(&options, &again).unwrap();
        let response = app
            .register_passkey(&token, &options, credential, None)
            .await;
        assert_problem(response, 409, Some("Passkey already registered")).await;
    }
    assert!(app.passkeys_of(&other.access).await.is_empty());
}

async fn passwordless_sign_in_opens_a_fresh_aal2_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;

    let options = app.sign_in_options().await;
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    let response = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let signed_in = Tokens::from_json(&response.json().await.unwrap());
    let claims = app.codec().verify_access(&signed_in.access).unwrap();
    assert_eq!((claims.aal, claims.fresh), (Aal::Aal2, true));
    assert_eq!(claims.amr, ["hwk"]);
    let me: Value = app.me(&signed_in.access).await.json().await.unwrap();
    assert_eq!(me["email"], email.as_str());
    // The refresh keeps the assurance.
    let refreshed: Value = app.refresh(&signed_in.refresh).await.json().await.unwrap();
    let claims = app
        .codec()
        .verify_access(refreshed["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!((claims.aal, claims.fresh), (Aal::Aal2, false));

    let listed = app.passkeys_of(&signed_in.access).await;
    assert!(listed[0]["last_used_at"].is_string());
    assert!(
        !app.user_events(&id, AuditEventType::LoginSucceeded)
            .await
            .is_empty()
    );
    // A synced passkey (counter always 0) signs in again and again.
    let mut synced = SoftPasskey::new(ORIGIN);
    synced.counter_step = 0;
    app.add_passkey(&signed_in.access, &mut synced).await;
    for _ in 0..3 {
        app.signed_in_with(&mut synced).await;
    }
}

async fn a_passkey_is_a_second_step_after_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;

    let response = app.login(&email, PASSWORD).await;
    let body = assert_problem(response, 403, Some("Second factor required")).await;
    assert_eq!(body["methods"], json!(["passkey"]));
    let mfa_token = body["mfa_token"].as_str().unwrap();
    let options = app
        .post_json(
            "/auth/mfa/passkey/options",
            &json!({"mfa_token": mfa_token}),
        )
        .await;
    assert_eq!(options.status(), StatusCode::OK);
    let options: Value = options.json().await.unwrap();
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    let credential = device.get(&options).unwrap();
    let proof = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let response = app.second_step(mfa_token, proof.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let signed_in = Tokens::from_json(&response.json().await.unwrap());
    let claims = app.codec().verify_access(&signed_in.access).unwrap();
    assert_eq!(claims.aal, Aal::Aal2);
    assert_eq!(claims.amr, ["pwd", "hwk", "mfa"]);
    // The mfa_token is spent.
    let again = app.second_step(mfa_token, proof).await;
    assert_problem(again, 401, Some("Invalid or expired MFA token")).await;
    let unknown = app
        .post_json("/auth/mfa/passkey/options", &json!({"mfa_token": "nope"}))
        .await;
    assert_problem(unknown, 401, Some("Invalid or expired MFA token")).await;
    let missing = app.post_json("/auth/mfa/passkey/options", &json!({})).await;
    assert_problem(missing, 422, None).await;

    // A refused passkey counts like a wrong code: 401, and the same token still works.
    let mfa_token = app.first_step(&email).await;
    let options: Value = app
        .post_json(
            "/auth/mfa/passkey/options",
            &json!({"mfa_token": mfa_token}),
        )
        .await
        .json()
        .await
        .unwrap();
    let unverified = Tweaks {
        user_verified: false,
        ..Tweaks::default()
    };
    let credential = device.get_with(&options, &unverified).unwrap();
    let refused = app
        .second_step(
            &mfa_token,
            json!({"challenge_id": options["challenge_id"], "credential": credential}),
        )
        .await;
    assert_problem(refused, 401, Some(FAILED)).await;
    // A code where a passkey is expected, or both at once.
    let both = app
        .second_step(
            &mfa_token,
            json!({"code": "123456", "challenge_id": options["challenge_id"], "credential": {}}),
        )
        .await;
    assert_problem(both, 422, None).await;
}

async fn every_failed_check_signs_in_nobody(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, id, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;
    let sessions_before = app.sessions_of_user(&id).await;

    let refusals = [
        Tweaks {
            origin: Some("https://evil.example".into()),
            ..Tweaks::default()
        },
        Tweaks {
            origin: Some("http://localhost:8001".into()),
            ..Tweaks::default()
        },
        Tweaks {
            rp_id: Some("evil.example".into()),
            ..Tweaks::default()
        },
        Tweaks {
            user_verified: false,
            ..Tweaks::default()
        },
        Tweaks {
            client_data_type: Some("webauthn.create"),
            ..Tweaks::default()
        },
    ];
    for tweaks in &refusals {
        let options = app.sign_in_options().await;
        let credential = device.get_with(&options, tweaks).unwrap();
        let response = app.passkey_sign_in(&options, credential).await;
        assert_problem(response, 401, Some(FAILED)).await;
    }
    // A signature that does not match what was signed.
    let options = app.sign_in_options().await;
    let mut credential = device.get(&options).unwrap();
    credential["response"]["signature"] =
        device.get(&app.sign_in_options().await).unwrap()["response"]["signature"].clone();
    assert_problem(
        app.passkey_sign_in(&options, credential).await,
        401,
        Some(FAILED),
    )
    .await;
    // A credential no account has.
    let mut stranger = SoftPasskey::new(ORIGIN);
    let (_, _, other) = app.logged_in_user().await;
    let options = app.passkey_options(&other.access).await;
    stranger.create(&options).unwrap(); // made, never registered
    let options = app.sign_in_options().await;
    let response = app
        .passkey_sign_in(&options, stranger.get(&options).unwrap())
        .await;
    assert_problem(response, 401, Some(FAILED)).await;
    // Another account's credential as this account's second step: its owner's device
    // signs the challenge, but the step allows only this account's passkeys.
    let (victim, _) = app.registered_user().await;
    let victim_login = Tokens::from_json(&app.login(&victim, PASSWORD).await.json().await.unwrap());
    app.add_passkey(&victim_login.access, &mut SoftPasskey::new(ORIGIN))
        .await;
    let mfa_token = app.first_step(&victim).await;
    let mut options: Value = app
        .post_json(
            "/auth/mfa/passkey/options",
            &json!({"mfa_token": mfa_token}),
        )
        .await
        .json()
        .await
        .unwrap();
    options["publicKey"]["allowCredentials"] = json!([]);
    let response = app
        .second_step(
            &mfa_token,
            json!({"challenge_id": options["challenge_id"], "credential": device.get(&options).unwrap()}),
        )
        .await;
    assert_problem(response, 401, Some(FAILED)).await;
    // A user handle that names another account than the credential's.
    let options = app.sign_in_options().await;
    let mut credential = device.get(&options).unwrap();
    credential["response"]["userHandle"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
    assert_problem(
        app.passkey_sign_in(&options, credential).await,
        401,
        Some(FAILED),
    )
    .await;
    // Registration refusals: wrong origin, no user verification.
    for tweaks in [&refusals[0], &refusals[3]] {
        let options = app.passkey_options(&other.access).await;
        let credential = stranger.create_with(&options, tweaks).unwrap();
        let response = app
            .register_passkey(&other.access, &options, credential, None)
            .await;
        assert_problem(response, 401, Some(FAILED)).await;
    }
    assert!(app.passkeys_of(&other.access).await.is_empty());
    // Not a credential at all.
    let options = app.sign_in_options().await;
    let response = app.passkey_sign_in(&options, json!({"id": 1})).await;
    assert_problem(response, 422, None).await;
    let response = app.passkey_sign_in(&options, json!("text")).await;
    assert_problem(response, 422, None).await;

    assert_eq!(app.sessions_of_user(&id).await, sessions_before);
    // Refusals of the owner's credential are in the owner's log (a phishing page's origin
    // shows up there); the stranger's credential names no account.
    let failed = app.user_events(&id, AuditEventType::LoginFailed).await;
    assert!(failed.len() >= refusals.len(), "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|event| event.details["reason"] == "passkey")
    );
    // After all that, the passkey still works.
    app.signed_in_with(&mut device).await;
}

async fn challenges_serve_one_purpose_one_account_once_for_five_minutes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;

    // Used once, then gone.
    let options = app.sign_in_options().await;
    let first = device.get(&options).unwrap();
    assert_eq!(
        app.passkey_sign_in(&options, first).await.status(),
        StatusCode::OK
    );
    let replay = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_problem(replay, 400, Some(INVALID_CHALLENGE)).await;
    // Unknown, or not an id.
    for challenge in [json!(uuid::Uuid::now_v7()), json!("nope")] {
        let options = json!({"challenge_id": challenge, "publicKey": app.sign_in_options().await["publicKey"]});
        let response = app
            .passkey_sign_in(&options, device.get(&options).unwrap())
            .await;
        assert_problem(response, 400, Some(INVALID_CHALLENGE)).await;
    }
    // Another purpose: a registration's challenge presented to sign in, a sign-in's to
    // register, a sign-in's as a second step.
    let aal2 = app.signed_in_with(&mut device).await;
    let registration = app.passkey_options(&aal2.access).await;
    let signing_in = app.sign_in_options().await;
    let crossed =
        json!({"challenge_id": registration["challenge_id"], "publicKey": signing_in["publicKey"]});
    let response = app
        .passkey_sign_in(&crossed, device.get(&crossed).unwrap())
        .await;
    assert_problem(response, 400, Some(INVALID_CHALLENGE)).await;
    let mut spare = SoftPasskey::new(ORIGIN);
    let crossed =
        json!({"challenge_id": signing_in["challenge_id"], "publicKey": registration["publicKey"]});
    let response = app
        .register_passkey(
            &aal2.access,
            &crossed,
            spare.create(&crossed).unwrap(),
            None,
        )
        .await;
    assert_problem(response, 400, Some(INVALID_CHALLENGE)).await;
    let mfa_token = app.first_step(&email).await;
    let signing_in = app.sign_in_options().await;
    let response = app
        .second_step(
            &mfa_token,
            json!({"challenge_id": signing_in["challenge_id"], "credential": device.get(&signing_in).unwrap()}),
        )
        .await;
    assert_problem(response, 400, Some(INVALID_CHALLENGE)).await;
    // Another account: one account's registration finished by another.
    let (_, _, other) = app.logged_in_user().await;
    let theirs = app.passkey_options(&other.access).await;
    let response = app
        .register_passkey(&aal2.access, &theirs, spare.create(&theirs).unwrap(), None)
        .await;
    assert_problem(response, 400, Some(INVALID_CHALLENGE)).await;
    // …which leaves it to its owner.
    let mut their_device = SoftPasskey::new(ORIGIN);
    let response = app
        .register_passkey(
            &other.access,
            &theirs,
            their_device.create(&theirs).unwrap(),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // Expired: five minutes on, as the database sees it.
    let options = app.sign_in_options().await;
    app.db
        .execute_unprepared(&format!(
            "UPDATE passkey_ceremonies SET expires_at = created_at WHERE id = {}",
            uuid_literal(&app.db, options["challenge_id"].as_str().unwrap())
        ))
        .await
        .unwrap();
    let response = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_problem(response, 400, Some(INVALID_CHALLENGE)).await;
}

async fn a_counter_that_goes_back_is_refused_and_flags_the_passkey(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;
    app.signed_in_with(&mut device).await; // counter 1
    let signed_in = app.signed_in_with(&mut device).await; // counter 2
    assert_eq!(
        app.passkeys_of(&signed_in.access).await[0]["possibly_cloned"],
        false
    );

    // A copy of the key that signed once: its counter is behind the stored one.
    for counter in [1, 2] {
        let options = app.sign_in_options().await;
        let cloned = Tweaks {
            counter: Some(counter),
            ..Tweaks::default()
        };
        let response = app
            .passkey_sign_in(&options, device.get_with(&options, &cloned).unwrap())
            .await;
        assert_problem(response, 401, Some(FAILED)).await;
    }
    let listed = app.passkeys_of(&signed_in.access).await;
    assert_eq!(listed[0]["possibly_cloned"], true);
    app.wait_for_notice(&email, "a passkey may have been copied")
        .await;
    let failed = app.user_events(&id, AuditEventType::LoginFailed).await;
    assert!(
        failed
            .iter()
            .any(|event| event.details["reason"] == "passkey_possibly_cloned")
    );
    // The original, whose counter is ahead, still signs in.
    app.signed_in_with(&mut device).await;
}

async fn removal_needs_fresh_aal2_and_codes_go_with_the_last_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, password_only) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    let passkey_id = app.add_passkey(&password_only.access, &mut device).await;
    let path = format!("/auth/passkeys/{passkey_id}");

    // The session that added it is aal1: with a factor on the account, that is not enough
    // to remove it or to add another.
    let refused = app
        .bearer(Method::DELETE, &path, &password_only.access, None)
        .await;
    assert_problem(refused, 403, Some("Stronger authentication required")).await;
    let refused = app
        .bearer(
            Method::POST,
            "/auth/passkeys/register/options",
            &password_only.access,
            None,
        )
        .await;
    assert_problem(refused, 403, Some("Stronger authentication required")).await;
    // A refreshed aal2 token is not fresh.
    let signed_in = app.signed_in_with(&mut device).await;
    let refreshed: Value = app.refresh(&signed_in.refresh).await.json().await.unwrap();
    let stale = refreshed["access_token"].as_str().unwrap();
    let refused = app.bearer(Method::DELETE, &path, stale, None).await;
    assert_problem(refused, 403, Some("Fresh token required")).await;

    // Recovery codes for an account whose only factor is a passkey.
    let signed_in = app.signed_in_with(&mut device).await;
    let codes = app
        .bearer(
            Method::POST,
            "/auth/mfa/recovery-codes",
            &signed_in.access,
            None,
        )
        .await;
    assert_eq!(codes.status(), StatusCode::OK);
    let response = app.login(&email, PASSWORD).await;
    let body = assert_problem(response, 403, Some("Second factor required")).await;
    assert_eq!(body["methods"], json!(["passkey", "recovery_code"]));

    let (_, _, other) = app.logged_in_user().await;
    let foreign = app.bearer(Method::DELETE, &path, &other.access, None).await;
    assert_problem(foreign, 404, Some("Passkey not found")).await;
    // Whoever signed in with the passkey elsewhere (a lost phone) is signed out with it.
    let elsewhere = app.signed_in_with(&mut device).await;
    let removed = app
        .bearer(Method::DELETE, &path, &signed_in.access, None)
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    crate::helpers::assert_session_ended(app.me(&elsewhere.access).await).await;
    assert_eq!(app.me(&signed_in.access).await.status(), StatusCode::OK);
    let again = app
        .bearer(Method::DELETE, &path, &signed_in.access, None)
        .await;
    assert_problem(again, 404, Some("Passkey not found")).await;

    let status: Value = app
        .bearer(Method::GET, "/auth/mfa", &signed_in.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    // The deleted credential signs in nobody; the password alone works again.
    let options = app.sign_in_options().await;
    let response = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_problem(response, 401, Some(FAILED)).await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    let removed = app.user_events(&id, AuditEventType::PasskeyRemoved).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].details["passkey_id"], passkey_id.as_str());
    app.wait_for_notice(&email, "a passkey was removed").await;
}

async fn adding_a_passkey_ends_the_other_password_only_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, adding) = app.logged_in_user().await;
    let elsewhere = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&adding.access, &mut device).await;
    assert_eq!(app.me(&adding.access).await.status(), StatusCode::OK);
    let ended = app.me(&elsewhere.access).await;
    crate::helpers::assert_session_ended(ended).await;
    // A session that proved a passkey is not ended by the next one added; a password-only
    // session is, even the one that added the first.
    let strong = app.signed_in_with(&mut device).await;
    let mut second = SoftPasskey::new(ORIGIN);
    app.add_passkey(&strong.access, &mut second).await;
    assert_eq!(app.me(&strong.access).await.status(), StatusCode::OK);
    crate::helpers::assert_session_ended(app.me(&adding.access).await).await;
    let endings = app.user_events(&id, AuditEventType::SessionEnded).await;
    assert_eq!(endings.len(), 2);
    assert!(
        endings
            .iter()
            .all(|ended| ended.details["reason"] == "second_factor_added")
    );
}

async fn inactive_accounts_and_admin_resets(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (email, id, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;

    let path = format!("/users/{id}");
    let deactivate = app
        .bearer(
            Method::PATCH,
            &path,
            &admin.access,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(deactivate.status(), StatusCode::OK);
    let options = app.sign_in_options().await;
    let response = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_problem(response, 403, Some("Inactive user")).await;
    let activate = app
        .bearer(
            Method::PATCH,
            &path,
            &admin.access,
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(activate.status(), StatusCode::OK);
    let signed_in = app.signed_in_with(&mut device).await;

    // The administrator's reset removes passkeys too, and ends the sessions.
    let reset = app
        .bearer(Method::DELETE, &format!("{path}/mfa"), &admin.access, None)
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.me(&signed_in.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let options = app.sign_in_options().await;
    let response = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_problem(response, 401, Some(FAILED)).await;
    let fresh = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    assert!(app.passkeys_of(&fresh.access).await.is_empty());
}

async fn concurrent_finishes_of_one_challenge_let_one_through(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    device.counter_step = 0; // both assertions valid on their own
    app.add_passkey(&tokens.access, &mut device).await;
    let options = app.sign_in_options().await;
    let (a, b) = (device.get(&options).unwrap(), device.get(&options).unwrap());
    let (first, second) = tokio::join!(
        app.passkey_sign_in(&options, a),
        app.passkey_sign_in(&options, b)
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
}

/// A ceremony begun on one instance is finished on another (Postgres; each instance a
/// process of its own on one database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceremony_begun_on_one_instance_finishes_on_another() {
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let other = GatehouseProcess::start(app.database_url(), &[]).await;
    let mut device = SoftPasskey::new(ORIGIN);

    let options = app.passkey_options(&tokens.access).await;
    let credential = device.create(&options).unwrap();
    let registered = other
        .post(
            "/auth/passkeys/register",
            Some(&tokens.access),
            Some(json!({"challenge_id": options["challenge_id"], "credential": credential})),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    let options: Value = other
        .post("/auth/passkeys/login/options", None, Some(json!({})))
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .passkey_sign_in(&options, device.get(&options).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn totp_and_passkeys_together(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;
    let strong = app.signed_in_with(&mut device).await;
    app.enrol_totp(&strong.access).await;
    let response = app.login(&email, PASSWORD).await;
    let body = assert_problem(response, 403, Some("Second factor required")).await;
    assert_eq!(body["methods"], json!(["totp", "passkey", "recovery_code"]));

    // TOTP goes; the passkey stays, so the recovery codes stay too.
    let removed = app
        .bearer(Method::DELETE, "/auth/mfa/totp", &strong.access, None)
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let status: Value = app
        .bearer(Method::GET, "/auth/mfa", &strong.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({"totp": false, "passkeys": 1, "recovery_codes_left": 10})
    );

    // An account whose only factor is TOTP has no passkey to offer.
    let (totp_only, _, plain) = app.logged_in_user().await;
    app.enrol_totp(&plain.access).await;
    let mfa_token = app.first_step(&totp_only).await;
    let response = app
        .post_json(
            "/auth/mfa/passkey/options",
            &json!({"mfa_token": mfa_token}),
        )
        .await;
    assert_problem(response, 409, Some("No passkey registered")).await;
}

async fn a_second_step_checks_the_counter_stored_now_not_when_it_began(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;
    app.signed_in_with(&mut device).await;
    app.signed_in_with(&mut device).await; // stored counter 2
    let mfa_token = app.first_step(&email).await;
    let options: Value = app
        .post_json(
            "/auth/mfa/passkey/options",
            &json!({"mfa_token": mfa_token}),
        )
        .await
        .json()
        .await
        .unwrap();
    app.signed_in_with(&mut device).await;
    let owner = app.signed_in_with(&mut device).await; // stored counter 4
    // A copy of the key, behind the original but ahead of when the second step began.
    let cloned = Tweaks {
        counter: Some(3),
        ..Tweaks::default()
    };
    let credential = device.get_with(&options, &cloned).unwrap();
    let response = app
        .second_step(
            &mfa_token,
            json!({"challenge_id": options["challenge_id"], "credential": credential}),
        )
        .await;
    assert_problem(response, 401, Some(FAILED)).await;
    assert_eq!(
        app.passkeys_of(&owner.access).await[0]["possibly_cloned"],
        true
    );
}

async fn recovery_codes_renewed_while_the_last_factor_goes_do_not_outlive_it(backend: Backend) {
    let app = spawn_app(backend).await;
    for _ in 0..8 {
        let (_, _, tokens) = app.logged_in_user().await;
        let mut device = SoftPasskey::new(ORIGIN);
        let id = app.add_passkey(&tokens.access, &mut device).await;
        let strong = app.signed_in_with(&mut device).await;
        let path = format!("/auth/passkeys/{id}");
        let (removed, renewed) = tokio::join!(
            app.bearer(Method::DELETE, &path, &strong.access, None),
            app.bearer(
                Method::POST,
                "/auth/mfa/recovery-codes",
                &strong.access,
                None
            )
        );
        assert_eq!(removed.status(), StatusCode::NO_CONTENT);
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(&renewed.status()),
            "{}",
            renewed.status()
        );
        let status: Value = app
            .bearer(Method::GET, "/auth/mfa", &strong.access, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            status,
            json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0}),
            "codes left with no factor"
        );
    }
}

async fn an_account_holds_at_most_twenty_passkeys(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let mut device = SoftPasskey::new(ORIGIN);
    app.add_passkey(&tokens.access, &mut device).await;
    let strong = app.signed_in_with(&mut device).await;
    for _ in 1..20 {
        app.add_passkey(&strong.access, &mut SoftPasskey::new(ORIGIN))
            .await;
    }
    let options = app.passkey_options(&strong.access).await;
    let credential = SoftPasskey::new(ORIGIN).create(&options).unwrap();
    let response = app
        .register_passkey(&strong.access, &options, credential, None)
        .await;
    assert_problem(response, 409, Some("Too many passkeys: remove one first")).await;
    assert_eq!(app.passkeys_of(&strong.access).await.len(), 20);
}

async fn the_options_spend_the_per_ip_budget(backend: Backend) {
    let app = crate::helpers::spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
        ],
    )
    .await;
    for _ in 0..3 {
        app.sign_in_options().await;
    }
    let refused = app
        .post_json("/auth/passkeys/login/options", &json!({}))
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
}
