//! Connecting to SQLite, Postgres or MySQL/MariaDB from one URL.

use std::{fmt, sync::Arc, time::Duration};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    Statement,
    sqlx::{
        postgres::PgConnectOptions,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};

use crate::{
    RepoError,
    primary::{HostList, Switches, new_connection_suits},
};

/// How to reach the database. `Debug` shows the URL with its password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `sqlite://…`, `postgres://…` (also `postgresql://` and SQLAlchemy's
    /// `postgresql+asyncpg://`), `mysql://…` / `mariadb://…`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// Connections opened with the pool and kept open (at most `max_connections`), so the
    /// first requests under load do not wait for handshakes.
    pub min_connections: u32,
    /// How long a query waits for a free connection (and a new connection for its
    /// handshake) before failing with [`RepoError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

impl DatabaseConfig {
    /// The URL with SQLAlchemy-style driver suffixes removed (`postgresql+asyncpg` →
    /// `postgresql`), which is what the database drivers understand.
    pub fn normalized_url(&self) -> String {
        normalize_url(&self.url)
    }

    /// Whether the database lives in the pool's own memory (SQLite `:memory:` or
    /// `mode=memory`): then another pool would see another, empty database.
    pub fn is_in_memory(&self) -> bool {
        let url = self.normalized_url();
        self.kind() == Some(DatabaseKind::Sqlite)
            && (url.contains(":memory:") || url.contains("mode=memory"))
    }

    /// Which database the URL points at, if it is one Gatehouse supports.
    pub fn kind(&self) -> Option<DatabaseKind> {
        DatabaseKind::of_url(&self.normalized_url())
    }

    /// Why a Postgres URL's host list (`h1:5432,h2:5433`, `target_session_attrs`) cannot
    /// be used, if it cannot.
    pub fn host_list_error(&self) -> Option<String> {
        self.host_list().err()
    }

    /// The hosts to follow: `None` unless a Postgres URL names several, or names
    /// `target_session_attrs`.
    fn host_list(&self) -> Result<Option<HostList>, String> {
        match self.kind() {
            Some(DatabaseKind::Postgres) => HostList::parse(&self.normalized_url()),
            _ => Ok(None),
        }
    }
}

/// The supported database families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded, file-based; the development default.
    Sqlite,
    /// The production target.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl DatabaseKind {
    fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::MySql),
            _ => None,
        }
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
        })
    }
}

fn normalize_url(url: &str) -> String {
    let url = url.trim();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = scheme
                .split('+')
                .next()
                .unwrap_or(scheme)
                .to_ascii_lowercase();
            let scheme = if scheme == "mariadb" {
                "mysql".into()
            } else {
                scheme
            };
            format!("{scheme}://{rest}")
        }
        None => url.to_owned(),
    }
}

/// The URL with any password replaced by `***`, for logs and error messages: the one in
/// the user-info part and any `password=` query parameter (libpq and sqlx accept both).
pub fn redact_url(url: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut redacted = redact_user_info(without_query);
    if let Some(query) = query {
        redacted.push('?');
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => parameter.to_owned(),
            })
            .collect();
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

fn redact_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Opens a connection pool and checks that the database answers.
///
/// For SQLite, creates the file's directory if needed and turns on WAL and a busy timeout,
/// so concurrent requests wait for the write lock instead of failing.
///
/// A Postgres URL naming several hosts (or `target_session_attrs`) opens the pool on the
/// first host that suits and keeps it on one that does (see the `primary` module).
///
/// Only the first connection is waited for. The pool's other `min_connections` are opened
/// in the background, side by side, while the caller goes on (a server binding its port:
/// about 100 ms more for 16 with TLS, which the start does not wait for); one that cannot
/// be opened within `acquire_timeout` is left to the pool to open later.
pub async fn connect(config: DatabaseConfig) -> Result<DatabaseConnection, RepoError> {
    let db = open(&config).await?;
    db.ping().await.map_err(RepoError::Unavailable)?;
    let wanted = config.min_connections.min(config.max_connections);
    if wanted > 1 {
        let warming = db.clone();
        tokio::spawn(async move {
            let opened = match warming.get_database_backend() {
                DatabaseBackend::Postgres => {
                    warm_up(warming.get_postgres_connection_pool(), wanted).await
                }
                DatabaseBackend::MySql => {
                    warm_up(warming.get_mysql_connection_pool(), wanted).await
                }
                DatabaseBackend::Sqlite => {
                    warm_up(warming.get_sqlite_connection_pool(), wanted).await
                }
                _ => 0,
            };
            if opened < wanted {
                tracing::debug!(
                    opened,
                    wanted,
                    "database: not every connection opened at start; the pool opens the rest later"
                );
            }
        });
    }
    Ok(db)
}

