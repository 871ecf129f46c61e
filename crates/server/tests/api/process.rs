//! The `gatehouse` binary as its own process, for tests that need what the in-process app
//! cannot give: two instances side by side, a server that outlives its database.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TEST_SECRET};

/// A gatehouse process, killed when dropped.
pub struct GatehouseProcess {
    child: Child,
    base: String,
    pub client: reqwest::Client,
}

impl GatehouseProcess {
    /// Starts the binary on a free port with cheap argon2 and the given settings on top,
    /// and waits until `/health` answers.
    pub async fn start(database_url: &str, settings: &[(&str, &str)]) -> Self {
        Self::start_with_log(database_url, settings, Stdio::null()).await
    }

    /// [`start`](Self::start), with the process's log (its stderr) going to `log`.
    pub async fn start_with_log(
        database_url: &str,
        settings: &[(&str, &str)],
        log: impl Into<Stdio>,
    ) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let port_text = port.to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .current_dir(std::env::temp_dir())
            .envs([
                ("APP_PORT", port_text.as_str()),
                ("APP_WORKERS", "1"),
                ("DATABASE_URL", database_url),
                ("JWT_SECRET_KEY", TEST_SECRET),
                ("ARGON2_MEMORY_KIB", "1024"),
                ("ARGON2_ITERATIONS", "1"),
                ("ARGON2_PARALLELISM", "1"),
                ("RUST_LOG", "off"),
            ])
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let process = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(response) = process.client.get(process.url("/health")).send().await
                && response.status() == StatusCode::OK
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gatehouse on port {port} did not start");
    }

    /// A memory figure of the process from `/proc/<pid>/status` in KiB: `VmRSS` (resident
    /// now) or `VmHWM` (the peak).
    pub fn resident_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in {status}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(
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

    pub async fn register(&self, email: &str) -> reqwest::Response {
        self.post(
            "/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await
    }

    pub async fn login(&self, email: &str) -> reqwest::Response {
        self.post(
            "/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await
    }

    pub async fn me(&self, access: &str) -> StatusCode {
        self.client
            .get(self.url("/users/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status()
    }
}

impl Drop for GatehouseProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
