//! `gatehouse import-starter`: the Python starter's table, with real pwdlib hashes, in a
//! scratch Postgres database, imported twice into each backend, then logged in over HTTP.

use std::process::{Command, Output};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestDatabase, assert_problem, spawn_app};

backend_tests!(the_starters_users_are_imported_once_and_log_in_with_their_old_passwords);

/// The vectors made by the starter's own libraries: password, PHC hash.
const PYTHON_HASHES: &str = include_str!("../../../auth/tests/fixtures/argon2-vectors.txt");

/// The table as SQLAlchemy creates it from the starter's `User` model.
const STARTER_SCHEMA: &str = "CREATE TABLE users (
    id SERIAL NOT NULL,
    email VARCHAR(255) NOT NULL,
    hashed_password VARCHAR(255) NOT NULL,
    is_active BOOLEAN NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_users_email ON users (email);";

/// A hash whose cost would hold a hashing slot for seconds at every login (t=3000).
const COSTLY_HASH: &str =
    "$argon2id$v=19$m=8,t=3000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

fn vectors() -> Vec<(String, String)> {
    PYTHON_HASHES
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (password, hash) = line.split_once('\t').unwrap();
            (password.to_owned(), hash.to_owned())
        })
        .collect()
}

fn import(app: &TestApp, from: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", app.database_url())
        .env("RUST_LOG", "off")
        .args(["import-starter", "--from", from, "--batch-size", "2"])
        .output()
        .unwrap()
}

async fn the_starters_users_are_imported_once_and_log_in_with_their_old_passwords(
    backend: Backend,
) {
    let Some(Backend::Postgres(admin_url)) = Backend::postgres() else {
        return;
    };
    let app = spawn_app(backend).await;
    let starter = TestDatabase::create(&Backend::Postgres(admin_url)).await;
    let source = Database::connect(starter.url.as_str()).await.unwrap();
    source.execute_unprepared(STARTER_SCHEMA).await.unwrap();
    let vectors = vectors();
    for (n, (_, hash)) in vectors.iter().enumerate() {
        source
            .execute_unprepared(&format!(
                "INSERT INTO users (email, hashed_password, is_active, created_at) VALUES \
                 ('Person{n}@Starter.test', '{hash}', true, '2024-01-02T03:04:0{n}Z')"
            ))
            .await
            .unwrap();
    }
    let (taken, _) = app.registered_user().await;
    let (password, hash) = &vectors[0];
    let other_hash = &vectors[1].1;
    source
        .execute_unprepared(&format!(
            "INSERT INTO users (email, hashed_password, is_active) VALUES \
             ('retired@starter.test', '{hash}', false), \
             ('not-an-email', '{hash}', true), \
             ('{taken}', '{other_hash}', true), \
             ('bcrypt@starter.test', '$2b$12$abcdefghijklmnopqrstuu5y0PbZrVd5G6u0dZHEXjkkDpSfcVdOa', true), \
             ('costly@starter.test', '{COSTLY_HASH}', true)"
        ))
        .await
        .unwrap();
    // Two spellings of one address (accounts are lower-cased here), side by side in one
    // batch of two, with different hashes: the first comes in, the second is a clash
    // found within the batch, not by the database.
    let rows_so_far = vectors.len() + 5;
    let filler = rows_so_far % 2 == 1;
    if filler {
        source
            .execute_unprepared(&format!(
                "INSERT INTO users (email, hashed_password, is_active) VALUES \
                 ('filler@starter.test', '{hash}', true)"
            ))
            .await
            .unwrap();
    }
    source
        .execute_unprepared(&format!(
            "INSERT INTO users (email, hashed_password, is_active) VALUES \
             ('Twin@Starter.test', '{hash}', true), ('twin@starter.test', '{other_hash}', true)"
        ))
        .await
        .unwrap();
    // The URL as the starter's .env spells it.
    let from = starter
        .url
        .replacen("postgres://", "postgresql+asyncpg://", 1);

    let first = import(&app, &from);
    let report = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{first:?}");
    let imported = vectors.len() + 2 + usize::from(filler);
    assert!(
        report.contains(&format!(
            "imported {imported}, already present 0, skipped 5"
        )),
        "{report}"
    );
    for skipped in [
        "not-an-email: invalid email",
        &format!("{taken}: email already registered"),
        "bcrypt@starter.test: not an argon2",
        "costly@starter.test: argon2 cost above the limit",
        "twin@starter.test: email already registered here with another password",
    ] {
        assert!(
            report.contains(&format!("skipped {skipped}")),
            "{skipped}: {report}"
        );
    }
    let second = import(&app, &from);
    let report = String::from_utf8_lossy(&second.stdout);
    assert!(
        report.contains(&format!(
            "imported 0, already present {imported}, skipped 5"
        )),
        "{report}"
    );

    for (n, (password, _)) in vectors.iter().enumerate() {
        let response = app
            .login(&format!("person{n}@starter.test"), password)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "vector {n}");
        let tokens: Value = response.json().await.unwrap();
        let me: Value = app
            .me(tokens["access_token"].as_str().unwrap())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["created_at"], format!("2024-01-02T03:04:0{n}Z"));
    }
    assert_problem(
        app.login("retired@starter.test", password).await,
        403,
        Some("Inactive user"),
    )
    .await;
    // The address registered here keeps its own password, not the starter's.
    assert_problem(
        app.login(&taken, &vectors[1].0).await,
        401,
        Some("Invalid credentials"),
    )
    .await;
    source.close().await.unwrap();
}
