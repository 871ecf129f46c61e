//! The second factor: enrolment, the login's second step, step-up, recovery codes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, NEW_PASSWORD, PASSWORD, TestApp, Tokens, assert_problem, assert_session_ended,
    spawn_app, spawn_app_with, token_in,
};
use gatehouse_auth::TotpSecret;
use gatehouse_domain::{Aal, AuditEventType};
use gatehouse_persistence::{AuditFilter, AuditRepository};

backend_tests!(
    enrolment_turns_totp_on_with_recovery_codes_and_ends_other_sessions,
    a_login_with_totp_needs_its_second_step_and_gets_aal2,
    each_code_and_each_mfa_token_work_once,
    five_wrong_codes_or_five_minutes_kill_the_mfa_token,
    concurrent_second_steps_with_one_code_let_one_through,
    recovery_codes_work_once_each_and_renewal_replaces_them,
    sensitive_routes_need_aal2_once_a_factor_exists,
    disabling_totp_needs_aal2_and_takes_the_codes,
    a_password_reset_keeps_the_factor,
    no_factor_secret_is_stored_in_any_event,
    administrators_and_the_cli_remove_a_lost_factor,
    security_mails_tell_the_owner_what_changed,
    expired_second_steps_are_purged,
    wrong_codes_count_toward_the_back_off_and_verify_spends_the_ip_budget,
);

/// An account with TOTP on: its email, the authenticator, its recovery codes, and the
/// tokens of the session that enrolled (aal1).
struct Enrolled {
    email: String,
    secret: TotpSecret,
    recovery_codes: Vec<String>,
    enrolling: Tokens,
}

impl TestApp {
    async fn mfa_status(&self, token: &str) -> Value {
        let response = self
            .bearer(reqwest::Method::GET, "/auth/mfa", token, None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn setup_totp(&self, token: &str) -> reqwest::Response {
        self.verify_holder(token).await;
        self.bearer(reqwest::Method::POST, "/auth/mfa/totp/setup", token, None)
            .await
    }

    async fn confirm_totp(&self, token: &str, code: &str) -> reqwest::Response {
        self.verify_holder(token).await;
        self.bearer(
            reqwest::Method::POST,
            "/auth/mfa/totp/confirm",
            token,
            Some(json!({"code": code})),
        )
        .await
    }

    async fn enrolled_user(&self) -> Enrolled {
        let (email, _, enrolling) = self.logged_in_user().await;
        let setup = self.setup_totp(&enrolling.access).await;
        assert_eq!(setup.status(), StatusCode::OK);
        let setup: Value = setup.json().await.unwrap();
        let secret = TotpSecret::from_base32(setup["secret"].as_str().unwrap()).unwrap();
        // A step in the past, so the second step's "now" code is a step not used yet.
        let past_step = crate::helpers::clear_of_a_step_end().await - 30;
        let confirmed = self
            .confirm_totp(&enrolling.access, &secret.code_at(past_step))
            .await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        let body: Value = confirmed.json().await.unwrap();
        let recovery_codes = body["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|code| code.as_str().unwrap().to_owned())
            .collect();
        Enrolled {
            email,
            secret,
            recovery_codes,
            enrolling,
        }
    }

    /// A full aal2 login with the TOTP code of `at`.
    async fn aal2_login(&self, enrolled: &Enrolled, at: u64) -> Tokens {
        let mfa_token = self.first_step(&enrolled.email).await;
        let code = enrolled.secret.code_at(at);
        let response = self.second_step(&mfa_token, json!({"code": code})).await;
        assert_eq!(response.status(), StatusCode::OK);
        Tokens::from_json(&response.json().await.unwrap())
    }
}

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap()
}

async fn enrolment_turns_totp_on_with_recovery_codes_and_ends_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let other = Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    assert_eq!(
        app.mfa_status(&tokens.access).await,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    assert_problem(
        app.confirm_totp(&tokens.access, "123456").await,
        409,
        Some("No TOTP setup in progress"),
    )
    .await;
    let setup: Value = app.setup_totp(&tokens.access).await.json().await.unwrap();
    let text = setup["secret"].as_str().unwrap();
    assert_eq!(text.len(), 32, "160 bits, base32");
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/AuthX%20Starter:")
            && uri.contains(&format!("secret={text}"))
            && uri.contains("issuer=AuthX%20Starter"),
        "{uri}"
    );
    // A second setup replaces the first: the first secret's codes no longer confirm.
    let first = TotpSecret::from_base32(text).unwrap();
    let setup: Value = app.setup_totp(&tokens.access).await.json().await.unwrap();
    let secret = TotpSecret::from_base32(setup["secret"].as_str().unwrap()).unwrap();
    if first.code_at(now()) != secret.code_at(now()) {
        assert_problem(
            app.confirm_totp(&tokens.access, &first.code_at(now()))
                .await,
            400,
            Some("Invalid code"),
        )
        .await;
    }
    assert_problem(
        app.confirm_totp(&tokens.access, "12345").await,
        400,
        Some("Invalid code"),
    )
    .await;
    let missing = app
        .bearer(
            reqwest::Method::POST,
            "/auth/mfa/totp/confirm",
            &tokens.access,
            Some(json!({})),
        )
        .await;
    assert_problem(missing, 422, None).await;
    assert_eq!(
        app.mfa_status(&tokens.access).await["totp"],
        false,
        "not on before it is confirmed"
    );

    let confirmed = app
        .confirm_totp(&tokens.access, &secret.code_at(now()))
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert_eq!(confirmed.headers()["cache-control"], "no-store");
    let body: Value = confirmed.json().await.unwrap();
    let codes = body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        app.mfa_status(&tokens.access).await,
        json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10})
    );
    // The other session ended; this one goes on.
    assert_session_ended(app.me(&other.access).await).await;
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    assert_problem(
        app.confirm_totp(&tokens.access, &secret.code_at(now()))
            .await,
        409,
        Some("No TOTP setup in progress"),
    )
    .await;
}

