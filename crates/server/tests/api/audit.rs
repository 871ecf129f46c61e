//! The audit log: each event after the action that causes it, with its account, address,
//! client and request id; a change and its event commit together; no secret is stored.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, NEW_PASSWORD, PASSWORD, TestApp, Tokens, assert_problem, error_fields, spawn_app,
    spawn_app_with, token_in, user_id,
};
use gatehouse_domain::AuditEventType;
use gatehouse_persistence::{AuditFilter, AuditRepository};

backend_tests!(
    sign_in_events_are_recorded_with_their_context,
    a_change_and_its_event_commit_together,
    no_secret_is_stored_in_any_event,
    the_log_pages_newest_first_and_each_event_comes_once,
    superusers_list_the_log_with_filters_and_a_cursor,
    ended_sessions_and_refresh_reuse_are_recorded,
    administrators_changes_are_recorded_with_them_as_the_actor,
    mail_requests_and_their_use_are_recorded,
    per_ip_refusals_are_recorded_once_a_minute_per_network,
);

impl TestApp {
    pub(crate) fn audit(&self) -> AuditRepository {
        AuditRepository::new(self.db.clone())
    }

    /// `path` with a JSON body, a user agent and a request id (and a bearer token).
    async fn traced_post(
        &self,
        path: &str,
        request_id: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("User-Agent", "audit-tests/1.0")
            .header("X-Request-Id", request_id)
            .json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

async fn sign_in_events_are_recorded_with_their_context(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = format!("audited-{}@example.com", uuid::Uuid::new_v4().simple());
    let credentials = json!({"email": email, "password": PASSWORD});
    let registered = app
        .traced_post("/auth/register", "req-register", None, &credentials)
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let id: Value = registered.json().await.unwrap();
    let id = user_id(id["id"].as_str().unwrap());
    let wrong = json!({"email": email, "password": "wrong-password"});
    let failed = app
        .traced_post("/auth/login", "req-wrong", None, &wrong)
        .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let unknown = json!({"email": "nobody-audited@example.com", "password": "wrong-password"});
    let failed = app
        .traced_post("/auth/login", "req-unknown", None, &unknown)
        .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let login = app
        .traced_post("/auth/login", "req-login", None, &credentials)
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let tokens = Tokens::from_json(&login.json().await.unwrap());
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let changed = app
        .traced_post(
            "/auth/change-password",
            "req-change",
            Some(&tokens.access),
            &change,
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    let (events, _) = app
        .audit()
        .list(&AuditFilter::default(), None, 100)
        .await
        .unwrap();
    let find = |request_id: &str| {
        events
            .iter()
            .find(|stored| stored.event.context.request_id.as_deref() == Some(request_id))
            .unwrap_or_else(|| panic!("no event of {request_id}: {events:#?}"))
            .event
            .clone()
    };
    let session = app.session_of(&tokens.refresh);
    for (request_id, kind, user, reason) in [
        (
            "req-register",
            AuditEventType::UserRegistered,
            Some(id),
            None,
        ),
        (
            "req-wrong",
            AuditEventType::LoginFailed,
            Some(id),
            Some("wrong_password"),
        ),
        (
            "req-unknown",
            AuditEventType::LoginFailed,
            None,
            Some("unknown_email"),
        ),
        ("req-login", AuditEventType::LoginSucceeded, Some(id), None),
        (
            "req-change",
            AuditEventType::PasswordChanged,
            Some(id),
            None,
        ),
    ] {
        let event = find(request_id);
        assert_eq!(event.event_type, kind, "{request_id}");
        assert_eq!(event.user_id, user, "{request_id}");
        assert_eq!(
            event.context.ip.as_deref(),
            Some("127.0.0.1"),
            "{request_id}"
        );
        assert_eq!(event.context.user_agent.as_deref(), Some("audit-tests/1.0"));
        assert_eq!(event.context.actor_id, None, "the user acted themselves");
        assert_eq!(event.details.get("reason").map(String::as_str), reason);
    }
    assert_eq!(find("req-login").session_id, Some(session));
    assert_eq!(find("req-change").session_id, Some(session));
    assert_eq!(find("req-change").details["sessions_ended"], "0");

    // The user sees their own, newest first, without anyone else's.
    let shown: Vec<Value> = app
        .client
        .get(app.url("/auth/activity"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = shown.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "password.changed",
            "login.succeeded",
            "login.failed",
            "user.registered"
        ]
    );
    assert_eq!(shown[0]["ip"], "127.0.0.1");
    assert_eq!(shown[0]["user_agent"], "audit-tests/1.0");
    assert!(shown[0]["at"].as_str().unwrap().ends_with('Z'));
    let anonymous = app
        .client
        .get(app.url("/auth/activity"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// From now on the database refuses every audit event.
async fn make_audit_writes_fail(app: &TestApp, backend: &Backend) {
    let statements: &[&str] = match backend {
        Backend::Sqlite => &["CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
        Backend::Postgres(_) => &[
            "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION fail_audit()",
        ],
        Backend::MySql(_) => &["CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events \
             FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'"],
    };
    for statement in statements {
        app.db.execute_unprepared(statement).await.unwrap();
    }
}

/// A change whose event cannot be written does not happen: no account without its
/// `user.registered`, no session without its `login.succeeded`, no new password without
/// its `password.changed`.
async fn a_change_and_its_event_commit_together(backend: Backend) {
    let app = spawn_app(backend.clone()).await;
    let (email, id, tokens) = app.logged_in_user().await;
    let sessions_before = app
        .sessions()
        .list_active_for_user(user_id(&id), chrono::Utc::now())
        .await
        .unwrap()
        .len();
    let verify_mail = {
        let asked = app
            .client
            .post(app.url("/auth/request-verify"))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap();
        assert_eq!(asked.status(), StatusCode::ACCEPTED);
        app.wait_for_mails(&email, 1).await.remove(0)
    };
    make_audit_writes_fail(&app, &backend).await;

    let verified = app
        .post_json("/auth/verify", &json!({"token": token_in(&verify_mail)}))
        .await;
    assert!(verified.status().is_server_error(), "{verified:?}");
    let account = app.users().find_by_id(user_id(&id)).await.unwrap().unwrap();
    assert!(!account.is_verified, "verified without its event");

    // A mail's token is stored with the request's event, or not at all.
    let tokens_repository = gatehouse_persistence::OneTimeTokenRepository::new(app.db.clone());
    let now = chrono::Utc::now();
    let requested = gatehouse_domain::NewAuditEvent::new(
        AuditEventType::PasswordResetRequested,
        Some(user_id(&id)),
        &gatehouse_domain::AuditContext::default(),
        now,
    );
    let reset = gatehouse_domain::OneTimePurpose::PasswordReset;
    let issued = tokens_repository
        .issue_recorded(
            user_id(&id),
            reset,
            "hash-never-stored",
            now + chrono::Duration::minutes(5),
            now,
            Some(&requested),
        )
        .await;
    assert!(issued.is_err(), "{issued:?}");
    let found = tokens_repository
        .find_live(reset, "hash-never-stored", now)
        .await
        .unwrap();
    assert!(found.is_none(), "a token without its event: {found:?}");

    let registered = app.register("never-stored@example.com", PASSWORD).await;
    assert!(registered.status().is_server_error(), "{registered:?}");
    let parsed = gatehouse_domain::Email::parse("never-stored@example.com").unwrap();
    assert!(app.users().find_by_email(&parsed).await.unwrap().is_none());

    let login = app.login(&email, PASSWORD).await;
    assert!(login.status().is_server_error(), "{login:?}");
    let sessions_after = app
        .sessions()
        .list_active_for_user(user_id(&id), chrono::Utc::now())
        .await
        .unwrap()
        .len();
    assert_eq!(
        sessions_after, sessions_before,
        "no session without its event"
    );

    let change = app
        .client
        .post(app.url("/auth/change-password"))
        .bearer_auth(&tokens.access)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(change.status().is_server_error(), "{change:?}");
    let address = gatehouse_domain::Email::parse(&email).unwrap();
    let account = app.users().find_by_email(&address).await.unwrap().unwrap();
    let stored_hash = account.password_hash;
    // The old password still verifies against what is stored.
    let hasher = gatehouse_auth::PasswordHasher::new(gatehouse_auth::HasherConfig {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
        ..gatehouse_auth::HasherConfig::default()
    })
    .unwrap();
    let old = hasher
        .verify(gatehouse_domain::Password::presented(PASSWORD), stored_hash)
        .await
        .unwrap();
    assert!(old.is_match(), "the password changed without its event");
}

/// `details` and every other column hold names and reasons, never a secret.
async fn no_secret_is_stored_in_any_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    app.login(&email, "Wrong-Secret-Typed-1").await;
    app.login("Secret-In-The-Email-Field-2", PASSWORD).await;
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let changed = app
        .client
        .post(app.url("/auth/change-password"))
        .bearer_auth(&tokens.access)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    // The mails' single-use tokens, spent.
    let asked = app
        .client
        .post(app.url("/auth/request-verify"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let verify_token = token_in(&app.wait_for_mails(&email, 1).await.remove(0));
    let verified = app
        .post_json("/auth/verify", &json!({"token": verify_token}))
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    let forgot = app
        .post_json("/auth/forgot-password", &json!({"email": email}))
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let mails = app.wait_for_mails(&email, 2).await;
    let reset_token = mails
        .iter()
        .map(|mail| token_in(mail))
        .find(|token| *token != verify_token)
        .unwrap();
    let reset = app
        .post_json(
            "/auth/reset-password",
            &json!({"token": reset_token, "new_password": "Reset-Secret-Chosen-3"}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let hash = app
        .users()
        .find_by_email(&gatehouse_domain::Email::parse(&email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    let (events, _) = app
        .audit()
        .list(&AuditFilter::default(), None, 500)
        .await
        .unwrap();
    // registered, login.succeeded, login.failed, password.changed (the malformed address
    // is refused as 422 before any check, and recorded nowhere), the two mail requests,
    // email.verified, password.reset and the session.ended it caused.
    assert_eq!(events.len(), 9, "{events:#?}");
    let everything = format!("{events:?}");
    for secret in [
        PASSWORD,
        NEW_PASSWORD,
        "Wrong-Secret-Typed-1",
        "Secret-In-The-Email-Field-2",
        tokens.access.as_str(),
        tokens.refresh.as_str(),
        hash.as_str(),
        verify_token.as_str(),
        reset_token.as_str(),
        "Reset-Secret-Chosen-3",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} stored: {everything}"
        );
    }
}

async fn the_log_pages_newest_first_and_each_event_comes_once(backend: Backend) {
    let app = spawn_app(backend).await;
    for _ in 0..5 {
        app.login("nobody-paged@example.com", "wrong-password")
            .await;
    }
    let audit = app.audit();
    let failures = AuditFilter {
        event_type: Some(AuditEventType::LoginFailed),
        ..AuditFilter::default()
    };
    let (first, next) = audit.list(&failures, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first[0].id > first[1].id, "newest first");
    // An event added between pages comes before the first page, not in a later one.
    app.login("nobody-paged@example.com", "wrong-password")
        .await;
    let mut seen: Vec<i64> = first.iter().map(|e| e.id).collect();
    let mut cursor = next;
    while let Some(before) = cursor {
        let (page, next) = audit.list(&failures, Some(before), 2).await.unwrap();
        seen.extend(page.iter().map(|e| e.id));
        cursor = next;
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique, seen, "each once, in order");
    // Retention removes only what is older.
    let removed = audit
        .purge(chrono::Utc::now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(removed, 0);
    let removed = audit
        .purge(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(removed, 6);
}

async fn superusers_list_the_log_with_filters_and_a_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (email, id, user) = app.logged_in_user().await;
    for _ in 0..3 {
        app.login(&email, "wrong-password").await;
    }
    let get = async |query: &str, token: Option<&str>| {
        let mut request = app.client.get(app.url(&format!("/audit-events{query}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    };
    // Only superusers.
    assert_eq!(get("", None).await.status(), StatusCode::UNAUTHORIZED);
    assert_problem(
        get("", Some(&user.access)).await,
        403,
        Some("Not enough privileges"),
    )
    .await;

    // The user's failures, two a page, newest first, each once; one more arrives meanwhile.
    let filter = format!("?user_id={id}&type=login.failed&limit=2");
    let first: Value = get(&filter, Some(&admin.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    app.login(&email, "wrong-password").await;
    let mut seen: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let page: Value = get(&format!("{filter}&cursor={next}"), Some(&admin.access))
            .await
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["type"], "login.failed");
            assert_eq!(item["user_id"], id.as_str());
            assert_eq!(item["details"]["reason"], "wrong_password");
            assert_eq!(item["actor_id"], Value::Null);
            seen.push(item["id"].as_i64().unwrap());
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.windows(2).all(|pair| pair[0] > pair[1]), "{seen:?}");

    // Time bounds: since is inclusive, until exclusive.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let none: Value = get(
        &format!("?since={}", later.replace('+', "%2B")),
        Some(&admin.access),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(none["items"], json!([]));
    assert_eq!(none["next_cursor"], Value::Null);
    let all: Value = get(
        &format!("?until={}&limit=500", later.replace('+', "%2B")),
        Some(&admin.access),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(all["items"].as_array().unwrap().len() >= 8);

    // Bad values are one 422 naming each.
    let bad = get(
        "?user_id=nope&type=user.exploded&since=yesterday&limit=501&cursor=x",
        Some(&admin.access),
    )
    .await;
    let problem = assert_problem(bad, 422, None).await;
    assert_eq!(
        error_fields(&problem),
        ["cursor", "limit", "since", "type", "user_id"]
    );
}

async fn ended_sessions_and_refresh_reuse_are_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id, first) = app.logged_in_user().await;
    let login =
        async || Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let second = login().await;
    let bearer_post = async |path: &str, token: &str| {
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        bearer_post("/auth/logout", &first.access).await,
        StatusCode::NO_CONTENT
    );
    // Logging out an ended session again changes nothing and records nothing.
    assert_eq!(
        bearer_post("/auth/logout", &first.refresh).await,
        StatusCode::NO_CONTENT
    );
    let second_session = app.session_of(&second.refresh);
    let revoked = app
        .client
        .delete(app.url(&format!("/auth/sessions/{second_session}")))
        .bearer_auth(&login().await.access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let third = login().await;
    assert_eq!(
        bearer_post("/auth/logout-all", &third.access).await,
        StatusCode::NO_CONTENT
    );

    // A stolen refresh token replayed past the grace period.
    let victim = login().await;
    let rotated = app.refresh(&victim.refresh).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated = Tokens::from_json(&rotated.json().await.unwrap());
    // The owner rotates again, so generation 0 is no longer a never-rotating client's.
    assert_eq!(app.refresh(&rotated.refresh).await.status(), StatusCode::OK);
    let victim_session = app.session_of(&victim.refresh);
    app.backdate_rotation(victim_session, 60).await;
    app.refresh(&victim.refresh).await;

    let mine = AuditFilter {
        user_id: Some(user_id(&id)),
        ..AuditFilter::default()
    };
    let (events, _) = app.audit().list(&mine, None, 100).await.unwrap();
    let ended: Vec<(String, String)> = events
        .iter()
        .filter(|stored| stored.event.event_type == AuditEventType::SessionEnded)
        .map(|stored| {
            let details = &stored.event.details;
            (details["reason"].clone(), details["sessions_ended"].clone())
        })
        .collect();
    // Newest first: logout-all ended the two sessions still open (the one that revoked
    // the second, and the third).
    assert_eq!(
        ended,
        [
            ("logout_all".to_owned(), "2".to_owned()),
            ("revoked".to_owned(), "1".to_owned()),
            ("logout".to_owned(), "1".to_owned()),
        ]
    );
    let reuse: Vec<_> = events
        .iter()
        .filter(|stored| stored.event.event_type == AuditEventType::RefreshReuseDetected)
        .collect();
    assert_eq!(reuse.len(), 1, "{events:#?}");
    assert_eq!(reuse[0].event.session_id, Some(victim_session));
    assert_eq!(reuse[0].event.details["sessions_ended"], "1");
    assert_eq!(reuse[0].event.context.ip.as_deref(), Some("127.0.0.1"));

    // A password change ends the account's other sessions: one more session.ended.
    let changing = login().await;
    let _other = login().await;
    let changed = app
        .client
        .post(app.url("/auth/change-password"))
        .bearer_auth(&changing.access)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let only_endings = AuditFilter {
        event_type: Some(AuditEventType::SessionEnded),
        ..mine
    };
    let (latest, _) = app.audit().list(&only_endings, None, 1).await.unwrap();
    let latest = &latest[0].event;
    assert_eq!(latest.details["reason"], "password_change");
    assert_eq!(latest.details["sessions_ended"], "1");
    assert_eq!(latest.session_id, None, "the changing session was kept");
}

async fn administrators_changes_are_recorded_with_them_as_the_actor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin_id, admin) = app.superuser().await;
    let (_, changed_id, _) = app.logged_in_user().await;
    let (deleted_email, deleted_id) = app.registered_user().await;
    let patched = app
        .patch_user(
            &admin.access,
            &changed_id,
            json!({"password": NEW_PASSWORD, "is_active": false}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let deleted = app
        .client
        .delete(app.url(&format!("/users/{deleted_id}")))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (cli_email, cli_id) = app.registered_user().await;
    let output = app.users_command(&["deactivate", "--email", &cli_email], "");
    assert!(output.status.success(), "{output:?}");

    let latest = async |id: &str, kind: AuditEventType| {
        let filter = AuditFilter {
            user_id: Some(user_id(id)),
            event_type: Some(kind),
            ..AuditFilter::default()
        };
        let (events, _) = app.audit().list(&filter, None, 1).await.unwrap();
        events
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {kind:?} for {id}"))
            .event
    };
    let update = latest(&changed_id, AuditEventType::UserUpdated).await;
    assert_eq!(update.context.actor_id, Some(user_id(&admin_id)));
    assert_eq!(update.details["fields"], "password,is_active");
    assert_eq!(update.details["sessions_ended"], "1");
    assert!(!format!("{update:?}").contains(NEW_PASSWORD));
    let ended = latest(&changed_id, AuditEventType::SessionEnded).await;
    assert_eq!(ended.context.actor_id, Some(user_id(&admin_id)));
    assert_eq!(ended.details["reason"], "admin");
    assert_eq!(ended.details["sessions_ended"], "1");
    let deletion = latest(&deleted_id, AuditEventType::UserDeleted).await;
    assert_eq!(deletion.context.actor_id, Some(user_id(&admin_id)));
    assert!(!format!("{deletion:?}").contains(&deleted_email));
    let by_cli = latest(&cli_id, AuditEventType::UserUpdated).await;
    assert_eq!(by_cli.context.actor_id, None);
    assert_eq!(by_cli.details["by"], "cli");
    assert_eq!(by_cli.details["fields"], "is_active");

    let created = app.users_command(
        &["create", "--email", "made-by-cli@example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert!(created.status.success(), "{created:?}");
    let made = app
        .users()
        .find_by_email(&gatehouse_domain::Email::parse("made-by-cli@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let registered = latest(&made.id.to_string(), AuditEventType::UserRegistered).await;
    assert_eq!(registered.context.actor_id, None);
    assert_eq!(registered.details["by"], "cli");
}

impl TestApp {
    /// The events of `kind`, newest first.
    pub(crate) async fn events_of(
        &self,
        kind: AuditEventType,
    ) -> Vec<gatehouse_domain::NewAuditEvent> {
        let filter = AuditFilter {
            event_type: Some(kind),
            ..AuditFilter::default()
        };
        let (events, _) = self.audit().list(&filter, None, 500).await.unwrap();
        events.into_iter().map(|stored| stored.event).collect()
    }
}

/// password.reset_requested, email.verification_requested and email.verified, each with
/// the account and the request it came from; a second request inside the mail cool-down
/// is recorded as not mailed; a request for an address no account has records nothing.
async fn mail_requests_and_their_use_are_recorded(backend: Backend) {
    // The cool-down is on only with rate limits; the per-IP budget is made large enough.
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
        ],
    )
    .await;
    let (email, id, _) = app.logged_in_user().await;
    let id = user_id(&id);
    // The jobs run in order: once the account's two are recorded, the unknown one has run.
    let nobody = json!({"email": "nobody-mailed@example.com"});
    let asked = app
        .traced_post("/auth/forgot-password", "req-forgot-nobody", None, &nobody)
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let forgot = json!({"email": email});
    for request_id in ["req-forgot-1", "req-forgot-2"] {
        let asked = app
            .traced_post("/auth/forgot-password", request_id, None, &forgot)
            .await;
        assert_eq!(asked.status(), StatusCode::ACCEPTED);
    }
    app.wait_for_mails(&email, 1).await;
    let requests = wait_for_events(&app, AuditEventType::PasswordResetRequested, 2).await;
    let mailed: Vec<_> = requests
        .iter()
        .map(|event| {
            assert_eq!(event.user_id, Some(id));
            assert_eq!(event.context.ip.as_deref(), Some("127.0.0.1"));
            assert_eq!(event.context.user_agent.as_deref(), Some("audit-tests/1.0"));
            (
                event.context.request_id.clone().unwrap(),
                event.details["mail"].clone(),
            )
        })
        .collect();
    assert_eq!(
        mailed,
        [
            ("req-forgot-2".to_owned(), "cooldown".to_owned()),
            ("req-forgot-1".to_owned(), "sent".to_owned())
        ]
    );
    assert!(
        !format!(
            "{:?}",
            app.audit()
                .list(&AuditFilter::default(), None, 500)
                .await
                .unwrap()
        )
        .contains("req-forgot-nobody"),
        "a request for an unknown address is not recorded"
    );

    // Verification, on a second account (the first one's address is in its cool-down).
    let (other_email, other_id, other) = app.logged_in_user().await;
    let verify = app
        .traced_post(
            "/auth/request-verify",
            "req-ask-verify",
            Some(&other.access),
            &json!({}),
        )
        .await;
    assert_eq!(verify.status(), StatusCode::ACCEPTED);
    let mail = app.wait_for_mails(&other_email, 1).await.remove(0);
    let asked = wait_for_events(&app, AuditEventType::EmailVerificationRequested, 1).await;
    assert_eq!(asked[0].user_id, Some(user_id(&other_id)));
    assert_eq!(
        asked[0].context.request_id.as_deref(),
        Some("req-ask-verify")
    );
    assert_eq!(asked[0].details["mail"], "sent");
    let verified = app
        .traced_post(
            "/auth/verify",
            "req-verify",
            None,
            &json!({"token": token_in(&mail)}),
        )
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    let done = app.events_of(AuditEventType::EmailVerified).await;
    assert_eq!(done.len(), 1, "{done:#?}");
    assert_eq!(done[0].user_id, Some(user_id(&other_id)));
    assert_eq!(done[0].context.request_id.as_deref(), Some("req-verify"));
    assert_eq!(done[0].context.ip.as_deref(), Some("127.0.0.1"));
    // Already verified: asking again sends and records nothing.
    let again = app
        .traced_post(
            "/auth/request-verify",
            "req-ask-again",
            Some(&other.access),
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(
        app.events_of(AuditEventType::EmailVerificationRequested)
            .await
            .len(),
        1
    );
}

/// Polls (up to 10 s) until at least `count` events of `kind` exist; returns them, newest
/// first. For events written off the request path (mail jobs, refusals).
async fn wait_for_events(
    app: &TestApp,
    kind: AuditEventType,
    count: usize,
) -> Vec<gatehouse_domain::NewAuditEvent> {
    for _ in 0..200 {
        let events = app.events_of(kind).await;
        if events.len() >= count {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} {kind:?} events after 10 s");
}

/// A flood of logins for unknown addresses from one network writes only what the per-IP
/// budget lets through, plus one rate_limited event a minute: the table cannot grow
/// faster than the limits allow.
async fn per_ip_refusals_are_recorded_once_a_minute_per_network(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
        ],
    )
    .await;
    let mut refused = 0;
    for attempt in 0..30 {
        let body =
            json!({"email": format!("flood-{attempt}@example.com"), "password": "wrong-password"});
        let answer = app
            .traced_post("/auth/login", &format!("req-flood-{attempt}"), None, &body)
            .await;
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(refused, 27);
    let limited = wait_for_events(&app, AuditEventType::RateLimited, 1).await;
    // Give a wrongly spawned second write time to land before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let limited_now = app.events_of(AuditEventType::RateLimited).await;
    assert_eq!(limited_now.len(), 1, "{limited_now:#?}");
    let event = &limited[0];
    assert_eq!(event.user_id, None);
    assert_eq!(event.context.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(event.context.request_id.as_deref(), Some("req-flood-3"));
    assert_eq!(event.details["route"], "/auth/login");
    assert_eq!(event.details["limit"], "per_ip");
    let (all, _) = app
        .audit()
        .list(&AuditFilter::default(), None, 500)
        .await
        .unwrap();
    assert_eq!(all.len(), 4, "3 login.failed and 1 rate_limited: {all:#?}");
}
