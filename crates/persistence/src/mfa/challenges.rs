//! Logins waiting for their second step: each known by the hash of its `mfa_token`,
//! finished once, dead after its last allowed failure.

use chrono::{DateTime, Utc};
use gatehouse_domain::{Assurance, AuthMethod, NewAuditEvent, UserId};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use super::{MfaChallenge, MfaRepository};
use crate::{RepoError, audit::record_event, entity::mfa_challenge};

impl MfaRepository {
    /// Opens a second step for `user_id` after `first`, known by the hash of its
    /// `mfa_token`, and records `event` (`mfa.challenged`) with it. The account's finished
    /// or expired challenges are removed on the way.
    #[allow(
        clippy::too_many_arguments,
        reason = "the challenge's fields, its times and its event"
    )]
    pub async fn open_challenge(
        &self,
        user_id: UserId,
        first: AuthMethod,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<(), RepoError> {
        use mfa_challenge::Column as C;
        let txn = self.db.begin().await?;
        mfa_challenge::Entity::delete_many()
            .filter(C::UserId.eq(user_id.as_uuid()))
            .filter(
                Condition::any()
                    .add(C::UsedAt.is_not_null())
                    .add(C::ExpiresAt.lte(now)),
            )
            .exec(&txn)
            .await?;
        let row = mfa_challenge::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user_id.as_uuid()),
            token_hash: Set(token_hash.to_owned()),
            failed_attempts: Set(0),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            first_method: Set(first.as_str().to_owned()),
        };
        mfa_challenge::Entity::insert(row)
            .exec_without_returning(&txn)
            .await?;
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(())
    }

    /// The challenge with this token hash, if it is unused, unexpired and has failed
    /// fewer than `max_failures` times.
    pub async fn live_challenge(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        max_failures: u32,
    ) -> Result<Option<MfaChallenge>, RepoError> {
        use mfa_challenge::Column as C;
        Ok(mfa_challenge::Entity::find()
            .filter(C::TokenHash.eq(token_hash))
            .filter(live(now, max_failures))
            .one(&self.db)
            .await?
            .map(to_challenge))
    }

    /// Reserves one judged attempt on the live challenge with this token hash, counting it
    /// as a wrong code before it is judged: one conditional `UPDATE`, so of any number of
    /// concurrent attempts no more than `max_failures` in all are let through. The
    /// challenge when the attempt is reserved; `None` when it is unknown, used, expired or
    /// spent.
    pub async fn reserve_attempt(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        max_failures: u32,
    ) -> Result<Option<MfaChallenge>, RepoError> {
        use mfa_challenge::Column as C;
        let reserved = mfa_challenge::Entity::update_many()
            .col_expr(C::FailedAttempts, Expr::col(C::FailedAttempts).add(1))
            .filter(C::TokenHash.eq(token_hash))
            .filter(live(now, max_failures))
            .exec(&self.db)
            .await?;
        if reserved.rows_affected != 1 {
            return Ok(None);
        }
        Ok(mfa_challenge::Entity::find()
            .filter(C::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .map(to_challenge))
    }

    /// Finishes the challenge whose attempt was reserved and proved right, if nobody
    /// finished it first and it has not expired: true for exactly one caller.
    pub async fn finish_challenge(
        &self,
        id: uuid::Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        use mfa_challenge::Column as C;
        let result = mfa_challenge::Entity::update_many()
            .col_expr(C::UsedAt, Expr::value(now))
            .filter(C::Id.eq(id))
            .filter(C::UsedAt.is_null())
            .filter(C::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Deletes challenges that expired or were finished before `before`. Returns how many.
    pub async fn purge_challenges(&self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        use mfa_challenge::Column as C;
        let result = mfa_challenge::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(C::ExpiresAt.lt(before))
                    .add(C::UsedAt.lt(before)),
            )
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}

fn to_challenge(row: mfa_challenge::Model) -> MfaChallenge {
    MfaChallenge {
        id: row.id,
        user_id: UserId::from_uuid(row.user_id),
        // Only what was stored as a first step: anything else reads as a password.
        first: Assurance::from_stored(&row.first_method)
            .map_or(AuthMethod::Password, |assurance| assurance.first()),
    }
}

/// Unused, unexpired, and not failed too often.
fn live(now: DateTime<Utc>, max_failures: u32) -> Condition {
    use mfa_challenge::Column as C;
    Condition::all()
        .add(C::UsedAt.is_null())
        .add(C::ExpiresAt.gt(now))
        .add(C::FailedAttempts.lt(i64::from(max_failures)))
}