async fn a_login_with_totp_needs_its_second_step_and_gets_aal2(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let response = app.login(&enrolled.email, PASSWORD).await;
    let body = assert_problem(response, 403, Some("Second factor required")).await;
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    let mfa_token = body["mfa_token"].as_str().unwrap();
    assert!(mfa_token.len() >= 43, "{mfa_token}");
    // The one-step grant cannot do a second step.
    let token = app.token(&enrolled.email, PASSWORD).await;
    let refused = assert_problem(token, 403, Some("Second factor required")).await;
    assert!(refused.get("mfa_token").is_none());
    // A wrong password is still just that.
    assert_problem(
        app.login(&enrolled.email, "wrong-password").await,
        401,
        Some("Invalid credentials"),
    )
    .await;

    let right = enrolled.secret.code_at(now());
    let wrong_code = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let wrong = app
        .second_step(mfa_token, json!({"code": wrong_code}))
        .await;
    assert_problem(wrong, 401, Some("Invalid code")).await;
    let done = app
        .second_step(mfa_token, json!({"code": enrolled.secret.code_at(now())}))
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let tokens = Tokens::from_json(&done.json().await.unwrap());
    let claims = app.codec().verify_access(&tokens.access).unwrap();
    assert_eq!(claims.aal, Aal::Aal2);
    assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
    assert!(claims.fresh);
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    // Refreshing keeps the level (and is not fresh).
    let refreshed = app.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = Tokens::from_json(&refreshed.json().await.unwrap());
    let claims = app.codec().verify_access(&refreshed.access).unwrap();
    assert_eq!((claims.aal, claims.fresh), (Aal::Aal2, false));
    // A password-only account's tokens say aal1 / pwd.
    let (_, _, plain) = app.logged_in_user().await;
    let claims = app.codec().verify_access(&plain.access).unwrap();
    assert_eq!(
        (claims.aal, claims.amr),
        (Aal::Aal1, vec!["pwd".to_owned()])
    );
}

