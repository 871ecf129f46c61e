//! Migrations under a lock across instances: several instances starting at once against
//! one database (`MIGRATE_ON_START`) take turns, so each migration runs once, and none
//! meets another's half-built schema (two `CREATE TABLE`s racing on Postgres collide in
//! its catalogue; an index still being built `CONCURRENTLY` looks invalid to a second
//! instance, which would drop and rebuild it). The lock is the database's own: a session
//! advisory lock on Postgres, `GET_LOCK` on MySQL/MariaDB. SQLite has no such lock; the
//! server takes a lock on a file beside the database instead.
//!
//! The lock belongs to a connection: `db` must be a pool of one, so the migrations run
//! on the connection that holds it.

use sea_orm_migration::{
    MigratorTrait,
    sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement},
};

use crate::Migrator;

/// The Postgres advisory lock's key: "gatehous" in ASCII.
const POSTGRES_LOCK_KEY: i64 = 0x6761_7465_686f_7573;

/// How long a Postgres instance waits before it tries the lock again.
const POSTGRES_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// The MySQL lock's name.
const MYSQL_LOCK_NAME: &str = "gatehouse_migrations";

/// How long an instance waits for another's migrations on MySQL, seconds (Postgres
/// waits as long as it takes: a migration that never ends is an operator's matter).
const MYSQL_WAIT_SECONDS: u32 = 3600;

/// Applies the pending migrations (`steps` of them, or all) while holding the lock.
pub async fn up_exclusively(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    match backend {
        DatabaseBackend::Postgres => {
            // Tried, not waited for: a statement waiting for the lock is a transaction,
            // and the holder's `CREATE INDEX CONCURRENTLY` waits for every transaction to
            // end — a deadlock Postgres would break by failing one of them.
            let try_lock = Statement::from_string(
                backend,
                format!("SELECT pg_try_advisory_lock({POSTGRES_LOCK_KEY}) AS taken"),
            );
            loop {
                let taken: Option<bool> = db
                    .query_one_raw(try_lock.clone())
                    .await?
                    .and_then(|row| row.try_get("", "taken").ok());
                if taken == Some(true) {
                    break;
                }
                tokio::time::sleep(POSTGRES_RETRY).await;
            }
        }
        DatabaseBackend::MySql => {
            let lock = Statement::from_sql_and_values(
                backend,
                "SELECT GET_LOCK(?, ?) AS taken",
                [MYSQL_LOCK_NAME.into(), MYSQL_WAIT_SECONDS.into()],
            );
            let taken: Option<i64> = db
                .query_one_raw(lock)
                .await?
                .and_then(|row| row.try_get("", "taken").ok());
            if taken != Some(1) {
                return Err(DbErr::Custom(format!(
                    "another instance held the migration lock for {MYSQL_WAIT_SECONDS} s"
                )));
            }
        }
        _ => {}
    }
    let applied = Migrator::up(db, steps).await;
    let unlock = match backend {
        DatabaseBackend::Postgres => {
            Some(format!("SELECT pg_advisory_unlock({POSTGRES_LOCK_KEY})"))
        }
        DatabaseBackend::MySql => Some(format!("SELECT RELEASE_LOCK('{MYSQL_LOCK_NAME}')")),
        _ => None,
    };
    if let Some(unlock) = unlock {
        // Ending the session would release it too; the pool of one closes after.
        let released = db.execute_unprepared(&unlock).await;
        if applied.is_ok() {
            released?;
        }
    }
    applied
}
