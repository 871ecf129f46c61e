use gatehouse_domain::Conflict;
use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

/// Why a repository call failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A uniqueness rule refused the change.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The database could not be reached in time (pool timeout, refused, closed).
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// Any other database failure.
    #[error("database error")]
    Db(#[source] DbErr),
    /// The SQLite file's directory could not be created.
    #[error("cannot prepare the database directory")]
    Storage(#[source] std::io::Error),
    /// A stored row does not parse into its domain type.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl From<DbErr> for RepoError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            Self::Unavailable(err)
        } else {
            Self::Db(err)
        }
    }
}

impl RepoError {
    /// Maps a unique-constraint violation to `conflict`, anything else as usual.
    pub(crate) fn unique_as(err: DbErr, conflict: Conflict) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict(conflict),
            _ => err.into(),
        }
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => {
                    db.code().is_some_and(|code| is_outage_sqlstate(&code))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// SQLSTATEs that mean "the database is not there right now" rather than "this query is
/// wrong": class 08 (connection exception), Postgres' 57P01–57P03 (administrator
/// shutdown, crash shutdown, cannot connect now), 3D000 (database does not exist) and
/// 25006 (a write refused by a read-only host: a standby, or a primary demoted by a
/// failover, until the pool follows the new one; see [`crate::primary`]).
fn is_outage_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "3D000" | "25006")
}
