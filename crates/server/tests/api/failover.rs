//! Through a Postgres failover: two gatehouse processes on a multi-host `DATABASE_URL`
//! (`target_session_attrs=read-write`) under a bounded load of registrations, logins,
//! refreshes and `/users/me`, while the primary of a synchronously replicated pair is
//! switched over. Every registration answered 201 must be on the new primary, nothing may
//! answer anything but success or 503 (with `Retry-After`), writes must resume within 30
//! seconds, and after the switch a logout on one instance must be refused by the other's
//! session cache within 2 seconds.
//!
//! Needs `GATEHOUSE_TEST_FAILOVER_URL` (the pair as a multi-host URL to a maintenance
//! database, `postgres://postgres@h1:6001,h2:6002/postgres?target_session_attrs=read-write`)
//! and `GATEHOUSE_TEST_FAILOVER_COMMAND` (a shell command that switches the primary over
//! and returns once it is done; `.ci/run` sets up pg_auto_failover and passes
//! `pg_autoctl perform failover`). The figures are written to
//! `target/tmp/failover-figures.txt`.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use gatehouse_persistence::{DatabaseConfig, DatabaseConnection, connect};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};

use crate::{
    helpers::PASSWORD,
    process::GatehouseProcess,
    session_cache::{hits, wait_until_usable},
    skips::{Needs, skipped},
};

/// How long writes may stop during the switch.
const WRITES_RESUME_WITHIN: Duration = Duration::from_secs(30);
/// How long the other instance may still accept a session logged out after the switch.
const LOGOUT_HONOURED_WITHIN: Duration = Duration::from_secs(2);
/// Load before the switch, and after writes have resumed.
const LOAD_AROUND_THE_SWITCH: Duration = Duration::from_secs(4);
/// Clients at once, spread over the two instances.
const CLIENTS: usize = 4;

struct Cluster {
    url: String,
    failover_command: String,
}

impl Cluster {
    fn from_env() -> Option<Self> {
        Some(Self {
            url: std::env::var("GATEHOUSE_TEST_FAILOVER_URL").ok()?,
            failover_command: std::env::var("GATEHOUSE_TEST_FAILOVER_COMMAND").ok()?,
        })
    }

    /// The URL with its database replaced by `database`.
    fn url_of(&self, database: &str) -> String {
        let (before_query, query) = self.url.split_once('?').unwrap_or((&self.url, ""));
        let (server, _) = before_query
            .rsplit_once('/')
            .expect("a database in the URL");
        format!("{server}/{database}?{query}")
    }

    /// The port of the host that takes writes now, if one does.
    async fn primary_port(&self) -> Option<String> {
        let db = connect(DatabaseConfig {
            url: self.url_of("postgres"),
            max_connections: 1,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(2),
        })
        .await
        .ok()?;
        let port = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT inet_server_port()::text",
            ))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get_by_index::<String>(0).ok());
        let _ = db.close().await;
        port
    }

    async fn connect_to(&self, database: &str) -> DatabaseConnection {
        connect(DatabaseConfig {
            url: self.url_of(database),
            max_connections: 1,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
        })
        .await
        .expect("the cluster's writable host")
    }
}

/// One statement's single text (or number, as text) answer.
async fn answer(db: &DatabaseConnection, sql: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<String>(0).unwrap()
}

