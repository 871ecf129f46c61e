//! Where data goes: the database and the mail transport.

use std::time::Duration;

use gatehouse_mail::{MailConfig, MailTransport};
use gatehouse_persistence::{BYTES_PER_SESSION, DatabaseConfig};

use super::{AppEnv, Raw, SettingsError};

/// The largest session cache budget taken (16 GiB: 33 million sessions), against a typo
/// that would let the cache take the machine.
const MAX_SESSION_CACHE_MEMORY_MB: usize = 16_384;

/// How many mails may wait to be sent before new ones are dropped.
const MAIL_QUEUE_CAPACITY: usize = 256;

impl Raw {
    pub(super) fn database(&self) -> Result<DatabaseConfig, SettingsError> {
        let database = DatabaseConfig {
            url: self.database_url.trim().to_owned(),
            max_connections: self.database_max_connections,
            min_connections: self
                .database_min_connections
                .unwrap_or(self.database_max_connections),
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_s),
        };
        if database.kind().is_none() {
            return Err(SettingsError::new(
                "DATABASE_URL",
                "expected a sqlite://, postgres:// (or postgresql+asyncpg://) or mysql:// URL",
            ));
        }
        if let Some(reason) = database.host_list_error() {
            return Err(SettingsError::new("DATABASE_URL", reason));
        }
        if database.max_connections == 0 {
            return Err(SettingsError::new(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        if database.min_connections > database.max_connections {
            return Err(SettingsError::new(
                "DATABASE_MIN_CONNECTIONS",
                "must be at most DATABASE_MAX_CONNECTIONS",
            ));
        }
        if self.database_acquire_timeout_s == 0 {
            return Err(SettingsError::new(
                "DATABASE_ACQUIRE_TIMEOUT_S",
                "must be at least 1",
            ));
        }
        Ok(database)
    }

    /// `SESSION_CACHE_SIZE` when set, else as many sessions as `SESSION_CACHE_MEMORY_MB`
    /// holds at [`BYTES_PER_SESSION`] each (64 MiB: 131,072).
    pub(super) fn session_cache_size(&self) -> Result<usize, SettingsError> {
        if self.session_cache_memory_mb > MAX_SESSION_CACHE_MEMORY_MB {
            return Err(SettingsError::new(
                "SESSION_CACHE_MEMORY_MB",
                format!("must be at most {MAX_SESSION_CACHE_MEMORY_MB} (MiB)"),
            ));
        }
        Ok(self.session_cache_size.unwrap_or_else(|| {
            self.session_cache_memory_mb.saturating_mul(1 << 20) / BYTES_PER_SESSION
        }))
    }

    pub(super) fn mail(&self, app_env: AppEnv) -> Result<MailConfig, SettingsError> {
        let transport = MailTransport::parse(&self.mail_transport).ok_or_else(|| {
            SettingsError::new(
                "MAIL_TRANSPORT",
                "expected log, file:<directory>, smtp://user:pass@host:port or smtps://…",
            )
        })?;
        if app_env == AppEnv::Production && transport == MailTransport::Log {
            return Err(SettingsError::new(
                "MAIL_TRANSPORT",
                "log writes reset links to the log; set smtp://… or smtps://… when APP_ENV=production",
            ));
        }
        if !self.mail_from.contains('@') {
            return Err(SettingsError::new(
                "MAIL_FROM",
                format!("{:?} is not an address", self.mail_from),
            ));
        }
        Ok(MailConfig {
            transport,
            from: self.mail_from.clone(),
            queue_capacity: MAIL_QUEUE_CAPACITY,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::{Settings, SettingsError};

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let environment = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Settings::from_layers(HashMap::new(), environment)
    }

    #[test]
    fn the_pool_opens_all_its_connections_at_start_unless_told_fewer() {
        let settings = load(&[("DATABASE_MAX_CONNECTIONS", "12")]).unwrap();
        assert_eq!(settings.database.min_connections, 12);
        let settings = load(&[("DATABASE_MIN_CONNECTIONS", "2")]).unwrap();
        assert_eq!(
            (
                settings.database.min_connections,
                settings.database.max_connections
            ),
            (2, 16)
        );
        let error = load(&[
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("DATABASE_MIN_CONNECTIONS", "5"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "DATABASE_MIN_CONNECTIONS");
    }

    #[test]
    fn the_session_cache_holds_what_its_memory_budget_allows_unless_given_a_count() {
        assert_eq!(load(&[]).unwrap().session_cache_size, 131_072, "64 MiB");
        let budget = load(&[("SESSION_CACHE_MEMORY_MB", "1")]).unwrap();
        assert_eq!(budget.session_cache_size, 2_048);
        let off = load(&[("SESSION_CACHE_MEMORY_MB", "0")]).unwrap();
        assert_eq!(off.session_cache_size, 0);
        let counted = load(&[
            ("SESSION_CACHE_SIZE", "500"),
            ("SESSION_CACHE_MEMORY_MB", "1"),
        ])
        .unwrap();
        assert_eq!(counted.session_cache_size, 500, "a count wins");
        let error = load(&[("SESSION_CACHE_MEMORY_MB", "16385")]).unwrap_err();
        assert_eq!(error.variable, "SESSION_CACHE_MEMORY_MB");
    }

    #[test]
    fn a_postgres_host_list_is_read_and_a_bad_one_is_named() {
        let listed = "postgres://u@h1:5432,h2:5433/app?target_session_attrs=read-write";
        let settings = load(&[("DATABASE_URL", listed)]).unwrap();
        assert_eq!(settings.database.url, listed);
        for bad in [
            "postgres://u@h1,h2/app?target_session_attrs=read-only",
            "postgres://u@h1,h2:port/app",
        ] {
            let error = load(&[("DATABASE_URL", bad)]).unwrap_err();
            assert_eq!(error.variable, "DATABASE_URL", "{bad}");
        }
    }
}
