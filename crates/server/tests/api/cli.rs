//! The binary itself: flags, configuration errors, migrations.

use std::process::Command;

fn gatehouse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    // Run in an empty directory so no developer `.env` leaks in.
    let dir = std::env::temp_dir().join(format!("gatehouse-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    command.current_dir(dir).env("NO_COLOR", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("APP_") || name.starts_with("JWT_") || name.starts_with("DATABASE_") {
            command.env_remove(name);
        }
    }
    command
}

#[test]
fn version_and_help_are_printed() {
    let version = gatehouse().arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = gatehouse().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("serve") && text.contains("migrate"), "{text}");
}

#[test]
fn a_bad_setting_exits_non_zero_with_one_line_naming_it() {
    for (variable, value) in [
        ("APP_PORT", "eighty"),
        ("JWT_ALGORITHM", "none"),
        ("DATABASE_URL", "ftp://x"),
    ] {
        let output = gatehouse()
            .env(variable, value)
            .arg("migrate")
            .arg("status")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_public_key_that_does_not_fit_the_private_key_stops_the_start_with_one_line() {
    let keys = format!("{}/tests/fixtures/keys", env!("CARGO_MANIFEST_DIR"));
    let output = gatehouse()
        .env("JWT_ALGORITHM", "EdDSA")
        .env("JWT_PRIVATE_KEY_FILE", format!("{keys}/eddsa-private.pem"))
        .env(
            "JWT_PUBLIC_KEY_FILE",
            format!("{keys}/eddsa-other-public.pem"),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("JWT_PUBLIC_KEY_FILE") && stderr.contains("does not match"),
        "{stderr}"
    );
}

#[test]
fn a_provider_key_file_that_is_no_private_key_is_one_line_naming_the_variable() {
    let public = format!(
        "{}/tests/fixtures/keys/es256-public.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = gatehouse()
        .env("OIDC_SIGNING_KEY_FILE", &public)
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("OIDC_SIGNING_KEY_FILE") && stderr.contains("not a private key"),
        "{stderr}"
    );
}

#[test]
fn production_without_a_secret_refuses_to_start() {
    let output = gatehouse().env("APP_ENV", "production").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET_KEY"), "{stderr}");
}

#[test]
fn an_unreachable_database_is_one_clear_line() {
    let output = gatehouse()
        .env(
            "DATABASE_URL",
            "postgresql+asyncpg://postgres:secret-pw@127.0.0.1:1/app",
        )
        .env("DATABASE_ACQUIRE_TIMEOUT_S", "2")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot connect to the database"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-pw"), "password leaked: {stderr}");
}

#[test]
fn migrate_up_status_down_and_fresh_work_on_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-migrate-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}/app.db?mode=rwc", dir.display());
    let run = |args: &[&str]| {
        let output = gatehouse()
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "off")
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let migrations = {
        use migration::MigratorTrait;
        migration::Migrator::migrations().len()
    };
    let before = run(&["migrate", "status"]);
    assert_eq!(before.matches("Pending").count(), migrations, "{before}");
    run(&["migrate", "up", "--steps", "2"]);
    let first_two = run(&["migrate", "status"]);
    assert_eq!(first_two.matches("Applied").count(), 2, "{first_two}");
    run(&["migrate", "up"]);
    let after = run(&["migrate", "status"]);
    assert_eq!(after.matches("Applied").count(), migrations, "{after}");
    run(&["migrate", "down", "--steps", "1"]);
    let rolled_back = run(&["migrate", "status"]);
    assert_eq!(
        (
            rolled_back.matches("Applied").count(),
            rolled_back.matches("Pending").count()
        ),
        (migrations - 1, 1),
        "{rolled_back}"
    );
    run(&["migrate", "fresh"]);
    assert_eq!(
        run(&["migrate", "status"]).matches("Applied").count(),
        migrations
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let output = gatehouse()
        .env("APP_PORT", "1")
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr)
            .trim()
            .lines()
            .count(),
        1
    );
}

/// A server process on a free port with a fresh SQLite file; killed by the caller.
struct ServerProcess {
    child: std::process::Child,
    port: String,
    dir: std::path::PathBuf,
}

impl ServerProcess {
    fn start(extra_env: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("gatehouse-proc-{}", uuid::Uuid::new_v4().simple()));
        let port = {
            // Ask the OS for a free port, then release it for the server.
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port().to_string()
        };
        let mut command = gatehouse();
        command
            .env("APP_PORT", &port)
            .env("APP_HOST", "0.0.0.0")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/app.db?mode=rwc", dir.display()),
            )
            .env("ARGON2_MEMORY_KIB", "1024")
            .env("ARGON2_ITERATIONS", "1")
            .env("ARGON2_PARALLELISM", "1")
            .env("RUST_LOG", "off")
            .stderr(std::process::Stdio::piped());
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap();
        Self { child, port, dir }
    }

    fn healthcheck(&self) -> bool {
        gatehouse()
            .env("APP_PORT", &self.port)
            .env("APP_HOST", "0.0.0.0")
            .arg("healthcheck")
            .status()
            .unwrap()
            .success()
    }

    fn wait_until_healthy(&self) -> bool {
        (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            self.healthcheck()
        })
    }

    /// Sends SIGTERM and returns the exit status and everything logged.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let status = self.child.wait().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        (status, stderr)
    }
}

#[test]
fn healthcheck_passes_against_a_running_server_which_stops_on_sigterm() {
    let server = ServerProcess::start(&[]);
    let healthy = server.wait_until_healthy();
    let (exit, _) = server.terminate();
    assert!(healthy, "healthcheck never passed");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

#[test]
fn json_logs_carry_the_request_id_on_every_line_of_a_request() {
    let server = ServerProcess::start(&[("LOG_FORMAT", "json"), ("RUST_LOG", "info")]);
    assert!(server.wait_until_healthy());
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{}", server.port)).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /users/me HTTP/1.0\r\nX-Request-Id: trace-me-42\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-request-id: trace-me-42"),
        "{answer}"
    );
    let (_, logs) = server.terminate();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let request_lines: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["span"]["path"] == "/users/me")
        .collect();
    assert!(!request_lines.is_empty(), "{logs}");
    for line in request_lines {
        assert_eq!(line["span"]["request_id"], "trace-me-42", "{line}");
    }
}

/// `/metrics` on the public port shows anyone the traffic: production says so at start.
#[test]
fn production_warns_at_start_when_metrics_share_the_public_port() {
    use std::io::{BufRead, BufReader};
    let warned = |metrics_addr: Option<&str>| {
        let dir =
            std::env::temp_dir().join(format!("gatehouse-prod-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = gatehouse();
        command
            .env("APP_ENV", "production")
            .env("JWT_SECRET_KEY", crate::helpers::TEST_SECRET)
            .env("MFA_ENCRYPTION_KEY", crate::helpers::TEST_MFA_KEY)
            .env("MAIL_TRANSPORT", format!("file:{}", dir.display()))
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/app.db?mode=rwc", dir.display()),
            )
            .env("APP_PORT", "0")
            .env("LOG_FORMAT", "text")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(addr) = metrics_addr {
            command.env("METRICS_ADDR", addr);
        }
        let mut child = command.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut warned = false;
        // Every start-up line comes before the one saying the server listens.
        for line in stderr.lines() {
            let line = line.unwrap();
            warned |= line.contains("METRICS_ADDR");
            if line.contains("listening") {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        warned
    };
    assert!(warned(None));
    assert!(!warned(Some("127.0.0.1:0")));
}