/// Opens `wanted` connections in `pool` side by side, by holding that many at once;
/// returns how many it held.
async fn warm_up<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>, wanted: u32) -> u32 {
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..wanted {
        opening.spawn(pool.acquire());
    }
    let held: Vec<_> = opening.join_all().await.into_iter().flatten().collect();
    u32::try_from(held.len()).unwrap_or(u32::MAX)
}

/// Whether the database answers now and, on Postgres, takes writes
/// (`RepoError::Unavailable` when not: a standby, or a primary being demoted): the
/// readiness check.
pub async fn ping(db: &DatabaseConnection) -> Result<(), RepoError> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return db.ping().await.map_err(RepoError::Unavailable);
    }
    let read_only = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SHOW transaction_read_only",
        ))
        .await
        .map_err(RepoError::Unavailable)?
        .map(|row| row.try_get::<String>("", "transaction_read_only"))
        .transpose()
        .map_err(RepoError::Unavailable)?;
    match read_only.as_deref() {
        Some("off") => Ok(()),
        _ => Err(RepoError::Unavailable(DbErr::Custom(
            "the database takes no writes".into(),
        ))),
    }
}

async fn open(config: &DatabaseConfig) -> Result<DatabaseConnection, RepoError> {
    let hosts = config
        .host_list()
        .map_err(|reason| RepoError::Db(DbErr::Custom(format!("DATABASE_URL: {reason}"))))?;
    let Some(hosts) = hosts else {
        let mut options = pool_options(config, config.normalized_url())?;
        options.connect_lazy(true);
        return Database::connect(options)
            .await
            .map_err(RepoError::Unavailable);
    };
    let any_host: PgConnectOptions = hosts
        .url_for(hosts.first())
        .parse()
        .map_err(|error| RepoError::Db(DbErr::Custom(format!("DATABASE_URL: {error}"))))?;
    let (chosen, check) = hosts.find(&any_host).await.ok_or_else(|| {
        RepoError::Unavailable(DbErr::Custom("no host of DATABASE_URL suits".into()))
    })?;
    drop(check);
    if hosts.may_settle_on_a_standby() {
        tracing::warn!(
            "DATABASE_URL lists several hosts without target_session_attrs=read-write (or \
             primary): any host that answers will do, a standby too, and it takes no writes"
        );
    }
    let switches = Arc::new(Switches::new());
    let mut options = pool_options(config, hosts.url_for(&chosen))?;
    let admits = switches.clone();
    let target = hosts.target();
    options
        .connect_lazy(true)
        // Only connections opened since the last switch…
        .map_sqlx_postgres_before_acquire(move |_, connection| {
            let admitted = admits.admits(connection.age);
            Box::pin(async move { Ok(admitted) })
        })
        // …and only on a host that suits: one begun just before a switch reaches the old
        // host (the pool tries again, on the options as they are then).
        .map_sqlx_postgres_pool_opts(move |pool| {
            pool.after_connect(move |connection, _| {
                Box::pin(async move {
                    if new_connection_suits(connection, target).await {
                        Ok(())
                    } else {
                        Err(sea_orm::sqlx::Error::Protocol(
                            "the host does not suit target_session_attrs".into(),
                        ))
                    }
                })
            })
        });
    let db = Database::connect(options)
        .await
        .map_err(RepoError::Unavailable)?;
    tokio::spawn(hosts.follow(db.get_postgres_connection_pool().clone(), chosen, switches));
    Ok(db)
}

