use chrono::{DateTime, Utc};
use gatehouse_domain::{NewAuditEvent, OneTimePurpose, UserId, WayIn};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait,
    IsolationLevel, QueryFilter, QuerySelect, TransactionTrait, sea_query::Expr,
};

use crate::{
    RepoError,
    audit::record_event,
    entity::{one_time_token, user},
};

/// Removes every token of `user_id`, on `db` (inside or outside a transaction).
pub(crate) async fn delete_tokens_of(
    db: &impl sea_orm::ConnectionTrait,
    user_id: UserId,
) -> Result<u64, RepoError> {
    let result = one_time_token::Entity::delete_many()
        .filter(one_time_token::Column::UserId.eq(user_id.as_uuid()))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// A stored single-use token that is still good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveToken {
    pub(crate) id: uuid::Uuid,
    /// Whose it is.
    pub user_id: UserId,
    /// What it is about, where its purpose needs it (the way in a `not_me` token undoes).
    pub subject: Option<String>,
}

/// Single-use tokens, by the hash of their text.
#[derive(Debug, Clone)]
pub struct OneTimeTokenRepository {
    db: DatabaseConnection,
}

impl OneTimeTokenRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores a new token for `user_id` and `purpose`. The user's older tokens of that
    /// purpose stop working (only the newest mail counts), and the user's used or expired
    /// tokens are removed — in one transaction that holds the account's row, so requests
    /// racing on several instances leave exactly one live token.
    pub async fn issue(
        &self,
        user_id: UserId,
        purpose: OneTimePurpose,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.issue_recorded(user_id, purpose, token_hash, expires_at, now, None)
            .await
    }

    /// [`issue`](Self::issue), recording `event` (the request for the mail) in the same
    /// transaction: the token and its event exist together or not at all.
    pub async fn issue_recorded(
        &self,
        user_id: UserId,
        purpose: OneTimePurpose,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<(), RepoError> {
        use one_time_token::Column as C;
        let backend = self.db.get_database_backend();
        // MySQL's default (REPEATABLE READ) would take gap locks in the token index for the
        // delete, and two accounts' tokens inserted into one gap (ids are time-ordered)
        // would deadlock; the account row's lock below is all the ordering needed.
        let isolation =
            (backend == DatabaseBackend::MySql).then_some(IsolationLevel::ReadCommitted);
        let transaction = self.db.begin_with_config(isolation, None).await?;
        // Two transactions that each delete the old tokens and insert their own would not
        // see each other's insert: take turns on the account's row. (SQLite has no row
        // locks, but its first write below takes the database's write lock, which is the
        // same turn-taking.)
        if backend != DatabaseBackend::Sqlite {
            user::Entity::find_by_id(user_id.as_uuid())
                .lock_exclusive()
                .all(&transaction)
                .await?;
        }
        let users_stale_tokens = Condition::all().add(C::UserId.eq(user_id.as_uuid())).add(
            Condition::any()
                .add(C::Purpose.eq(purpose.as_str()))
                .add(C::UsedAt.is_not_null())
                .add(C::ExpiresAt.lt(now)),
        );
        one_time_token::Entity::delete_many()
            .filter(users_stale_tokens)
            .exec(&transaction)
            .await?;
        let row = one_time_token::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user_id.as_uuid()),
            purpose: Set(purpose.as_str().to_owned()),
            token_hash: Set(token_hash.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            subject: Set(None),
        };
        one_time_token::Entity::insert(row)
            .exec_without_returning(&transaction)
            .await?;
        let recorded = match event {
            Some(event) => Some(record_event(&transaction, event).await?),
            None => None,
        };
        transaction.commit().await?;
        if let Some(recorded) = recorded {
            recorded.committed();
        }
        Ok(())
    }

    /// Stores a "this wasn't me" token for `user_id` that undoes `way` (the link in the
    /// mail that told of it), until `expires_at`. Unlike a reset or verification token it
    /// does not replace the user's others: each mail's link undoes its own way in.
    pub async fn issue_not_me(
        &self,
        user_id: UserId,
        way: WayIn,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let row = one_time_token::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user_id.as_uuid()),
            purpose: Set(OneTimePurpose::NotMe.as_str().to_owned()),
            token_hash: Set(token_hash.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            subject: Set(Some(way.subject())),
        };
        one_time_token::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// The token with this hash, if it is for `purpose`, unused and unexpired at `now`.
    pub async fn find_live(
        &self,
        purpose: OneTimePurpose,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LiveToken>, RepoError> {
        let row = one_time_token::Entity::find()
            .filter(one_time_token::Column::TokenHash.eq(token_hash))
            .filter(one_time_token::Column::Purpose.eq(purpose.as_str()))
            .one(&self.db)
            .await?;
        Ok(row
            .filter(|row| row.used_at.is_none() && now < row.expires_at)
            .map(|row| LiveToken {
                id: row.id,
                user_id: UserId::from_uuid(row.user_id),
                subject: row.subject,
            }))
    }

    /// Marks the token used, if nobody did first: one conditional `UPDATE`, so of two
    /// racing requests with the same token exactly one gets `true`.
    pub async fn consume(&self, token: &LiveToken, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let result = one_time_token::Entity::update_many()
            .col_expr(one_time_token::Column::UsedAt, Expr::value(now))
            .filter(one_time_token::Column::Id.eq(token.id))
            .filter(one_time_token::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Removes every token of `user_id` (e.g. when the address changes, the links already
    /// sent must stop working).
    pub async fn revoke_all_for_user(&self, user_id: UserId) -> Result<u64, RepoError> {
        delete_tokens_of(&self.db, user_id).await
    }

    /// Removes used and expired tokens of every user. Returns how many.
    pub async fn purge(&self, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let result = one_time_token::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(one_time_token::Column::UsedAt.is_not_null())
                    .add(one_time_token::Column::ExpiresAt.lt(now)),
            )
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
