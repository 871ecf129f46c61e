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
            matches!(
                **e,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            )
        }
        _ => false,
    }
}
