//! `gatehouse users …` against the same database a running server uses.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, NEW_PASSWORD, PASSWORD, TestApp, assert_problem, spawn_app};

backend_tests!(
    a_user_created_on_the_command_line_logs_in_over_http,
    command_line_errors_are_one_clear_line_and_change_nothing,
    set_password_and_deactivate_end_the_sessions,
    sessions_purge_reports_what_it_deleted,
);

async fn sessions_purge_reports_what_it_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, tokens) = app.logged_in_user().await;
    let output = app.command(&["sessions", "purge"], "");
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("purged 0 session(s) that ended more than 30 day(s) ago"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        app.me(&tokens.access).await.status(),
        StatusCode::OK,
        "live sessions stay"
    );
}

impl TestApp {
    /// Runs `gatehouse users <args>` on the app's database with `stdin` as input.
    pub(crate) fn users_command(&self, args: &[&str], stdin: &str) -> Output {
        let mut full = vec!["users"];
        full.extend_from_slice(args);
        self.command(&full, stdin)
    }

    /// Runs `gatehouse <args>` on the app's database with `stdin` as input.
    pub(crate) fn command(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", self.database_url())
            .env("RUST_LOG", "off")
            .env("ARGON2_MEMORY_KIB", "1024")
            .env("ARGON2_ITERATIONS", "1")
            .env("ARGON2_PARALLELISM", "1")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A failure with exactly one line on stderr, containing `expected`.
fn assert_one_line_error(output: &Output, expected: &str) {
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
}

async fn a_user_created_on_the_command_line_logs_in_over_http(backend: Backend) {
    let app = spawn_app(backend).await;
    let output = app.users_command(
        &["create", "--email", "Admin@Example.com", "--superuser"],
        &format!("{PASSWORD}\n"),
    );
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("created superuser admin@example.com"));
    let response = app.login("admin@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let me: Value = app
        .me(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_superuser"], true);

    let output = app.users_command(&["create", "--email", "plain@example.com"], PASSWORD);
    assert!(
        output.status.success(),
        "no trailing newline needed: {output:?}"
    );
    assert_eq!(
        app.login("plain@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn command_line_errors_are_one_clear_line_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (taken, _) = app.registered_user().await;
    for (args, stdin, expected) in [
        (
            vec!["create", "--email", "weak@example.com"],
            "short\n",
            "password",
        ),
        (
            vec!["create", "--email", "weak@example.com"],
            "password123\n",
            "too common",
        ),
        (
            vec!["create", "--email", "not-an-email"],
            "YourStrongPassw0rd!\n",
            "email",
        ),
        (
            vec!["create", "--email", "empty@example.com"],
            "",
            "no password given",
        ),
        (
            vec!["create", "--email", taken.as_str()],
            "YourStrongPassw0rd!\n",
            "email already registered",
        ),
        (
            vec!["set-password", "--email", "ghost@example.com"],
            "YourStrongPassw0rd!\n",
            "no account",
        ),
        (
            vec!["deactivate", "--email", "ghost@example.com"],
            "",
            "no account",
        ),
    ] {
        let output = app.users_command(&args, stdin);
        assert_one_line_error(&output, expected);
    }
    assert_problem(
        app.login("weak@example.com", "short").await,
        401,
        Some("Invalid credentials"),
    )
    .await;
}

async fn set_password_and_deactivate_end_the_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, tokens) = app.logged_in_user().await;
    let output = app.users_command(&["set-password", "--email", &email], "An0ther-Strong-One\n");
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("1 session(s) ended"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        app.me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    let output = app.users_command(&["deactivate", "--email", &email], "");
    assert!(output.status.success(), "{output:?}");
    assert_problem(
        app.login(&email, NEW_PASSWORD).await,
        403,
        Some("Inactive user"),
    )
    .await;
}
