use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// Postgres only: triggers that announce, on the `gatehouse_invalidation` channel, every
/// change that can end a cached session — any update or delete of an account (`u:<id>`),
/// the revocation or deletion of an open session (`s:<id>`). A refresh (which only moves
/// generations and timestamps) announces nothing. The server's session cache listens
/// (crates/persistence/src/invalidation.rs, which names the same channel); the
/// notifications are sent at commit by whoever writes, so other instances, the `users`
/// command and hand-written SQL are all heard. SQLite and MySQL have no such channel and
/// run without the cache.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r"
CREATE OR REPLACE FUNCTION gatehouse_announce_user_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_invalidation', 'u:' || OLD.id::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION gatehouse_announce_session_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_invalidation', 's:' || OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_announce_change
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION gatehouse_announce_user_change();

CREATE TRIGGER sessions_announce_change
    AFTER UPDATE OF revoked_at, expires_at, user_id OR DELETE ON sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL)
    EXECUTE FUNCTION gatehouse_announce_session_change();
";

const DOWN: &str = r"
DROP TRIGGER IF EXISTS sessions_announce_change ON sessions;
DROP TRIGGER IF EXISTS users_announce_change ON users;
DROP FUNCTION IF EXISTS gatehouse_announce_session_change();
DROP FUNCTION IF EXISTS gatehouse_announce_user_change();
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_postgres(manager, DOWN).await
    }
}

pub(crate) async fn run_on_postgres(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}
