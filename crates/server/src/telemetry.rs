//! Logging: `tracing` to stderr, as text or JSON lines. `RUST_LOG` overrides the level
//! chosen from `APP_DEBUG`.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt};

use crate::settings::LogFormat;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// which tests rely on.
pub fn init(format: LogFormat, debug: bool) {
    let default = if debug {
        "debug,sqlx=info,sea_orm=info,actix_server=info"
    } else {
        "info,sqlx=warn,sea_orm=warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal: escape codes in a log file or a collector
    // are noise, and formatting them costs time on every request line.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _already_installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
