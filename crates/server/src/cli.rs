//! Command line: `gatehouse [serve]`, `gatehouse migrate up|down|status|fresh`.

use clap::{Parser, Subcommand};

/// Gatehouse authentication server.
///
/// Configuration comes from environment variables and an optional `.env` file in the
/// working directory; see `.env.example`.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Exit 0 if the server on APP_HOST:APP_PORT answers /health (for container health
    /// checks).
    Healthcheck,
    /// Manage the database schema.
    Migrate {
        /// Which migration action.
        #[command(subcommand)]
        action: MigrateAction,
    },
}

/// Migration actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the newest migrations.
    Down {
        /// How many to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table and apply all migrations again (destroys all data).
    Fresh,
}
