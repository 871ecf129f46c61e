//! Command line: `gatehouse [serve]`, `gatehouse migrate up|down|status|fresh`,
//! `gatehouse users create|set-password|deactivate`, `gatehouse import-starter`,
//! `gatehouse audit export`.

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
    /// Copy the Python starter's accounts (its Postgres `users` table) into this database,
    /// keeping their password hashes. Safe to run again: accounts already here are counted,
    /// not copied twice.
    ImportStarter {
        /// The starter's database, e.g. postgresql+asyncpg://postgres:postgres@localhost:5432/app
        #[arg(long = "from", value_name = "URL")]
        from: String,
        /// Rows read per query and written per statement (memory stays bounded by this;
        /// larger batches mean fewer round trips).
        #[arg(long, default_value_t = 4000)]
        batch_size: u32,
    },
    /// Session housekeeping.
    Sessions {
        /// Which session action.
        #[command(subcommand)]
        action: SessionsAction,
    },
    /// Read the audit log.
    Audit {
        /// Which audit action.
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Register the apps that sign their users in through gatehouse (OpenID Connect
    /// clients). Secrets are printed once and stored only as a hash.
    Clients {
        /// Which client action.
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// The managed signing keys (SIGNING_KEYS=managed): list them, or make a new one
    /// that signs after KEY_PUBLISH_AHEAD_MIN.
    Keys {
        /// Which key action.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Make, list and delete roles (grant them with `users grant`).
    Roles {
        /// Which role action.
        #[command(subcommand)]
        action: RolesAction,
    },
    /// Manage accounts when the API is out of reach. Passwords are read from the first
    /// line of standard input (without echo on a terminal), never from arguments.
    Users {
        /// Which account action.
        #[command(subcommand)]
        action: UsersAction,
    },
}

/// Session actions.
#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    /// Delete sessions that expired or were revoked more than SESSION_RETENTION_DAYS ago
    /// (the server also does this every PURGE_INTERVAL_MIN).
    Purge,
}

/// Audit-log actions.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Write events as JSON lines to stdout, oldest first (each line as
    /// `GET /audit-events` shows an item). Progress goes to stderr when it is a terminal.
    Export {
        /// Only events at or after this RFC 3339 time.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events before this RFC 3339 time.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
}

fn parse_time(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|_| format!("{raw:?} is not an RFC 3339 time (like 2026-11-30T12:00:00Z)"))
}

/// Account actions.
#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Create an account (the registration rules apply).
    Create {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// Make it a superuser (administrator).
        #[arg(long)]
        superuser: bool,
    },
    /// Set a new password; the account's sessions end.
    SetPassword {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
    /// Deactivate an account; its sessions end.
    Deactivate {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
    /// Remove an account's second factors (for a user who lost them); its sessions end.
    ResetMfa {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
    /// Give an account a role; its tokens carry it from their next refresh.
    Grant {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// The role's name.
        role: String,
    },
    /// Take a role from an account; its tokens lose it from their next refresh.
    Revoke {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// The role's name.
        role: String,
    },
}

/// Signing key actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Every key, oldest first: a line each with its kid, algorithm, state and dates.
    List,
    /// Make a new key `next`: published in the JWK set at once, it signs from
    /// KEY_PUBLISH_AHEAD_MIN on, and the current key retires then.
    Rotate,
}

/// Role actions.
#[derive(Debug, Subcommand)]
pub enum RolesAction {
    /// Every role, by name: a line each with its name, members and description.
    List,
    /// Make a role.
    Create {
        /// 1–64 characters of a-z, 0-9, _ . : -
        name: String,
        /// What the role is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a role: every account holding it loses it.
    Delete {
        /// The role's name.
        name: String,
    },
}

/// Client actions. Each prints JSON on one line.
#[derive(Debug, Subcommand)]
pub enum ClientsAction {
    /// Register a client: prints it with its `client_secret` (shown this once).
    Create {
        /// Its name, shown on the consent page.
        #[arg(long)]
        name: String,
        /// Where codes may be sent (exactly this URI); repeat for several.
        #[arg(long = "redirect-uri", value_name = "URI", required = true)]
        redirect_uris: Vec<String>,
        /// Where the browser may go after signing out through the client; repeatable.
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (a browser or mobile app): no secret, PKCE alone.
        #[arg(long)]
        public: bool,
        /// A first-party client: no consent page.
        #[arg(long)]
        first_party: bool,
        /// Also allow the client_credentials grant (confidential clients only).
        #[arg(long)]
        client_credentials: bool,
    },
    /// Every client, oldest first (secrets are never shown again).
    List,
    /// Delete a client.
    Delete {
        /// The client's id.
        id: String,
    },
    /// A new secret for a confidential client (the old one stops working): prints it.
    RotateSecret {
        /// The client's id.
        id: String,
    },
}

/// Migration actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply the pending migrations (every one, or the oldest `--steps`).
    Up {
        /// How many to apply; all when omitted.
        #[arg(long)]
        steps: Option<u32>,
    },
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
