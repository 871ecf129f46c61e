//! `SIGNING_KEYS=managed`: keys made at the first start and kept in the database, sealed;
//! a rotation published ahead, then signing on every instance, with nobody signed out;
//! a retired key gone from the JWK set once its last token has expired; the keys the
//! OpenID Provider signs with; the bad combinations that stop the start.
//!
//! The publish-ahead and expiry waits are stepped over by moving the stored dates into
//! the past; `KEY_CHECK_INTERVAL_S=1` lets each instance see it within a second or two.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use gatehouse_domain::AuditEventType;
use reqwest::StatusCode;
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, Query},
};
use serde_json::Value;

use crate::helpers::{Backend, TEST_MFA_KEY, TestApp, Tokens, spawn_app_with};
use crate::provider_tokens::tokens_for;

backend_tests!(
    keys_are_made_at_the_first_start_sealed_and_kept_across_a_restart,
    a_rotation_is_published_ahead_then_signs_and_signs_nobody_out,
    a_retired_key_leaves_the_jwk_set_once_its_last_token_has_expired,
    two_instances_sign_with_the_same_key_after_a_rotation_made_on_either,
    keys_sealed_under_the_previous_encryption_key_open_and_are_sealed_again,
    the_provider_signs_with_the_managed_keys,
);

const MANAGED: &[(&str, &str)] = &[
    ("SIGNING_KEYS", "managed"),
    ("JWT_ALGORITHM", "EdDSA"),
    ("MFA_ENCRYPTION_KEY", TEST_MFA_KEY),
    ("KEY_CHECK_INTERVAL_S", "1"),
];

/// Another 32-byte key, base64.
const OTHER_MFA_KEY: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY=";

async fn managed_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, MANAGED).await
}

fn kid_of(token: &str) -> String {
    crate::key_rotation::kid_of(token).expect("a kid")
}