/// What the load saw.
#[derive(Default)]
struct Observed {
    /// Emails whose registration was answered 201, with when the answer came.
    registered: Vec<(String, Instant)>,
    unavailable: usize,
    answers: usize,
    /// Anything but the expected success or a 503 with `Retry-After`.
    wrong: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_failover_no_acknowledged_write_is_lost_and_service_resumes() {
    let Some(cluster) = Cluster::from_env() else {
        skipped(Needs::Failover);
        return;
    };
    let figures_path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("failover-figures.txt");
    let _ = std::fs::remove_file(&figures_path);
    let maintenance = cluster.connect_to("postgres").await;
    let database = format!("gatehouse_failover_{}", uuid::Uuid::new_v4().simple());
    maintenance
        .execute_unprepared(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let synchronous = answer(
        &maintenance,
        "SELECT count(*)::text FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')",
    )
    .await;
    assert_ne!(synchronous, "0", "the test needs a synchronous standby");
    let primary_before = answer(&maintenance, "SELECT inet_server_port()::text").await;
    drop(maintenance);

    let url = cluster.url_of(&database);
    let settings = [
        ("RATE_LIMIT_ENABLED", "false"),
        ("DATABASE_ACQUIRE_TIMEOUT_S", "3"),
        ("RUST_LOG", "info"),
    ];
    let log_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("failover-server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let a =
        Arc::new(GatehouseProcess::start_with_log(&url, &settings, log.try_clone().unwrap()).await);
    let b = Arc::new(GatehouseProcess::start_with_log(&url, &settings, log).await);

    let observed = Arc::new(Mutex::new(Observed::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let server = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(load(server, n, observed.clone(), stop.clone()))
        })
        .collect();

    tokio::time::sleep(LOAD_AROUND_THE_SWITCH).await;
    let switch_started = Instant::now();
    let command = cluster.failover_command.clone();
    let switched = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &command])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        switched.status.success(),
        "the failover command failed: {}",
        String::from_utf8_lossy(&switched.stderr)
    );
    // Whether or not the command waited for it: the switch is done once another host
    // takes writes.
    loop {
        match cluster.primary_port().await {
            Some(port) if port != primary_before => break,
            _ => {}
        }
        assert!(
            switch_started.elapsed() < WRITES_RESUME_WITHIN * 2,
            "no new primary"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let switch_done = Instant::now();
    // Load until writes have been acknowledged for a while after the switch (or the limit
    // has passed).
    loop {
        let resumed = observed
            .lock()
            .unwrap()
            .registered
            .iter()
            .any(|(_, at)| *at > switch_done + LOAD_AROUND_THE_SWITCH);
        if resumed || switch_done.elapsed() > WRITES_RESUME_WITHIN + LOAD_AROUND_THE_SWITCH {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Release);
    for client in clients {
        client.await.unwrap();
    }

    // After the switch: a logout on one instance, refused by the other's cache.
    let email = format!("after-{}@example.com", uuid::Uuid::new_v4().simple());
    assert_eq!(a.register(&email).await.status(), StatusCode::CREATED);
    let tokens: Value = b.login(&email).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // b's cache listens on the new primary again, and answers this session.
    wait_until_usable(&b.client, &b.url("")).await;
    assert_eq!(b.me(&access).await, StatusCode::OK);
    let hits_before = hits(&b.client, &b.url("")).await;
    assert_eq!(b.me(&access).await, StatusCode::OK);
    assert!(
        hits(&b.client, &b.url("")).await > hits_before,
        "b's cache did not answer the session after the switch"
    );
    let logout = a.post("/auth/logout", Some(&access), None).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let logged_out = Instant::now();
    let mut logout_seen_after = None;
    while logged_out.elapsed() < LOGOUT_HONOURED_WITHIN * 3 {
        let asked_at = logged_out.elapsed();
        if b.me(&access).await == StatusCode::UNAUTHORIZED {
            logout_seen_after = Some(asked_at);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let observed = std::mem::take(&mut *observed.lock().unwrap());
    let mut times: Vec<Instant> = observed.registered.iter().map(|(_, at)| *at).collect();
    times.sort();
    let longest_gap = times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    let after_switch = times.iter().filter(|at| **at > switch_done).count();

    let primary = cluster.connect_to(&database).await;
    let primary_after = answer(&primary, "SELECT inet_server_port()::text").await;
    let stored: std::collections::HashSet<String> = primary
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT email FROM users",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    let lost: Vec<&String> = observed
        .registered
        .iter()
        .map(|(email, _)| email)
        .filter(|email| !stored.contains(*email))
        .collect();
    drop(primary);

    let figures = format!(
        "failover: primary port {primary_before} -> {primary_after}; the switch took {:.1} s; \
         registrations acknowledged {} ({after_switch} after the switch), lost {}; \
         longest gap between acknowledged writes {:.2} s; answers {}, 503s {}, wrong {}; \
         logout refused by the other instance after {}",
        (switch_done - switch_started).as_secs_f64(),
        observed.registered.len(),
        lost.len(),
        longest_gap.as_secs_f64(),
        observed.answers,
        observed.unavailable,
        observed.wrong.len(),
        logout_seen_after.map_or("never".to_owned(), |after| format!("{after:?}")),
    );
    std::fs::write(&figures_path, format!("{figures}\n")).unwrap();
    eprintln!("{figures} (server log: {})", log_path.display());

    assert_ne!(primary_before, primary_after, "the primary moved");
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    assert!(
        observed.wrong.is_empty(),
        "answers other than success or 503 with Retry-After: {:?}",
        observed.wrong
    );
    assert!(
        after_switch > 0,
        "no write was acknowledged after the switch"
    );
    assert!(
        longest_gap < WRITES_RESUME_WITHIN,
        "writes stopped for {longest_gap:?}"
    );
    let seen = logout_seen_after.expect("the other instance never refused the logged-out session");
    assert!(
        seen <= LOGOUT_HONOURED_WITHIN,
        "the logout was honoured only after {seen:?}"
    );

    let maintenance = cluster.connect_to("postgres").await;
    let _ = maintenance
        .execute_unprepared(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await;
}

/// One client's loop until `stop`: register a new account, log in, refresh, ask
/// `/users/me`; after a 503 it starts over with a new account.
async fn load(
    server: Arc<GatehouseProcess>,
    client: usize,
    observed: Arc<Mutex<Observed>>,
    stop: Arc<AtomicBool>,
) {
    let mut round = 0;
    while !stop.load(Ordering::Acquire) {
        round += 1;
        let email = format!(
            "load-{client}-{round}-{}@example.com",
            uuid::Uuid::new_v4().simple()
        );
        let credentials = json!({"email": email, "password": PASSWORD});
        let register = server
            .client
            .post(server.url("/auth/register"))
            .json(&credentials);
        if expect(&observed, "register", register, StatusCode::CREATED)
            .await
            .is_none()
        {
            continue;
        }
        observed
            .lock()
            .unwrap()
            .registered
            .push((email.clone(), Instant::now()));
        let login = server
            .client
            .post(server.url("/auth/login"))
            .json(&credentials);
        let Some(tokens) = expect(&observed, "login", login, StatusCode::OK).await else {
            continue;
        };
        let refresh = server
            .client
            .post(server.url("/auth/refresh"))
            .bearer_auth(tokens["refresh_token"].as_str().unwrap_or_default());
        let Some(tokens) = expect(&observed, "refresh", refresh, StatusCode::OK).await else {
            continue;
        };
        let me = server
            .client
            .get(server.url("/users/me"))
            .bearer_auth(tokens["access_token"].as_str().unwrap_or_default());
        expect(&observed, "me", me, StatusCode::OK).await;
    }
}

/// Sends `request`: its JSON body when it answers `success`; `None` after a 503 (counted)
/// or anything else (recorded as wrong).
async fn expect(
    observed: &Mutex<Observed>,
    what: &str,
    request: reqwest::RequestBuilder,
    success: StatusCode,
) -> Option<Value> {
    let outcome = request.send().await;
    let observed_now = |wrong: Option<String>, unavailable: bool| {
        let mut observed = observed.lock().unwrap();
        observed.answers += 1;
        if unavailable {
            observed.unavailable += 1;
        }
        if let Some(wrong) = wrong {
            observed.wrong.push(wrong);
        }
    };
    match outcome {
        Ok(response) if response.status() == success => {
            observed_now(None, false);
            Some(response.json().await.unwrap_or(Value::Null))
        }
        Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE => {
            let retry_after = response.headers().contains_key("retry-after");
            observed_now(
                (!retry_after).then(|| format!("{what}: 503 without Retry-After")),
                true,
            );
            None
        }
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            observed_now(Some(format!("{what}: {status} {body}")), false);
            None
        }
        Err(error) => {
            observed_now(Some(format!("{what}: no answer ({error})")), false);
            None
        }
    }
}
