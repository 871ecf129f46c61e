//! Integration tests over real HTTP against real databases.
//!
//! Every test runs against SQLite (a fresh file each), and also against Postgres when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set and MySQL/MariaDB when `GATEHOUSE_TEST_MYSQL_URL`
//! is set (each test gets its own database, dropped afterwards). A set variable makes
//! that backend mandatory: an unreachable server fails the tests.

// Test helpers panic on purpose: a failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod helpers;

mod accounts;
mod admin;
mod admin_in_chromium;
mod admin_page_changes;
mod admin_page_refusals;
mod admin_pages;
mod admin_pages_apps;
mod audit;
mod audit_export;
mod browsers;
mod chromium;
mod cli;
mod clients_cli;
mod connection_resets;
mod credential_changes;
mod database_hosts;
mod failover;
mod federation;
mod federation_attacks;
mod fourth_review;
mod import_starter;
mod key_rotation;
mod login;
mod me;
mod mfa;
mod migration_lock;
mod oauth_clients;
mod oidc_provider;
mod operations;
mod outage;
mod pages;
mod pages_in_chromium;
mod pages_passkeys;
mod passkeys;
mod process;
mod provider_account;
mod provider_authorize;
mod provider_in_chromium;
mod provider_review;
mod provider_rp;
mod provider_tokens;
mod rate_limits;
mod refresh;
mod refresh_rule;
mod register;
mod repositories;
mod roles;
mod roles_cli;
mod session_cache;
mod sessions;
mod signing;
mod signing_keys;
mod skips;
mod smtp_sink;
mod soft_passkey;
mod two_instances;
mod users_cli;
