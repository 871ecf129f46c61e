use sea_orm_migration::prelude::*;

use crate::m20261130_000007_session_invalidation_triggers::run_on_postgres;

/// Postgres only: deleting a session that had already expired announces nothing. Such a
/// session is refused wherever it is cached (every lookup checks `expires_at`), so the
/// announcement changed nothing, and the purge of a million expired sessions sent a
/// million notifications to every instance, lengthening each of its `DELETE`s. Updates,
/// and deletes of sessions still open, are announced as before (migration 7).
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r"
DROP TRIGGER IF EXISTS sessions_announce_change ON sessions;
CREATE TRIGGER sessions_announce_change
    AFTER UPDATE OF revoked_at, expires_at, user_id ON sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL)
    EXECUTE FUNCTION gatehouse_announce_session_change();
CREATE TRIGGER sessions_announce_delete
    AFTER DELETE ON sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND OLD.expires_at > now())
    EXECUTE FUNCTION gatehouse_announce_session_change();
";

const DOWN: &str = r"
DROP TRIGGER IF EXISTS sessions_announce_delete ON sessions;
DROP TRIGGER IF EXISTS sessions_announce_change ON sessions;
CREATE TRIGGER sessions_announce_change
    AFTER UPDATE OF revoked_at, expires_at, user_id OR DELETE ON sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL)
    EXECUTE FUNCTION gatehouse_announce_session_change();
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
