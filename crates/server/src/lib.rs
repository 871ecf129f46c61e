//! The `gatehouse` binary's library half: settings, telemetry, startup and the command
//! line, kept here so the integration tests build the very same application.

pub mod audit_export;
pub mod cli;
pub mod clients_cli;
pub mod database;
pub mod healthcheck;
pub mod import_starter;
pub mod keys_cli;
pub mod roles_cli;
pub mod settings;
mod signing_keys;
pub mod startup;
pub mod telemetry;
pub mod users_cli;

pub use settings::Settings;
pub use startup::Application;