async fn each_code_and_each_mfa_token_work_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let code = enrolled.secret.code_at(now());
    let mfa_token = app.first_step(&enrolled.email).await;
    let done = app.second_step(&mfa_token, json!({"code": code})).await;
    assert_eq!(done.status(), StatusCode::OK);
    // The same token again, with a good code of another step: the token is spent.
    let again = app
        .second_step(
            &mfa_token,
            json!({"code": enrolled.secret.code_at(now() + 30)}),
        )
        .await;
    assert_problem(again, 401, Some("Invalid or expired MFA token")).await;
    // The same code on a new login: its step was used.
    let next = app.first_step(&enrolled.email).await;
    assert_problem(
        app.second_step(&next, json!({"code": code})).await,
        401,
        Some("Invalid code"),
    )
    .await;
    // An older step than one used is refused too; the next step is fine.
    assert_problem(
        app.second_step(&next, json!({"code": enrolled.secret.code_at(now() - 30)}))
            .await,
        401,
        Some("Invalid code"),
    )
    .await;
    let later = app
        .second_step(&next, json!({"code": enrolled.secret.code_at(now() + 30)}))
        .await;
    assert_eq!(later.status(), StatusCode::OK);
    // Unknown tokens, and bodies that give both or neither proof.
    assert_problem(
        app.second_step("not-a-token", json!({"code": code})).await,
        401,
        Some("Invalid or expired MFA token"),
    )
    .await;
    let both = app
        .post_json(
            "/auth/mfa/verify",
            &json!({"mfa_token": "x", "code": "1", "recovery_code": "2"}),
        )
        .await;
    assert_problem(both, 422, None).await;
    let neither = app.post_json("/auth/mfa/verify", &json!({})).await;
    let body = assert_problem(neither, 422, None).await;
    assert_eq!(crate::helpers::error_fields(&body), ["code", "mfa_token"]);
}

async fn five_wrong_codes_or_five_minutes_kill_the_mfa_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let right = enrolled.secret.code_at(now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mfa_token = app.first_step(&enrolled.email).await;
    for _ in 0..5 {
        assert_problem(
            app.second_step(&mfa_token, json!({"code": wrong})).await,
            401,
            Some("Invalid code"),
        )
        .await;
    }
    assert_problem(
        app.second_step(&mfa_token, json!({"code": right})).await,
        401,
        Some("Invalid or expired MFA token"),
    )
    .await;
    // Expired: five minutes later the token is dead, a right code or not.
    let mfa_token = app.first_step(&enrolled.email).await;
    {
        use sea_orm::{
            ConnectionTrait,
            sea_query::{Alias, Expr, ExprTrait, Query},
        };
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        let statement = Query::update()
            .table(Alias::new("mfa_challenges"))
            .value(Alias::new("expires_at"), past)
            .and_where(Expr::col(Alias::new("used_at")).is_null())
            .to_owned();
        app.db.execute(&statement).await.unwrap();
    }
    assert_problem(
        app.second_step(&mfa_token, json!({"code": right})).await,
        401,
        Some("Invalid or expired MFA token"),
    )
    .await;
}

async fn concurrent_second_steps_with_one_code_let_one_through(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let first = app.first_step(&enrolled.email).await;
    let second = app.first_step(&enrolled.email).await;
    let code = enrolled.secret.code_at(now());
    let (a, b) = tokio::join!(
        app.second_step(&first, json!({"code": code})),
        app.second_step(&second, json!({"code": code})),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "one code, one login");
}

async fn recovery_codes_work_once_each_and_renewal_replaces_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let typed = enrolled.recovery_codes[0].to_uppercase().replace('-', " ");
    let mfa_token = app.first_step(&enrolled.email).await;
    let done = app
        .second_step(&mfa_token, json!({"recovery_code": typed}))
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let tokens = Tokens::from_json(&done.json().await.unwrap());
    assert_eq!(
        app.codec().verify_access(&tokens.access).unwrap().aal,
        Aal::Aal2
    );
    assert_eq!(
        app.mfa_status(&tokens.access).await["recovery_codes_left"],
        9
    );
    let again = app.first_step(&enrolled.email).await;
    assert_problem(
        app.second_step(&again, json!({"recovery_code": enrolled.recovery_codes[0]}))
            .await,
        401,
        Some("Invalid code"),
    )
    .await;

    // Renewal needs a fresh aal2 token: the enrolling (aal1) one is refused.
    let renew = async |token: String| {
        app.bearer(
            reqwest::Method::POST,
            "/auth/mfa/recovery-codes",
            &token,
            None,
        )
        .await
    };
    assert_problem(
        renew(enrolled.enrolling.access.clone()).await,
        403,
        Some("Stronger authentication required"),
    )
    .await;
    let renewed = renew(tokens.access.clone()).await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let fresh_codes: Vec<String> = renewed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fresh_codes.len(), 10);
    assert_eq!(
        app.mfa_status(&tokens.access).await["recovery_codes_left"],
        10
    );
    let login = app.first_step(&enrolled.email).await;
    assert_problem(
        app.second_step(&login, json!({"recovery_code": enrolled.recovery_codes[1]}))
            .await,
        401,
        Some("Invalid code"),
    )
    .await;
    let done = app
        .second_step(&login, json!({"recovery_code": fresh_codes[1]}))
        .await;
    assert_eq!(done.status(), StatusCode::OK);
}

