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
