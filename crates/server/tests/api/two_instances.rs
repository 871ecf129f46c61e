//! Two gatehouse processes on one Postgres database and one Redis: what one decides, the
//! other knows at once.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TEST_SECRET, Tokens, spawn_app};

/// The Redis the rate-limit test shares (see `.ci/run`).
const REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// A gatehouse process, killed when dropped.
struct Instance {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Instance {
    async fn start(database_url: &str, app_name: &str, per_minute: u32) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .current_dir(std::env::temp_dir())
            .envs([
                ("APP_PORT", port.to_string().as_str()),
                ("APP_WORKERS", "1"),
                ("APP_NAME", app_name),
                ("DATABASE_URL", database_url),
                ("JWT_SECRET_KEY", TEST_SECRET),
                ("ARGON2_MEMORY_KIB", "1024"),
                ("ARGON2_ITERATIONS", "1"),
                ("ARGON2_PARALLELISM", "1"),
                ("RATE_LIMIT_STORE", REDIS_URL),
                ("RATE_LIMIT_LOGIN_PER_MIN", per_minute.to_string().as_str()),
                ("LOGIN_FAILURES_BEFORE_BACKOFF", "100"),
                ("RUST_LOG", "off"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let instance = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(response) = instance.client.get(instance.url("/health")).send().await
                && response.status() == StatusCode::OK
            {
                return instance;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("instance on port {port} did not start");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn login(&self, email: &str) -> reqwest::Response {
        self.post(
            "/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await
    }

    async fn me(&self, access: &str) -> StatusCode {
        self.client
            .get(self.url("/users/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn tokens(response: reqwest::Response) -> Tokens {
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_json(&response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_and_redis_act_as_one() {
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    // The in-process app only creates and migrates the shared database.
    let app = spawn_app(backend).await;
    let app_name = format!("two-instances-{}", uuid::Uuid::new_v4().simple());
    let a = Instance::start(app.database_url(), &app_name, 1000).await;
    let b = Instance::start(app.database_url(), &app_name, 1000).await;

    let email = format!("both-{}@example.com", uuid::Uuid::new_v4().simple());
    let registered = a
        .post(
            "/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    // A token from one instance works on the other; a logout on one is refused on the
    // other at once.
    let first = tokens(a.login(&email).await).await;
    assert_eq!(b.me(&first.access).await, StatusCode::OK);
    let logout = b.post("/auth/logout", Some(&first.refresh), None).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(a.me(&first.access).await, StatusCode::UNAUTHORIZED);

    // A refresh-token replay across instances is detected.
    let login = tokens(b.login(&email).await).await;
    let next = tokens(a.post("/auth/refresh", Some(&login.refresh), None).await).await;
    tokens(b.post("/auth/refresh", Some(&next.refresh), None).await).await;
    let replay = b.post("/auth/refresh", Some(&login.refresh), None).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(
        body["detail"],
        "Refresh token reuse detected; session revoked"
    );
    assert_eq!(a.me(&next.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_per_ip_budget_through_redis() {
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    let app = spawn_app(backend).await;
    // A name of its own, so no other test's counters are shared.
    let app_name = format!("shared-budget-{}", uuid::Uuid::new_v4().simple());
    let a = Instance::start(app.database_url(), &app_name, 4).await;
    let b = Instance::start(app.database_url(), &app_name, 4).await;
    // Alternate until both refuse. Counted per process, each would let 4 through (8 in
    // all); shared, 4 pass in all (5 if a slot refills during the run: one per 15 s).
    let mut passed = 0;
    let mut refused = [false, false];
    for attempt in 0..20 {
        let (index, instance) = if attempt % 2 == 0 { (0, &a) } else { (1, &b) };
        let response = instance.login("nobody@example.com").await;
        match response.status() {
            StatusCode::UNAUTHORIZED => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                refused[index] = true;
            }
            other => panic!("unexpected {other}"),
        }
        if refused == [true, true] {
            break;
        }
    }
    assert_eq!(refused, [true, true]);
    assert!((4..=5).contains(&passed), "{passed} passed");
}
