//! The database as the server and the commands open it: the pool, the migrations at
//! start (`MIGRATE_ON_START`, under a lock), and the one line that says why it cannot be
//! reached.

use anyhow::Context;
use gatehouse_persistence::{DatabaseConfig, DatabaseConnection, connect, redact_url};
use migration::{Migrator, MigratorTrait};

use crate::settings::Settings;

/// Opens the pool and, with `MIGRATE_ON_START`, brings the schema up to date: what every
/// command that works on the data needs first. A command's pool opens connections as it
/// needs them; the server's opens `DATABASE_MIN_CONNECTIONS` first.
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let on_demand = DatabaseConfig {
        min_connections: 0,
        ..settings.database.clone()
    };
    prepare_pool(settings, on_demand).await
}

/// [`prepare_database`] with the pool `pool` describes (the URL is `settings`'): its
/// first connection is open when this returns, the others it keeps open follow in the
/// background.
pub(crate) async fn prepare_pool(
    settings: &Settings,
    pool: DatabaseConfig,
) -> anyhow::Result<DatabaseConnection> {
    let open = || async {
        connect(pool.clone())
            .await
            .with_context(|| cannot_connect(settings))
    };
    if !settings.migrate_on_start {
        return open().await;
    }
    if settings.database.is_in_memory() {
        let db = open().await?;
        migrate(&db).await?;
        return Ok(db);
    }
    // Migrations run one statement after another. On a pool that may grow, each one can
    // open a connection of its own (sqlx hands a connection back through a spawned task, so
    // the next statement often finds none idle), and every connection costs a handshake
    // (≈ 90 ms with TLS): so one connection for them, closed after.
    let single = DatabaseConfig {
        max_connections: 1,
        min_connections: 0,
        ..settings.database.clone()
    };
    let migrate = || async {
        let migrations = connect(single.clone())
            .await
            .with_context(|| cannot_connect(settings))?;
        // Under a lock: instances starting together take turns (SQLite's is a file's).
        let file_lock = sqlite_migration_lock(settings).await;
        migration::up_exclusively(&migrations, None)
            .await
            .context("cannot apply database migrations")?;
        drop(file_lock);
        // Closing only says goodbye to the server; the pool does not need it first.
        let _ = migrations.close().await;
        anyhow::Ok(())
    };
    if settings.database_kind() == gatehouse_persistence::DatabaseKind::Sqlite {
        // One file: the pool's connections would wait on the migrations' writes anyway.
        migrate().await?;
        return open().await;
    }
    // A database server: the pool's first handshake goes on beside the migrations'
    // (each ≈ 90 ms with TLS), and the server starts when both are done.
    let (migrated, pool) = tokio::join!(migrate(), open());
    migrated?;
    pool
}

/// For a SQLite file, an exclusive lock on `<file>.migrate-lock`, held until dropped
/// (processes on one file take turns at the migrations, as the server databases' own
/// locks make them elsewhere). `None` for other databases, or when the lock file cannot be
/// made (then the migrations run as before, unguarded).
async fn sqlite_migration_lock(settings: &Settings) -> Option<std::fs::File> {
    if settings.database_kind() != gatehouse_persistence::DatabaseKind::Sqlite {
        return None;
    }
    let url = settings.database.url.as_str();
    let path = url.strip_prefix("sqlite:")?;
    let path = path.strip_prefix("//").unwrap_or(path);
    let path = path.split('?').next()?;
    let lock_path = format!("{path}.migrate-lock");
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&lock_path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await;
    match locked {
        Ok(Ok(file)) => Some(file),
        Ok(Err(error)) => {
            tracing::debug!(%error, "migrations without a lock file");
            None
        }
        Err(_) => None,
    }
}

async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("cannot apply database migrations")
}

/// Opens the pool, with the failure phrased for a one-line error.
pub async fn connect_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    connect(settings.database.clone())
        .await
        .with_context(|| cannot_connect(settings))
}

fn cannot_connect(settings: &Settings) -> String {
    format!(
        "cannot connect to the database at {} (check DATABASE_URL and that the server is running)",
        redact_url(&settings.database.url)
    )
}
