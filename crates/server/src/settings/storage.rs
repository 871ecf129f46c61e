//! Where data goes: the database and the mail transport.

use std::time::Duration;

use gatehouse_mail::{MailConfig, MailTransport};
use gatehouse_persistence::DatabaseConfig;

use super::{AppEnv, Raw, SettingsError};

/// How many mails may wait to be sent before new ones are dropped.
const MAIL_QUEUE_CAPACITY: usize = 256;

impl Raw {
    pub(super) fn database(&self) -> Result<DatabaseConfig, SettingsError> {
        let database = DatabaseConfig {
            url: self.database_url.trim().to_owned(),
            max_connections: self.database_max_connections,
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_s),
        };
        if database.kind().is_none() {
            return Err(SettingsError::new(
                "DATABASE_URL",
                "expected a sqlite://, postgres:// (or postgresql+asyncpg://) or mysql:// URL",
            ));
        }
        if database.max_connections == 0 {
            return Err(SettingsError::new(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
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