async fn sensitive_routes_need_aal2_once_a_factor_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let change = async |token: String| {
        app.bearer(
            reqwest::Method::POST,
            "/auth/change-password",
            &token,
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await
    };
    // The enrolling session's token is fresh but aal1.
    assert_problem(
        change(enrolled.enrolling.access.clone()).await,
        403,
        Some("Stronger authentication required"),
    )
    .await;
    assert_problem(
        app.setup_totp(&enrolled.enrolling.access).await,
        403,
        Some("Stronger authentication required"),
    )
    .await;
    let strong = app.aal2_login(&enrolled, now()).await;
    assert_problem(
        app.setup_totp(&strong.access).await,
        409,
        Some("TOTP already enabled"),
    )
    .await;
    // A refreshed aal2 token is not fresh.
    let refreshed = Tokens::from_json(&app.refresh(&strong.refresh).await.json().await.unwrap());
    assert_problem(
        change(refreshed.access).await,
        403,
        Some("Fresh token required"),
    )
    .await;
    assert_eq!(change(strong.access).await.status(), StatusCode::NO_CONTENT);
}

async fn disabling_totp_needs_aal2_and_takes_the_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let disable = async |token: String| {
        app.bearer(reqwest::Method::DELETE, "/auth/mfa/totp", &token, None)
            .await
    };
    assert_problem(
        disable(enrolled.enrolling.access.clone()).await,
        403,
        Some("Stronger authentication required"),
    )
    .await;
    let strong = app.aal2_login(&enrolled, now()).await;
    assert_eq!(
        disable(strong.access.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.mfa_status(&strong.access).await,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    assert_problem(
        disable(strong.access.clone()).await,
        404,
        Some("TOTP not enabled"),
    )
    .await;
    // Logins are one step again.
    assert_eq!(
        app.login(&enrolled.email, PASSWORD).await.status(),
        StatusCode::OK
    );
    let no_factor = app
        .bearer(
            reqwest::Method::POST,
            "/auth/mfa/recovery-codes",
            &strong.access,
            None,
        )
        .await;
    assert_problem(no_factor, 409, Some("No second factor enabled")).await;
}

async fn a_password_reset_keeps_the_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let asked = app
        .post_json("/auth/forgot-password", &json!({"email": enrolled.email}))
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let token = token_in(&app.wait_for_mails(&enrolled.email, 1).await[0]);
    let reset = app
        .post_json(
            "/auth/reset-password",
            &json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let response = app.login(&enrolled.email, NEW_PASSWORD).await;
    assert_problem(response, 403, Some("Second factor required")).await;
}

async fn no_factor_secret_is_stored_in_any_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let code = enrolled.secret.code_at(now());
    let mfa_token = app.first_step(&enrolled.email).await;
    let wrong = if code == "999999" { "888888" } else { "999999" };
    app.second_step(&mfa_token, json!({"code": wrong})).await;
    let done = app.second_step(&mfa_token, json!({"code": code})).await;
    assert_eq!(done.status(), StatusCode::OK);
    let strong = Tokens::from_json(&done.json().await.unwrap());
    let other_token = app.first_step(&enrolled.email).await;
    let used = app
        .second_step(
            &other_token,
            json!({"recovery_code": enrolled.recovery_codes[0]}),
        )
        .await;
    assert_eq!(used.status(), StatusCode::OK);
    let renewed = app
        .bearer(
            reqwest::Method::POST,
            "/auth/mfa/recovery-codes",
            &strong.access,
            None,
        )
        .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let disabled = app
        .bearer(
            reqwest::Method::DELETE,
            "/auth/mfa/totp",
            &strong.access,
            None,
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::NO_CONTENT);

    let (events, _) = AuditRepository::new(app.db.clone())
        .list(&AuditFilter::default(), None, 500)
        .await
        .unwrap();
    let kinds: Vec<AuditEventType> = events
        .iter()
        .map(|stored| stored.event.event_type)
        .collect();
    for kind in [
        AuditEventType::TotpEnabled,
        AuditEventType::MfaChallenged,
        AuditEventType::MfaFailed,
        AuditEventType::MfaSucceeded,
        AuditEventType::RecoveryCodeUsed,
        AuditEventType::RecoveryCodesRenewed,
        AuditEventType::TotpDisabled,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing: {kinds:?}");
    }
    let used_event = events
        .iter()
        .find(|stored| stored.event.event_type == AuditEventType::RecoveryCodeUsed)
        .unwrap();
    assert_eq!(used_event.event.details["left"], "9");
    let everything = format!("{events:?}");
    let secret = enrolled.secret.base32();
    for secret in [
        secret.as_str(),
        code.as_str(),
        mfa_token.as_str(),
        other_token.as_str(),
    ]
    .into_iter()
    .chain(enrolled.recovery_codes.iter().map(String::as_str))
    {
        assert!(
            !everything.contains(secret),
            "{secret} stored: {everything}"
        );
    }
}

