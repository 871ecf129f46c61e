use sea_orm_migration::{
    prelude::*,
    sea_orm::{DbBackend, Statement},
};

use crate::iden::Sessions;

/// Indexes that let housekeeping find ended sessions a batch at a time: by `expires_at`,
/// and by `revoked_at` for the revoked ones (few, so a partial index where the backend has
/// them). Without them each batch of the purge read the whole table.
///
/// `sessions` is the largest table, so on Postgres the indexes are built `CONCURRENTLY`:
/// logins and refreshes keep writing while they build (a plain `CREATE INDEX` would block
/// every write to the table for the seconds a build takes on millions of rows). That
/// cannot run in a transaction, hence `use_transaction` below; an index left invalid by an
/// interrupted build is dropped and built again.
#[derive(DeriveMigrationName)]
pub struct Migration;

const BY_EXPIRY: &str = "idx_sessions_expires_at";
const BY_REVOCATION: &str = "idx_sessions_revoked_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                postgres_index(manager, BY_EXPIRY, "(expires_at)").await?;
                postgres_index(
                    manager,
                    BY_REVOCATION,
                    "(revoked_at) WHERE revoked_at IS NOT NULL",
                )
                .await
            }
            DbBackend::Sqlite => {
                let db = manager.get_connection();
                db.execute_unprepared(&format!(
                    "CREATE INDEX IF NOT EXISTS {BY_EXPIRY} ON sessions (expires_at)"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE INDEX IF NOT EXISTS {BY_REVOCATION} ON sessions (revoked_at) \
                     WHERE revoked_at IS NOT NULL"
                ))
                .await?;
                Ok(())
            }
            // MySQL has no partial indexes, and no `IF NOT EXISTS` for them (MariaDB has).
            _ => {
                for (name, column) in [
                    (BY_EXPIRY, Sessions::ExpiresAt),
                    (BY_REVOCATION, Sessions::RevokedAt),
                ] {
                    if !manager.has_index("sessions", name).await? {
                        manager
                            .create_index(
                                Index::create()
                                    .name(name)
                                    .table(Sessions::Table)
                                    .col(column)
                                    .to_owned(),
                            )
                            .await?;
                    }
                }
                Ok(())
            }
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [BY_REVOCATION, BY_EXPIRY] {
            if manager.has_index("sessions", name).await? {
                manager
                    .drop_index(Index::drop().name(name).table(Sessions::Table).to_owned())
                    .await?;
            }
        }
        Ok(())
    }
}

/// `CREATE INDEX CONCURRENTLY`, after dropping an invalid index of that name (what a build
/// that was interrupted leaves; `IF NOT EXISTS` would keep it, and it is never used).
async fn postgres_index(
    manager: &SchemaManager<'_>,
    name: &str,
    definition: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let invalid = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS invalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname = $1 AND NOT i.indisvalid",
            [name.into()],
        ))
        .await?
        .is_some();
    if invalid {
        db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
            .await?;
    }
    db.execute_unprepared(&format!(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON sessions {definition}"
    ))
    .await?;
    Ok(())
}
