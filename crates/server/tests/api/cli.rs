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
    let before = run(&["migrate", "status"]);
    assert_eq!(before.matches("Pending").count(), 2, "{before}");
    run(&["migrate", "up"]);
    let after = run(&["migrate", "status"]);
    assert_eq!(after.matches("Applied").count(), 2, "{after}");
    run(&["migrate", "down", "--steps", "1"]);
    let rolled_back = run(&["migrate", "status"]);
    assert_eq!(
        (
            rolled_back.matches("Applied").count(),
            rolled_back.matches("Pending").count()
        ),
        (1, 1),
        "{rolled_back}"
    );
    run(&["migrate", "fresh"]);
    assert_eq!(run(&["migrate", "status"]).matches("Applied").count(), 2);
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

#[test]
fn healthcheck_passes_against_a_running_server_which_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("gatehouse-hc-{}", uuid::Uuid::new_v4().simple()));
    let port = {
        // Ask the OS for a free port, then release it for the server.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let mut server = gatehouse()
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
        .spawn()
        .unwrap();
    let healthy = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        gatehouse()
            .env("APP_PORT", &port)
            .env("APP_HOST", "0.0.0.0")
            .arg("healthcheck")
            .status()
            .unwrap()
            .success()
    });
    // SIGTERM: the server drains and exits cleanly.
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let exit = server.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    assert!(healthy, "healthcheck never passed");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}