/// `DELETE /users/{id}/mfa` (superusers) and `gatehouse users reset-mfa`: the factor and
/// codes go, every session ends, the event names the administrator; logins are one step.
async fn administrators_and_the_cli_remove_a_lost_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin_id, admin) = app.superuser().await;
    let enrolled = app.enrolled_user().await;
    let strong = app.aal2_login(&enrolled, now()).await;
    let id = app.codec().verify_access(&strong.access).unwrap().user_id;
    let path = format!("/users/{id}/mfa");
    assert_eq!(
        app.client
            .delete(app.url(&path))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        app.bearer(reqwest::Method::DELETE, &path, &strong.access, None)
            .await,
        403,
        Some("Not enough privileges"),
    )
    .await;
    let unknown = format!("/users/{}/mfa", uuid::Uuid::now_v7());
    assert_problem(
        app.bearer(reqwest::Method::DELETE, &unknown, &admin.access, None)
            .await,
        404,
        Some("User not found"),
    )
    .await;
    let reset = app
        .bearer(reqwest::Method::DELETE, &path, &admin.access, None)
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_session_ended(app.me(&strong.access).await).await;
    let login = app.login(&enrolled.email, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK, "one step again");
    let tokens = Tokens::from_json(&login.json().await.unwrap());
    assert_eq!(
        app.mfa_status(&tokens.access).await,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    let filter = AuditFilter {
        user_id: Some(id),
        event_type: Some(AuditEventType::MfaReset),
        ..AuditFilter::default()
    };
    let audit = AuditRepository::new(app.db.clone());
    let (events, _) = audit.list(&filter, None, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event.context.actor_id,
        Some(crate::helpers::user_id(&admin_id))
    );

    // The command line does the same for an operator.
    let again = app.enrolled_user().await;
    let output = app.users_command(&["reset-mfa", "--email", &again.email], "");
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("second factors removed"),
        "{output:?}"
    );
    assert_session_ended(app.me(&again.enrolling.access).await).await;
    assert_eq!(
        app.login(&again.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// A short mail for each security-relevant change: factor added or removed, codes renewed
/// or used (with how many are left), password changed or reset. None carries a secret.
async fn security_mails_tell_the_owner_what_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let email = enrolled.email.as_str();
    app.wait_for_notice(email, "a second factor was added")
        .await;
    let mfa_token = app.first_step(email).await;
    let used = app
        .second_step(
            &mfa_token,
            json!({"recovery_code": enrolled.recovery_codes[0]}),
        )
        .await;
    assert_eq!(used.status(), StatusCode::OK);
    let strong = Tokens::from_json(&used.json().await.unwrap());
    let notice = app.wait_for_notice(email, "a recovery code was used").await;
    assert!(notice.contains("9 unused code(s) left"), "{notice}");
    let renewed = app
        .bearer(
            reqwest::Method::POST,
            "/auth/mfa/recovery-codes",
            &strong.access,
            None,
        )
        .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    app.wait_for_notice(email, "new recovery codes").await;
    let changed = app
        .bearer(
            reqwest::Method::POST,
            "/auth/change-password",
            &strong.access,
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    app.wait_for_notice(email, "your password was changed")
        .await;
    let disabled = app
        .bearer(
            reqwest::Method::DELETE,
            "/auth/mfa/totp",
            &strong.access,
            None,
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::NO_CONTENT);
    app.wait_for_notice(email, "a second factor was removed")
        .await;
    let asked = app
        .post_json("/auth/forgot-password", &json!({"email": email}))
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let token = token_in(&app.wait_for_mails(email, 1).await[0]);
    let reset = app
        .post_json(
            "/auth/reset-password",
            &json!({"token": token, "new_password": "Yet-Another-Passw0rd"}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    app.wait_for_notice(email, "your password was reset").await;
    let notices = app.notices_to(email).join("\n");
    for secret in enrolled.recovery_codes.iter().map(String::as_str).chain([
        enrolled.secret.base32().as_str(),
        mfa_token.as_str(),
        NEW_PASSWORD,
    ]) {
        assert!(!notices.contains(secret), "{secret} in a notice");
    }
}

/// Nothing of the second factor reaches the log, even at debug level: not the TOTP secret,
/// a code, a recovery code or an `mfa_token`.
#[tokio::test]
async fn no_factor_secret_is_written_to_the_log() {
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-mfa-log-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("gatehouse.log");
    let database_url = format!("sqlite://{}/app.db?mode=rwc", dir.display());
    let settings = [("LOG_FORMAT", "json"), ("RUST_LOG", "debug")];
    let log = std::fs::File::create(&log_path).unwrap();
    let server =
        crate::process::GatehouseProcess::start_with_log(&database_url, &settings, log).await;
    let email = "mfa-logged@example.com";
    assert_eq!(server.register(email).await.status(), StatusCode::CREATED);
    let tokens: Value = server.login(email).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let post = async |path: &str, token: Option<&str>, body: Value| {
        let mut request = server.client.post(server.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    crate::helpers::verify_address_in(&database_url, email).await;
    let (_, setup) = post("/auth/mfa/totp/setup", Some(&access), json!({})).await;
    let secret_text = setup["secret"].as_str().unwrap().to_owned();
    let secret = TotpSecret::from_base32(&secret_text).unwrap();
    let enrol_code = secret.code_at(now() - 30);
    let (status, codes) = post(
        "/auth/mfa/totp/confirm",
        Some(&access),
        json!({"code": enrol_code}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let recovery: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    let first = server.login(email).await;
    assert_eq!(first.status(), StatusCode::FORBIDDEN);
    let challenge: Value = first.json().await.unwrap();
    let mfa_token = challenge["mfa_token"].as_str().unwrap().to_owned();
    let code = secret.code_at(now());
    let wrong = if code == "123456" { "654321" } else { "123456" };
    post(
        "/auth/mfa/verify",
        None,
        json!({"mfa_token": mfa_token, "code": wrong}),
    )
    .await;
    let (status, _) = post(
        "/auth/mfa/verify",
        None,
        json!({"mfa_token": mfa_token, "code": code}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let challenge: Value = server.login(email).await.json().await.unwrap();
    let second_token = challenge["mfa_token"].as_str().unwrap().to_owned();
    let (status, _) = post(
        "/auth/mfa/verify",
        None,
        json!({"mfa_token": second_token, "recovery_code": recovery[0]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("/auth/mfa/verify"),
        "the requests were logged: {log}"
    );
    for secret in [
        secret_text.as_str(),
        enrol_code.as_str(),
        code.as_str(),
        wrong,
        mfa_token.as_str(),
        second_token.as_str(),
    ]
    .into_iter()
    .chain(recovery.iter().map(String::as_str))
    {
        assert!(!log.contains(secret), "{secret} in the log");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Housekeeping removes second steps that expired long enough ago, and keeps live ones.
async fn expired_second_steps_are_purged(backend: Backend) {
    use sea_orm::{
        ConnectionTrait,
        sea_query::{Alias, Expr, ExprTrait, Query},
    };
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled_user().await;
    let old = app.first_step(&enrolled.email).await;
    let live = app.first_step(&enrolled.email).await;
    let two_hours_ago = chrono::Utc::now() - chrono::Duration::hours(2);
    let statement = Query::update()
        .table(Alias::new("mfa_challenges"))
        .value(Alias::new("expires_at"), two_hours_ago)
        .and_where(
            Expr::col(Alias::new("token_hash")).eq(gatehouse_auth::hash_one_time_token(&old)),
        )
        .to_owned();
    app.db.execute(&statement).await.unwrap();
    let mfa = gatehouse_persistence::MfaRepository::new(app.db.clone());
    let purged = mfa
        .purge_challenges(chrono::Utc::now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let done = app
        .second_step(&live, json!({"code": enrolled.secret.code_at(now())}))
        .await;
    assert_eq!(done.status(), StatusCode::OK, "the live one stayed");
}

/// Codes are guessed like passwords: wrong ones count toward the account's back-off (then
/// even a right code is refused with 429), and `/auth/mfa/verify` spends the per-IP budget
/// it shares with login.
async fn wrong_codes_count_toward_the_back_off_and_verify_spends_the_ip_budget(backend: Backend) {
    let app = spawn_app_with(
        backend.clone(),
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "3"),
        ],
    )
    .await;
    let enrolled = app.enrolled_user().await;
    let right = enrolled.secret.code_at(now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mfa_token = app.first_step(&enrolled.email).await;
    for _ in 0..3 {
        assert_problem(
            app.second_step(&mfa_token, json!({"code": wrong})).await,
            401,
            Some("Invalid code"),
        )
        .await;
    }
    let held = app.second_step(&mfa_token, json!({"code": right})).await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(held.headers().contains_key("retry-after"));

    // The per-IP budget: 3 a minute, spent by logins and second steps alike.
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
        ],
    )
    .await;
    let enrolled = app.enrolled_user().await; // register + login: 2 of the 3
    let mfa_token = app.first_step(&enrolled.email).await; // the 3rd
    let refused = app
        .second_step(&mfa_token, json!({"code": enrolled.secret.code_at(now())}))
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Rotating `MFA_ENCRYPTION_KEY`: with the old key as `MFA_ENCRYPTION_KEY_PREVIOUS`, a TOTP
/// secret sealed and recovery codes hashed under it keep working after a restart.
#[tokio::test]
async fn a_rotated_key_still_opens_what_the_previous_one_sealed() {
    const OLD: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const NEW: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-mfa-rotate-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = format!("sqlite://{}/app.db?mode=rwc", dir.display());
    let email = "rotated@example.com";
    let post = async |server: &crate::process::GatehouseProcess,
                      path: &str,
                      token: Option<&str>,
                      body: Value| {
        let mut request = server.client.post(server.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (
            response.status(),
            response.json::<Value>().await.unwrap_or_default(),
        )
    };
    let (secret, recovery) = {
        let server =
            crate::process::GatehouseProcess::start(&database_url, &[("MFA_ENCRYPTION_KEY", OLD)])
                .await;
        assert_eq!(server.register(email).await.status(), StatusCode::CREATED);
        let tokens: Value = server.login(email).await.json().await.unwrap();
        let access = tokens["access_token"].as_str().unwrap();
        crate::helpers::verify_address_in(&database_url, email).await;
        let (_, setup) = post(&server, "/auth/mfa/totp/setup", Some(access), json!({})).await;
        let secret = TotpSecret::from_base32(setup["secret"].as_str().unwrap()).unwrap();
        let (status, codes) = post(
            &server,
            "/auth/mfa/totp/confirm",
            Some(access),
            json!({"code": secret.code_at(now() - 30)}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        (
            secret,
            codes["recovery_codes"][0].as_str().unwrap().to_owned(),
        )
    };
    let server = crate::process::GatehouseProcess::start(
        &database_url,
        &[
            ("MFA_ENCRYPTION_KEY", NEW),
            ("MFA_ENCRYPTION_KEY_PREVIOUS", OLD),
        ],
    )
    .await;
    let challenge: Value = server.login(email).await.json().await.unwrap();
    let (status, body) = post(
        &server,
        "/auth/mfa/verify",
        None,
        json!({"mfa_token": challenge["mfa_token"], "code": secret.code_at(now())}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let challenge: Value = server.login(email).await.json().await.unwrap();
    let (status, body) = post(
        &server,
        "/auth/mfa/verify",
        None,
        json!({"mfa_token": challenge["mfa_token"], "recovery_code": recovery}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