async fn published(client: &reqwest::Client, address: &str) -> (Vec<String>, Value, String) {
    let response = client
        .get(format!("{address}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    let set: Value = response.json().await.unwrap();
    let kids = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    (kids, set, cache)
}

async fn login_at(client: &reqwest::Client, address: &str, email: &str) -> Tokens {
    let response = client
        .post(format!("{address}/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": crate::helpers::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_json(&response.json().await.unwrap())
}

async fn me_at(client: &reqwest::Client, address: &str, access: &str) -> StatusCode {
    client
        .get(format!("{address}/users/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls (every 200 ms, for up to 10 s) until `done` holds for what `probe` answers.
async fn eventually<T, F, Fut>(mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    for _ in 0..50 {
        let seen = probe().await;
        if done(&seen) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    probe().await
}

/// Moves a stored date of key `kid` `seconds` into the past.
async fn backdate(app: &TestApp, kid: &str, column: &str, seconds: i64) {
    let at = chrono::Utc::now() - chrono::Duration::seconds(seconds);
    let statement = Query::update()
        .table(Alias::new("signing_keys"))
        .value(Alias::new(column), at)
        .and_where(Expr::col(Alias::new("kid")).eq(kid))
        .to_owned();
    let done = app.db.execute(&statement).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{kid} {column}");
}

/// `gatehouse keys …` on the app's database, as an operator runs it.
fn keys_command(app: &TestApp, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", app.database_url())
        .env("RUST_LOG", "debug")
        .env("JWT_SECRET_KEY", crate::helpers::TEST_SECRET)
        .arg("keys")
        .args(args)
        .stdin(Stdio::null());
    for (name, value) in MANAGED.iter().chain(extra) {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// No private key in what a command printed or logged.
fn assert_no_private_key(output: &Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains("PRIVATE KEY"), "{all}");
    assert!(!all.contains("\"d\""), "{all}");
}

async fn rotate(app: &TestApp) -> String {
    let output = keys_command(app, &["rotate"], &[]);
    assert!(output.status.success(), "{output:?}");
    assert_no_private_key(&output);
    let printed = stdout(&output);
    assert!(
        printed.contains("next: published now, signs from"),
        "{printed}"
    );
    printed.split_whitespace().nth(2).unwrap().to_owned()
}

async fn keys_are_made_at_the_first_start_sealed_and_kept_across_a_restart(backend: Backend) {
    let app = managed_app(backend).await;
    let (kids, set, cache) = published(&app.client, &app.address).await;
    assert_eq!(kids.len(), 1, "{set}");
    // Half of the publish-ahead time (10 minutes by default), at most.
    assert_eq!(cache, "public, max-age=300");
    // Public parts only: an Ed25519 key's `x`, never its `d`.
    let mut fields: Vec<&String> = set["keys"][0].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["alg", "crv", "kid", "kty", "use", "x"]);
    assert_eq!(set["keys"][0]["alg"], "EdDSA");

    let (email, _, tokens) = app.logged_in_user().await;
    assert_eq!(kid_of(&tokens.access), kids[0]);
    assert_eq!(kid_of(&tokens.refresh), kids[0]);

    // Stored sealed: nothing of the PEM in the row.
    let select = Query::select()
        .column(Alias::new("sealed_private_key"))
        .from(Alias::new("signing_keys"))
        .to_owned();
    let rows = app.db.query_all(&select).await.unwrap();
    assert_eq!(rows.len(), 1);
    let sealed: String = rows[0].try_get("", "sealed_private_key").unwrap();
    assert!(!sealed.contains("PRIVATE"), "{sealed}");
    // Recorded once, with the kid, the algorithm and the state only.
    let created = app.events_of(AuditEventType::KeyCreated).await;
    assert_eq!(created.len(), 1);
    let mut details: Vec<(&str, &str)> = created[0]
        .details
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    details.sort();
    assert_eq!(
        details,
        [
            ("algorithm", "EdDSA"),
            ("by", "schedule"),
            ("kid", kids[0].as_str()),
            ("state", "current")
        ]
    );

    // A restart (another instance on the same database) keeps the key: the same kid
    // signs, tokens of before still work, and no second key is made.
    let restarted = app.another_instance(MANAGED).await.unwrap();
    assert_eq!(published(&app.client, &restarted).await.0, kids);
    assert_eq!(
        me_at(&app.client, &restarted, &tokens.access).await,
        StatusCode::OK
    );
    let again = login_at(&app.client, &restarted, &email).await;
    assert_eq!(kid_of(&again.access), kids[0]);
    assert_eq!(app.events_of(AuditEventType::KeyCreated).await.len(), 1);

    let listed = keys_command(&app, &["list"], &[]);
    assert!(listed.status.success(), "{listed:?}");
    assert_no_private_key(&listed);
    let line = stdout(&listed);
    assert!(
        line.starts_with(&format!("{}\tEdDSA\tcurrent\tcreated ", kids[0])),
        "{line}"
    );
    assert!(line.contains("signing since"), "{line}");
}

async fn a_rotation_is_published_ahead_then_signs_and_signs_nobody_out(backend: Backend) {
    let app = managed_app(backend).await;
    let (email, _, before) = app.logged_in_user().await;
    let old = kid_of(&before.access);

    let new = rotate(&app).await;
    assert_ne!(new, old);
    // Published within a check, before it signs anything.
    let (kids, _, _) = eventually(
        || published(&app.client, &app.address),
        |(kids, _, _)| kids.len() == 2,
    )
    .await;
    assert_eq!(kids, [old.clone(), new.clone()]);
    assert_eq!(kid_of(&app.logged_in_user().await.2.access), old);
    // One key waits at a time.
    let second = keys_command(&app, &["rotate"], &[("RUST_LOG", "off")]);
    assert!(!second.status.success());
    let refusal = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(
        refusal.contains(&format!("key {new} is next already")),
        "{refusal}"
    );
    assert_eq!(refusal.trim().lines().count(), 1, "{refusal}");

    // Ten minutes later (the default publish-ahead): the new key signs.
    backdate(&app, &new, "created_at", 601).await;
    let signed = eventually(
        || async { login_at(&app.client, &app.address, &email).await },
        |tokens| kid_of(&tokens.access) == new,
    )
    .await;
    assert_eq!(kid_of(&signed.access), new);
    // Nobody is signed out: the old key's tokens verify, and a refresh answers with the
    // new key's.
    assert_eq!(app.me(&before.access).await.status(), StatusCode::OK);
    let refreshed = app.refresh(&before.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = Tokens::from_json(&refreshed.json().await.unwrap());
    assert_eq!(kid_of(&refreshed.access), new);
    assert_eq!(kid_of(&refreshed.refresh), new);
    // The old key is retiring, still published; the step was taken once.
    assert_eq!(published(&app.client, &app.address).await.0.len(), 2);
    let activated = app.events_of(AuditEventType::KeyActivated).await;
    assert_eq!(activated.len(), 1);
    assert_eq!(activated[0].details["kid"], new);
    assert_eq!(activated[0].details["replaced"], old);
    let created = app.events_of(AuditEventType::KeyCreated).await;
    assert_eq!(created.len(), 2);
    let made = created
        .iter()
        .find(|event| event.details["kid"] == new)
        .unwrap();
    assert_eq!(made.details["by"], "cli");
    assert_eq!(made.details["state"], "next");
    let listed = stdout(&keys_command(&app, &["list"], &[]));
    assert!(
        listed.contains(&format!("{old}\tEdDSA\tretiring\t")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{new}\tEdDSA\tcurrent\t")),
        "{listed}"
    );
}

async fn a_retired_key_leaves_the_jwk_set_once_its_last_token_has_expired(backend: Backend) {
    let app = managed_app(backend).await;
    let (_, _, before) = app.logged_in_user().await;
    let old = kid_of(&before.access);
    let new = rotate(&app).await;
    backdate(&app, &new, "created_at", 601).await;
    eventually(
        || async { kid_of(&app.logged_in_user().await.2.access) },
        |kid| *kid == new,
    )
    .await;
    // Seven days (the refresh token's life), the leeway and a check after it retired:
    // removed.
    backdate(&app, &old, "retired_at", 7 * 86_400 + 30 + 2).await;
    let (kids, _, _) = eventually(
        || published(&app.client, &app.address),
        |(kids, _, _)| kids.len() == 1,
    )
    .await;
    assert_eq!(kids, std::slice::from_ref(&new));
    // Its tokens fail (an access token that had not expired, were it not forged now).
    assert_eq!(
        app.me(&before.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&before.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let retired = app.events_of(AuditEventType::KeyRetired).await;
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].details["kid"], old);
    assert!(!stdout(&keys_command(&app, &["list"], &[])).contains(&old));
}

async fn two_instances_sign_with_the_same_key_after_a_rotation_made_on_either(backend: Backend) {
    let app = managed_app(backend).await;
    let other = app.another_instance(MANAGED).await.unwrap();
    let here = app.address.clone();
    let (email, _, _) = app.logged_in_user().await;
    let first = kid_of(&login_at(&app.client, &other, &email).await.access);
    assert_eq!(
        kid_of(&login_at(&app.client, &here, &email).await.access),
        first
    );

    // An operator's rotation: both instances sign with the new key once it is due.
    let second = rotate(&app).await;
    backdate(&app, &second, "created_at", 601).await;
    for address in [&here, &other] {
        let tokens = eventually(
            || login_at(&app.client, address, &email),
            |tokens| kid_of(&tokens.access) == second,
        )
        .await;
        assert_eq!(kid_of(&tokens.access), second, "{address}");
    }

    // An automatic rotation (KEY_ROTATION_DAYS, 90 by default), which whichever instance
    // checks first makes: once, and both follow.
    backdate(&app, &second, "activated_at", 90 * 86_400 + 1).await;
    let (kids, _, _) = eventually(
        || published(&app.client, &other),
        |(kids, _, _)| kids.len() == 3,
    )
    .await;
    let third = kids.last().unwrap().clone();
    assert!(![first.as_str(), second.as_str()].contains(&third.as_str()));
    backdate(&app, &third, "created_at", 601).await;
    for address in [&here, &other] {
        let tokens = eventually(
            || login_at(&app.client, address, &email),
            |tokens| kid_of(&tokens.access) == third,
        )
        .await;
        assert_eq!(kid_of(&tokens.access), third, "{address}");
        // A token of either instance verifies on the other.
        let across = if address == &here { &other } else { &here };
        assert_eq!(
            me_at(&app.client, across, &tokens.access).await,
            StatusCode::OK
        );
    }
    assert_eq!(app.events_of(AuditEventType::KeyCreated).await.len(), 3);
    assert_eq!(app.events_of(AuditEventType::KeyActivated).await.len(), 2);
}

async fn keys_sealed_under_the_previous_encryption_key_open_and_are_sealed_again(backend: Backend) {
    let app = managed_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    // An operator whose MFA_ENCRYPTION_KEY is not the servers' makes no key they could not
    // open.
    let elsewhere = keys_command(
        &app,
        &["rotate"],
        &[("MFA_ENCRYPTION_KEY", OTHER_MFA_KEY), ("RUST_LOG", "off")],
    );
    assert!(!elsewhere.status.success());
    let refusal = String::from_utf8_lossy(&elsewhere.stderr).into_owned();
    assert!(refusal.contains("cannot be read"), "{refusal}");
    assert_eq!(app.events_of(AuditEventType::KeyCreated).await.len(), 1);
    // A new MFA_ENCRYPTION_KEY alone cannot open the key: the start stops, saying so.
    let mut without: Vec<(&str, &str)> = MANAGED.to_vec();
    without.retain(|(name, _)| *name != "MFA_ENCRYPTION_KEY");
    without.push(("MFA_ENCRYPTION_KEY", OTHER_MFA_KEY));
    let refused = app.another_instance(&without).await.unwrap_err();
    assert!(refused.contains("cannot be read"), "{refused}");
    // With the old one as MFA_ENCRYPTION_KEY_PREVIOUS it opens, and is sealed again under
    // the new one, so the old one can go.
    let mut rotating = without.clone();
    rotating.push(("MFA_ENCRYPTION_KEY_PREVIOUS", TEST_MFA_KEY));
    let reopened = app.another_instance(&rotating).await.unwrap();
    assert_eq!(
        me_at(&app.client, &reopened, &tokens.access).await,
        StatusCode::OK
    );
    let only_new = app.another_instance(&without).await.unwrap();
    assert_eq!(
        me_at(&app.client, &only_new, &tokens.access).await,
        StatusCode::OK
    );
}

async fn the_provider_signs_with_the_managed_keys(backend: Backend) {
    let app = managed_app(backend).await;
    let (kids, _, _) = published(&app.client, &app.address).await;
    let (_, rp) = app.admin_and_rp(serde_json::json!({})).await;
    let (tokens, _) = tokens_for(&app, &rp, "openid email").await;
    assert_eq!(kid_of(tokens["id_token"].as_str().unwrap()), kids[0]);
    assert_eq!(kid_of(tokens["access_token"].as_str().unwrap()), kids[0]);
    // After a rotation, the provider's tokens follow, and its old access token is still
    // accepted by userinfo.
    let old_access = tokens["access_token"].as_str().unwrap().to_owned();
    let new = rotate(&app).await;
    backdate(&app, &new, "created_at", 601).await;
    let (tokens, _) = eventually(
        || tokens_for(&app, &rp, "openid"),
        |(tokens, _)| kid_of(tokens["id_token"].as_str().unwrap()) == new,
    )
    .await;
    assert_eq!(kid_of(tokens["access_token"].as_str().unwrap()), new);
    let userinfo = app
        .client
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&old_access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);
}

#[test]
fn a_bad_combination_stops_the_start_with_one_line_naming_the_variable() {
    for (extra, variable) in [
        (vec![("JWT_ALGORITHM", "HS256")], "JWT_ALGORITHM"),
        (
            vec![("JWT_PRIVATE_KEY_FILE", "/etc/gatehouse/key.pem")],
            "JWT_PRIVATE_KEY_FILE",
        ),
        (
            vec![("OIDC_SIGNING_KEY_FILE", "/etc/gatehouse/oidc.pem")],
            "OIDC_SIGNING_KEY_FILE",
        ),
        (
            vec![("APP_ENV", "production"), ("MFA_ENCRYPTION_KEY", "")],
            "MFA_ENCRYPTION_KEY",
        ),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        command
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", "sqlite::memory:")
            .env("JWT_SECRET_KEY", crate::helpers::TEST_SECRET)
            .env("APP_PORT", "0");
        for (name, value) in MANAGED.iter().chain(&extra) {
            command.env(name, value);
        }
        let output = command.arg("serve").output().unwrap();
        assert!(!output.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("{variable}:")), "{stderr}");
    }
}

/// On Postgres a change is announced: instances that would not check for a minute (the
/// longest allowed) follow a rotation made at the command line, and the activation one of
/// them takes, within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_every_instance_follows_an_announced_change_at_once() {
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    let slow: Vec<(&str, &str)> = MANAGED
        .iter()
        .map(|&(name, value)| match name {
            "KEY_CHECK_INTERVAL_S" => (name, "60"),
            _ => (name, value),
        })
        .collect();
    let app = spawn_app_with(backend, &slow).await;
    let other = app.another_instance(&slow).await.unwrap();
    let (email, _, before) = app.logged_in_user().await;
    let old = kid_of(&before.access);

    // Published by both at once: the command line's change was announced.
    let new = rotate(&app).await;
    for address in [&app.address, &other] {
        let (kids, _, _) = eventually(
            || published(&app.client, address),
            |(kids, _, _)| kids.len() == 2,
        )
        .await;
        assert_eq!(kids, [old.clone(), new.clone()], "{address}");
    }
    // Due now; a nudge (what any change sends) makes both check: one activates it, and
    // its announcement brings the other along.
    backdate(&app, &new, "created_at", 601).await;
    app.db
        .execute_unprepared("NOTIFY gatehouse_signing_keys")
        .await
        .unwrap();
    for address in [&app.address, &other] {
        let tokens = eventually(
            || login_at(&app.client, address, &email),
            |tokens| kid_of(&tokens.access) == new,
        )
        .await;
        assert_eq!(kid_of(&tokens.access), new, "{address}");
    }
    assert_eq!(app.events_of(AuditEventType::KeyActivated).await.len(), 1);
}

/// Nothing of a private key reaches the log, even at debug level, through its first
/// start, a rotation and an activation: neither the key (opened here from the database to
/// know what to look for) nor its sealed form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_private_key_is_written_to_the_log() {
    use gatehouse_auth::{MfaKey, SealedSecret, SecretSealer};
    use sea_orm::{Database, FromQueryResult, JsonValue};
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-keys-log-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("gatehouse.log");
    let database_url = format!("sqlite://{}/app.db?mode=rwc", dir.display());
    let mut settings = MANAGED.to_vec();
    settings.extend([("LOG_FORMAT", "json"), ("RUST_LOG", "debug")]);
    let log = std::fs::File::create(&log_path).unwrap();
    let server =
        crate::process::GatehouseProcess::start_with_log(&database_url, &settings, log).await;
    let email = "keys-logged@example.com";
    assert_eq!(server.register(email).await.status(), StatusCode::CREATED);
    let client = reqwest::Client::new();
    let base = server.url("");
    let first = kid_of(&login_at(&client, &base, email).await.access);

    let rotated = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", &database_url)
        .env("RUST_LOG", "debug")
        .envs(MANAGED.iter().copied())
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    let second = stdout(&rotated)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    let db = Database::connect(database_url.as_str()).await.unwrap();
    let due = chrono::Utc::now() - chrono::Duration::seconds(601);
    let statement = Query::update()
        .table(Alias::new("signing_keys"))
        .value(Alias::new("created_at"), due)
        .and_where(Expr::col(Alias::new("kid")).eq(second.as_str()))
        .to_owned();
    db.execute(&statement).await.unwrap();
    let signed = eventually(
        || login_at(&client, &base, email),
        |tokens| kid_of(&tokens.access) == second,
    )
    .await;
    assert_eq!(kid_of(&signed.access), second);

    // What to look for: each stored key, opened as the server opens it.
    let select = Query::select()
        .columns([
            Alias::new("kid"),
            Alias::new("seal_key_id"),
            Alias::new("sealed_private_key"),
        ])
        .from(Alias::new("signing_keys"))
        .to_owned();
    let rows = JsonValue::find_by_statement(db.get_database_backend().build(&select))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let sealer = SecretSealer::new(MfaKey::from_base64(TEST_MFA_KEY).unwrap());
    let mut secrets = Vec::new();
    for row in &rows {
        let kid = row["kid"].as_str().unwrap();
        let sealed = SealedSecret {
            key_id: row["seal_key_id"].as_str().unwrap().to_owned(),
            sealed: row["sealed_private_key"].as_str().unwrap().to_owned(),
        };
        let bound_to = [b"gatehouse signing key\0".as_slice(), kid.as_bytes()].concat();
        let pem = sealer.open_bytes(&bound_to, &sealed).unwrap();
        let pem = String::from_utf8(pem.to_vec()).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        secrets.extend(
            pem.lines()
                .filter(|line| !line.starts_with("-----"))
                .map(str::to_owned),
        );
        secrets.push(sealed.sealed);
    }
    assert!([first.as_str(), second.as_str()].contains(&rows[0]["kid"].as_str().unwrap()));
    drop(server);
    let logged = format!(
        "{}{}{}",
        std::fs::read_to_string(&log_path).unwrap(),
        stdout(&rotated),
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(logged.contains(&second), "the log names keys by kid");
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "{secret} is in the log");
    }
    assert!(!logged.contains("PRIVATE KEY"));
    std::fs::remove_dir_all(&dir).ok();
}
