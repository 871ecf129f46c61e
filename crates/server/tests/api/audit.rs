//! The audit log: each event after the action that causes it, with its account, address,
//! client and request id; a change and its event commit together; no secret is stored.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, NEW_PASSWORD, PASSWORD, TestApp, Tokens, assert_problem, error_fields, spawn_app,
    user_id,
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
);

impl TestApp {
    fn audit(&self) -> AuditRepository {
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
    make_audit_writes_fail(&app, &backend).await;

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
    // is refused as 422 before any check, and recorded nowhere).
    assert_eq!(events.len(), 4, "{events:#?}");
    let everything = format!("{events:?}");
    for secret in [
        PASSWORD,
        NEW_PASSWORD,
        "Wrong-Secret-Typed-1",
        "Secret-In-The-Email-Field-2",
        tokens.access.as_str(),
        tokens.refresh.as_str(),
        hash.as_str(),
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
    let deletion = latest(&deleted_id, AuditEventType::UserDeleted).await;
    assert_eq!(deletion.context.actor_id, Some(user_id(&admin_id)));
    assert!(!format!("{deletion:?}").contains(&deleted_email));
    let by_cli = latest(&cli_id, AuditEventType::UserUpdated).await;
    assert_eq!(by_cli.context.actor_id, None);
    assert_eq!(by_cli.details["by"], "cli");
    assert_eq!(by_cli.details["fields"], "is_active");
}
