use chrono::{DateTime, Utc};
use gatehouse_domain::{NewSession, Session, SessionId, UserId};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};

use crate::{RepoError, entity::session};

/// Reads and writes login sessions.
#[derive(Debug, Clone)]
pub struct SessionRepository {
    db: DatabaseConnection,
}

impl SessionRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores a session opened at login, at refresh generation 0.
    pub async fn create(&self, new: NewSession) -> Result<Session, RepoError> {
        let row = session::ActiveModel {
            id: Set(new.id.as_uuid()),
            user_id: Set(new.user_id.as_uuid()),
            created_at: Set(new.created_at),
            last_used_at: Set(new.created_at),
            expires_at: Set(new.expires_at),
            revoked_at: Set(None),
            latest_refresh_generation: Set(0),
            highest_used_generation: Set(0),
            user_agent: Set(new.user_agent.clone()),
            ip: Set(new.ip.clone()),
        };
        session::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await?;
        Ok(Session {
            id: new.id,
            user_id: new.user_id,
            created_at: new.created_at,
            last_used_at: new.created_at,
            expires_at: new.expires_at,
            revoked_at: None,
            latest_refresh_generation: 0,
            highest_used_generation: 0,
            user_agent: new.user_agent,
            ip: new.ip,
        })
    }

    /// The session with this id, revoked or not.
    pub async fn find(&self, id: SessionId) -> Result<Option<Session>, RepoError> {
        session::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Records the use of refresh generation `generation` and the issue of
    /// `generation + 1`, if and only if the session is not revoked and no newer generation
    /// has been used ([`Session::refresh_verdict`]'s rule). One conditional `UPDATE`, so
    /// two racing refreshes cannot both slip past the rule: returns whether it applied.
    /// (Expiry is not part of the statement: it never changes, so the caller checks it.)
    pub async fn advance_refresh_generation(
        &self,
        id: SessionId,
        generation: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let used = i64::from(generation);
        let next = used + 1;
        let latest = Expr::col(session::Column::LatestRefreshGeneration);
        let result = session::Entity::update_many()
            .col_expr(session::Column::HighestUsedGeneration, Expr::value(used))
            .col_expr(
                session::Column::LatestRefreshGeneration,
                Expr::case(latest.clone().lt(next), Expr::value(next))
                    .finally(latest)
                    .into(),
            )
            .col_expr(session::Column::LastUsedAt, Expr::value(now))
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::HighestUsedGeneration.lte(used))
            .filter(session::Column::LatestRefreshGeneration.gte(used))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Notes a refresh without rotation (rotation turned off).
    pub async fn touch(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let result = session::Entity::update_many()
            .col_expr(session::Column::LastUsedAt, Expr::value(now))
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Ends the session: no token of it is accepted any more. Returns whether it was
    /// active until now.
    pub async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let result = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Ends every active session of `user_id`. Returns how many there were.
    pub async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let result = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::UserId.eq(user_id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}

fn to_domain(row: session::Model) -> Result<Session, RepoError> {
    let generation = |value: i64| {
        u32::try_from(value)
            .map_err(|_| RepoError::Corrupt(format!("session {}: generation {value}", row.id)))
    };
    Ok(Session {
        id: SessionId::from_uuid(row.id),
        user_id: UserId::from_uuid(row.user_id),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        latest_refresh_generation: generation(row.latest_refresh_generation)?,
        highest_used_generation: generation(row.highest_used_generation)?,
        user_agent: row.user_agent.clone(),
        ip: row.ip.clone(),
    })
}
