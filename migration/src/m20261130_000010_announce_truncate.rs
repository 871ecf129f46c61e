use sea_orm_migration::prelude::*;

use crate::m20261130_000007_session_invalidation_triggers::run_on_postgres;

/// Postgres only: `TRUNCATE` fires no row trigger, so the triggers of migration 7 never
/// announced it, and a cached session outlived its emptied table for up to 30 s.
/// Statement-level triggers now announce `*` (forget everything) on the same channel.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r"
CREATE OR REPLACE FUNCTION gatehouse_announce_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_invalidation', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_announce_truncate
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_announce_truncate();

CREATE TRIGGER sessions_announce_truncate
    AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_announce_truncate();
";

const DOWN: &str = r"
DROP TRIGGER IF EXISTS sessions_announce_truncate ON sessions;
DROP TRIGGER IF EXISTS users_announce_truncate ON users;
DROP FUNCTION IF EXISTS gatehouse_announce_truncate();
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