fn pool_options(config: &DatabaseConfig, url: String) -> Result<ConnectOptions, RepoError> {
    if config.kind() == Some(DatabaseKind::Sqlite) {
        create_sqlite_parent_dir(&url)?;
    }
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(config.max_connections)
        // Each connection costs a handshake (with TLS, ≈ 90 ms): opened with the pool,
        // they are paid for before the first request rather than by it.
        .min_connections(config.min_connections.min(config.max_connections))
        .acquire_timeout(config.acquire_timeout)
        .connect_timeout(config.acquire_timeout)
        .sqlx_logging(false)
        // A ping before every checkout doubled the round trips of each request; only a
        // connection idle long enough to have been dropped (by the server, a proxy, a
        // restart) is pinged now. A connection that breaks under traffic fails its query
        // (503) and is discarded by the pool.
        .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Ok(options)
}

/// How long a pooled connection may sit idle before it is pinged on checkout.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

fn create_sqlite_parent_dir(url: &str) -> Result<(), RepoError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    match std::path::Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(RepoError::Storage)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_driver_suffixes_are_dropped() {
        let config = DatabaseConfig {
            url: "postgresql+asyncpg://postgres:postgres@localhost:5432/app".into(),
            max_connections: 1,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(1),
        };
        assert_eq!(
            config.normalized_url(),
            "postgresql://postgres:postgres@localhost:5432/app"
        );
        assert_eq!(config.kind(), Some(DatabaseKind::Postgres));
    }

    #[test]
    fn in_memory_sqlite_is_recognised() {
        let config = |url: &str| DatabaseConfig {
            url: url.into(),
            max_connections: 1,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(1),
        };
        assert!(config("sqlite::memory:").is_in_memory());
        assert!(config("sqlite://file.db?mode=memory&cache=shared").is_in_memory());
        assert!(!config("sqlite://data/app.db?mode=rwc").is_in_memory());
        assert!(!config("postgres://localhost/memory").is_in_memory());
    }

    #[test]
    fn kinds_are_recognised_by_scheme() {
        assert_eq!(
            DatabaseKind::of_url("sqlite://data/app.db?mode=rwc"),
            Some(DatabaseKind::Sqlite)
        );
        assert_eq!(
            DatabaseKind::of_url("mysql://root@localhost/app"),
            Some(DatabaseKind::MySql)
        );
        assert_eq!(
            normalize_url("mariadb://root@localhost/app"),
            "mysql://root@localhost/app"
        );
        assert_eq!(DatabaseKind::of_url("oracle://x"), None);
    }

    #[test]
    fn debug_output_masks_the_password() {
        let config = DatabaseConfig {
            url: "postgres://app:hunter2@db/app".into(),
            max_connections: 1,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(1),
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://postgres:hunter2@db:5432/app"),
            "postgres://postgres:***@db:5432/app"
        );
        assert_eq!(redact_url("postgres://u@db/app"), "postgres://u@db/app");
        assert_eq!(redact_url("sqlite://data/app.db"), "sqlite://data/app.db");
        assert_eq!(
            redact_url("mysql://root:p@ss@w0rd@h/db"),
            "mysql://root:***@h/db"
        );
        // libpq and sqlx also take the password as a query parameter.
        assert_eq!(
            redact_url("postgres://u@db/app?sslmode=require&password=hunter2&x=1"),
            "postgres://u@db/app?sslmode=require&password=***&x=1"
        );
        assert_eq!(
            redact_url("postgres://u:pw@db/app?PASSWORD=hunter2"),
            "postgres://u:***@db/app?PASSWORD=***"
        );
    }
}
