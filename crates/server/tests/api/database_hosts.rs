//! The database behind the server, on Postgres: a host that takes no writes, a host list
//! (`h1,h2` with `target_session_attrs`), and a pool warm from the start. The switch of a
//! real failover is `failover.rs`'s.

use std::time::Duration;

use gatehouse_persistence::{DatabaseConfig, connect};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::json;

use crate::{
    helpers::{Backend, PASSWORD, TestDatabase, spawn_app_with},
    process::GatehouseProcess,
};

async fn admin(url: &str) -> DatabaseConnection {
    connect(DatabaseConfig {
        url: url.to_owned(),
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap()
}

async fn text(db: &DatabaseConnection, sql: &str) -> String {
    db.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<String>(0)
        .unwrap()
}

/// Makes `database`'s new sessions read-only (or writable again) and ends its current
/// ones, so every connection the server opens next has the new setting.
async fn set_read_only(admin: &DatabaseConnection, database: &str, read_only: bool) {
    let change = if read_only {
        format!("ALTER DATABASE {database} SET default_transaction_read_only = on")
    } else {
        format!("ALTER DATABASE {database} RESET default_transaction_read_only")
    };
    admin.execute_unprepared(&change).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();
}

/// A primary demoted to a standby answers every write with SQLSTATE 25006; until it takes
/// writes again the server answers 503 with `Retry-After` (never 500), `/ready` says 503,
/// and nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_takes_no_writes_answers_503_and_changes_nothing() {
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    let Backend::Postgres(admin_url) = &backend else {
        unreachable!()
    };
    let app = spawn_app_with(backend.clone(), &[]).await;
    let database = text(&app.db, "SELECT current_database()::text").await;
    // Counted on a connection of its own each time: the changes below end the others.
    let (server, _) = admin_url.rsplit_once('/').unwrap();
    let database_url = format!("{server}/{database}");
    let users = || async {
        let db = admin(&database_url).await;
        text(&db, "SELECT count(*)::text FROM users").await
    };
    let (email, _) = app.registered_user().await;
    let admin = admin(admin_url).await;
    set_read_only(&admin, &database, true).await;

    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers().contains_key("retry-after"));
    let before = users().await;
    let register = app.register("new@example.com", PASSWORD).await;
    assert_eq!(register.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(register.headers().contains_key("retry-after"));
    let problem: serde_json::Value = register.json().await.unwrap();
    assert_eq!(problem["status"], 503, "{problem}");
    // A login writes its session: refused the same way, not half done.
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(users().await, before, "nothing was added");

    // Writable again: service resumes by itself within seconds (a pooled connection that
    // was ended fails its one request, and is replaced).
    set_read_only(&admin, &database, false).await;
    let resumed = std::time::Instant::now();
    loop {
        let ready = app.client.get(app.url("/ready")).send().await.unwrap();
        if ready.status() == StatusCode::OK {
            break;
        }
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            resumed.elapsed() < Duration::from_secs(5),
            "not ready again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let register = app.register("new@example.com", PASSWORD).await;
    assert_eq!(register.status(), StatusCode::CREATED);
}

/// With a host list, the server starts on the first host that suits: a host that refuses
/// connections is passed over, and serves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_host_first_in_the_list_is_passed_over() {
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    let database = TestDatabase::create(&backend).await;
    let (scheme_and_user, rest) = database.url.split_once('@').expect("a user in the URL");
    // Port 1 refuses at once.
    let listed = format!(
        "{scheme_and_user}@127.0.0.1:1,{}{}target_session_attrs=read-write",
        rest,
        if rest.contains('?') { "&" } else { "?" }
    );
    let server = GatehouseProcess::start(&listed, &[]).await;
    assert_eq!(
        server.register("listed@example.com").await.status(),
        StatusCode::CREATED
    );
    let ready = server
        .client
        .get(server.url("/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

/// The server's pool opens its connections before the first request (here 6 of them), so
/// the first second under load does not wait for handshakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_opens_its_connections_at_start() {
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    let Backend::Postgres(admin_url) = &backend else {
        unreachable!()
    };
    let app = spawn_app_with(
        backend.clone(),
        &[
            ("DATABASE_MAX_CONNECTIONS", "6"),
            ("DATABASE_MIN_CONNECTIONS", "6"),
        ],
    )
    .await;
    let database = text(&app.db, "SELECT current_database()::text").await;
    // Unnamed: the server's pool and the test's own one connection (the session cache's
    // are named). Before, the pool opened one at start, and more only under load; now the
    // rest open in the background as the server starts, within moments.
    let admin = admin(admin_url).await;
    let count = format!(
        "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{database}' \
         AND application_name = ''"
    );
    let started = std::time::Instant::now();
    loop {
        let opened: u32 = text(&admin, &count).await.parse().unwrap();
        if opened >= 6 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "open soon after start, no request made: {opened}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
