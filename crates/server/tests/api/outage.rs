//! The database goes away under live traffic and comes back: the service answers 503
//! quickly while it is gone, says so on `/ready`, stays alive on `/health`, recovers by
//! itself, and loses no registration it acknowledged.
//!
//! The test owns its Postgres cluster (`initdb` and `pg_ctl` on a port and directory of
//! its own), so stopping it disturbs no other test.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::{helpers::Tokens, process::GatehouseProcess};

/// How long the server may wait for a connection before answering 503.
const ACQUIRE_TIMEOUT_S: u64 = 1;
/// What an answer during the outage may take at most: the acquire timeout plus slack for
/// a loaded CI machine.
const SLOWEST_ANSWER: Duration = Duration::from_secs(ACQUIRE_TIMEOUT_S + 3);

/// A Postgres cluster in a temporary directory, stopped and removed when dropped.
struct OwnedCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl OwnedCluster {
    /// `None` when this machine has no Postgres server binaries.
    fn create() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|version| version.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())?;
        let data = std::env::temp_dir().join(format!(
            "gatehouse-outage-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&data).unwrap();
        if running_as_root() {
            // Postgres refuses to run as root: the cluster belongs to `postgres`.
            run(Command::new("chown").arg("postgres:postgres").arg(&data));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { bin, data, port };
        run(cluster
            .command("initdb")
            .arg("-D")
            .arg(cluster.data.join("pgdata"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]));
        cluster.start();
        Some(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=40 \
             -c shared_buffers=16MB",
            self.port,
            self.data.display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data.join("pgdata"))
            .arg("-l")
            .arg(self.data.join("log"))
            .args(["-o", &options, "-w", "start"]));
    }

    /// Stops like a crash: no checkpoint, every connection cut.
    fn stop_immediately(&self) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data.join("pgdata"))
            .args(["-m", "immediate", "-w", "stop"]));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnedCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data.join("pgdata"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Asked once: every cluster command depends on it.
fn running_as_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        let output = Command::new("id").arg("-u").output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim() == "0"
    })
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the traffic saw, shared by the tasks that make it.
#[derive(Default)]
struct Observations {
    /// Emails whose registration was answered 201.
    acknowledged: Vec<String>,
    /// Answers by route and status.
    statuses: BTreeMap<(&'static str, u16), usize>,
    /// Anything but the expected statuses, with its body.
    unexpected: Vec<String>,
    slowest: Duration,
}

impl Observations {
    fn record(&mut self, route: &'static str, status: StatusCode, took: Duration) {
        *self.statuses.entry((route, status.as_u16())).or_default() += 1;
        self.slowest = self.slowest.max(took);
    }

    fn count(&self, route: &'static str, status: u16) -> usize {
        self.statuses.get(&(route, status)).copied().unwrap_or(0)
    }
}

/// Registers new accounts one after another until told to stop.
async fn register_until(
    server: Arc<GatehouseProcess>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Observations>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let email = format!("outage-{}@example.com", uuid::Uuid::new_v4().simple());
        let started = Instant::now();
        let response = server.register(&email).await;
        let status = response.status();
        let problem = is_problem(&response);
        let took = started.elapsed();
        {
            let mut seen = seen.lock().unwrap();
            seen.record("register", status, took);
            match status {
                StatusCode::CREATED => seen.acknowledged.push(email),
                StatusCode::SERVICE_UNAVAILABLE if problem => {}
                other => seen.unexpected.push(format!("register {other}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asks `/users/me` with one token until told to stop.
async fn ask_me_until(
    server: Arc<GatehouseProcess>,
    access: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Observations>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let response = server
            .client
            .get(server.url("/users/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let problem = is_problem(&response);
        {
            let mut seen = seen.lock().unwrap();
            seen.record("me", status, started.elapsed());
            match status {
                StatusCode::OK => {}
                // Never 401 (the token is fine) and never 500 (nothing is broken here).
                StatusCode::SERVICE_UNAVAILABLE if problem => {}
                other => seen.unexpected.push(format!("me {other}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn is_problem(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/problem+json"))
}

async fn status_of(server: &GatehouseProcess, path: &str) -> StatusCode {
    server
        .client
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .status()
}

/// Waits until `condition` holds, checking every 50 ms, for at most `limit`.
async fn eventually<F: AsyncFnMut() -> bool>(limit: Duration, what: &str, mut condition: F) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within {limit:?}: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_under_traffic_is_503_then_recovers_and_loses_nothing() {
    let Some(cluster) = OwnedCluster::create() else {
        eprintln!("skipped: no Postgres server binaries under /usr/lib/postgresql");
        return;
    };
    let timeout = ACQUIRE_TIMEOUT_S.to_string();
    let server = Arc::new(
        GatehouseProcess::start(
            &cluster.url(),
            &[
                ("DATABASE_ACQUIRE_TIMEOUT_S", timeout.as_str()),
                ("DATABASE_MAX_CONNECTIONS", "8"),
                ("RATE_LIMIT_ENABLED", "false"),
            ],
        )
        .await,
    );
    let first = "outage-first@example.com";
    assert_eq!(server.register(first).await.status(), StatusCode::CREATED);
    let login = server.login(first).await;
    assert_eq!(login.status(), StatusCode::OK);
    let tokens = Tokens::from_json(&login.json().await.unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Observations::default()));
    let mut traffic = Vec::new();
    for _ in 0..2 {
        traffic.push(tokio::spawn(register_until(
            server.clone(),
            stop.clone(),
            seen.clone(),
        )));
    }
    traffic.push(tokio::spawn(ask_me_until(
        server.clone(),
        tokens.access.clone(),
        stop.clone(),
        seen.clone(),
    )));

    let count = |route, status| seen.lock().unwrap().count(route, status);
    eventually(
        Duration::from_secs(10),
        "registrations before the outage",
        async || count("register", 201) >= 5,
    )
    .await;

    cluster.stop_immediately();
    eventually(
        Duration::from_secs(10),
        "/ready says not ready",
        async || status_of(&server, "/ready").await == StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(status_of(&server, "/health").await, StatusCode::OK);
    eventually(
        Duration::from_secs(15),
        "503s for both routes",
        async || count("register", 503) >= 3 && count("me", 503) >= 3,
    )
    .await;
    // The outage goes on a little longer under traffic, and liveness never wavers.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(status_of(&server, "/health").await, StatusCode::OK);

    cluster.start();
    eventually(
        Duration::from_secs(20),
        "/ready recovers by itself",
        async || status_of(&server, "/ready").await == StatusCode::OK,
    )
    .await;
    let (registered_before, me_before) = (count("register", 201), count("me", 200));
    eventually(
        Duration::from_secs(10),
        "traffic succeeds again",
        async || count("register", 201) > registered_before && count("me", 200) > me_before,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in traffic {
        task.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(seen.unexpected.is_empty(), "{:?}", seen.unexpected);
    assert!(
        seen.slowest <= SLOWEST_ANSWER,
        "slowest answer {:?}; statuses {:?}",
        seen.slowest,
        seen.statuses
    );
    // Every acknowledged registration is in the database after the crash and restart.
    let database = Database::connect(cluster.url()).await.unwrap();
    let stored: std::collections::HashSet<String> = database
        .query_all_raw(Statement::from_string(
            database.get_database_backend(),
            "SELECT email FROM users",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.try_get::<String>("", "email").unwrap())
        .collect();
    let lost: Vec<_> = seen
        .acknowledged
        .iter()
        .filter(|email| !stored.contains(*email))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(stored.contains(first));
}
