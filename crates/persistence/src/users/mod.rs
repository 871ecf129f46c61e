use chrono::{DateTime, Utc};
use gatehouse_domain::{
    AuditEventType, Conflict, Email, NewAuditEvent, NewUser, PasswordHash, SessionId, User, UserId,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};

use crate::{
    RepoError, SessionCache,
    audit::{Recorded, record_event, sessions_ended_by},
    entity::{mfa_challenge, user},
    sessions::end_sessions_of,
};

mod admin;
mod import;
mod not_me;

pub use import::{ImportOutcome, ImportedAccount};

/// Reads and writes user accounts.
#[derive(Debug, Clone)]
pub struct UserRepository {
    db: DatabaseConnection,
    /// Forgets an account's cached sessions after every change to it.
    cache: SessionCache,
}

impl UserRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: SessionCache::off(),
        }
    }

    /// The same repository, keeping `cache` in step with the changes it makes.
    pub fn with_session_cache(self, cache: SessionCache) -> Self {
        Self { cache, ..self }
    }

    /// Inserts a new account created at `now`. A taken email is
    /// [`RepoError::Conflict`]`(`[`Conflict::EmailTaken`]`)`, decided by the unique index,
    /// so concurrent registrations of one address let exactly one through.
    pub async fn create(&self, new: NewUser, now: DateTime<Utc>) -> Result<User, RepoError> {
        insert_user(&self.db, new, true, now).await
    }

    /// [`create`](Self::create), recording `event` about the new account in the same
    /// transaction: the account and its `user.registered` exist together or not at all.
    pub async fn create_recorded(
        &self,
        new: NewUser,
        now: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<User, RepoError> {
        let txn = self.db.begin().await?;
        let user = insert_user(&txn, new, true, now).await?;
        let event = NewAuditEvent {
            user_id: Some(user.id),
            ..event
        };
        let recorded = record_event(&txn, &event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(user)
    }

    /// The account with this id, if any.
    pub async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepoError> {
        user::Entity::find_by_id(id.as_uuid())
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(user::to_domain)
            .transpose()
    }

    /// The account with this email, if any.
    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(user::to_domain)
            .transpose()
    }

    /// Sets a new password and ends the account's sessions — every one, or every one but
    /// `keep` (the session that changed its own password) — and records `event` (with the
    /// number of sessions ended), in one transaction: all of it happens or none. `None` when the account does not exist, else how many
    /// sessions ended.
    pub async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Option<u64>, RepoError> {
        self.replace_password(id, hash, keep, false, now, event)
            .await
    }

    /// A completed password reset: as [`change_password`](Self::change_password) ending
    /// every session, and the reset proved the mailbox, so the address is marked
    /// verified (recording `email.verified` when it was not).
    pub async fn reset_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Option<u64>, RepoError> {
        self.replace_password(id, hash, None, true, now, event)
            .await
    }

    async fn replace_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        proves_mailbox: bool,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Option<u64>, RepoError> {
        let txn = self.db.begin().await?;
        let work = async {
            let row = user::ActiveModel {
                id: Set(id.as_uuid()),
                hashed_password: Set(hash.as_str().to_owned()),
                updated_at: Set(now),
                ..Default::default()
            };
            match row.update(&txn).await {
                Ok(_) => {}
                Err(sea_orm::DbErr::RecordNotUpdated) => return Ok(None),
                Err(e) => return Err(RepoError::from(e)),
            }
            // A login waiting for its second step began with the old password: it dies.
            mfa_challenge::Entity::delete_many()
                .filter(mfa_challenge::Column::UserId.eq(id.as_uuid()))
                .exec(&txn)
                .await?;
            let ended = end_sessions_of(&txn, id, keep, now).await?;
            let event = event.clone().with("sessions_ended", ended.to_string());
            let mut recorded = vec![record_event(&txn, &event).await?];
            if proves_mailbox && mark_verified(&txn, id, now).await? {
                let verified = NewAuditEvent {
                    event_type: AuditEventType::EmailVerified,
                    details: Default::default(),
                    ..event.clone()
                }
                .with("via", "password_reset");
                recorded.push(record_event(&txn, &verified).await?);
            }
            if let Some(ending) = sessions_ended_by(&event, ended) {
                recorded.push(record_event(&txn, &ending).await?);
            }
            Ok(Some((ended, recorded)))
        };
        let committed = match work.await {
            Ok(Some((ended, recorded))) => txn
                .commit()
                .await
                .map(|()| {
                    recorded.into_iter().for_each(Recorded::committed);
                    Some(ended)
                })
                .map_err(Into::into),
            other => other.map(|_| None),
        };
        // Forgotten whatever happened: a failed commit may still have applied.
        self.cache.forget_user(id);
        committed
    }

    /// Replaces `replacing` (the hash a login's password was just checked against) with
    /// `hash`, the same password hashed with current parameters (sessions stay) — only
    /// while the stored hash is still `replacing`: an upgrade that finishes after a reset
    /// or a change must not write the old password back. Whether it was replaced.
    pub async fn upgrade_password_hash(
        &self,
        id: UserId,
        replacing: &PasswordHash,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let result = user::Entity::update_many()
            .col_expr(user::Column::HashedPassword, Expr::value(hash.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .filter(user::Column::HashedPassword.eq(replacing.as_str()))
            .exec(&self.db)
            .await;
        // Forgotten whatever happened, as every change to an account.
        self.cache.forget_user(id);
        Ok(result?.rows_affected == 1)
    }

    /// Deletes the account; its sessions go with it (foreign key cascade). Returns whether
    /// it existed.
    pub async fn delete(&self, id: UserId) -> Result<bool, RepoError> {
        let result = user::Entity::delete_by_id(id.as_uuid())
            .exec(&self.db)
            .await;
        self.cache.forget_user(id);
        Ok(result?.rows_affected > 0)
    }

    /// Activates or deactivates the account. Returns whether it existed.
    pub async fn set_active(
        &self,
        id: UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        self.update(
            id,
            user::ActiveModel {
                is_active: Set(active),
                updated_at: Set(now),
                ..Default::default()
            },
        )
        .await
    }

    /// Marks the address verified (or not). Returns the account as it now is, if it exists.
    pub async fn set_verified(
        &self,
        id: UserId,
        verified: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError> {
        let updated = self
            .update(
                id,
                user::ActiveModel {
                    is_verified: Set(verified),
                    updated_at: Set(now),
                    ..Default::default()
                },
            )
            .await?;
        if updated {
            self.find_by_id(id).await
        } else {
            Ok(None)
        }
    }

    /// Marks the address verified and records `event` in the same transaction. `None`
    /// when the account does not exist (then nothing is recorded).
    pub async fn verify_recorded(
        &self,
        id: UserId,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Option<User>, RepoError> {
        let txn = self.db.begin().await?;
        let row = user::ActiveModel {
            id: Set(id.as_uuid()),
            is_verified: Set(true),
            updated_at: Set(now),
            ..Default::default()
        };
        let updated = match row.update(&txn).await {
            Ok(updated) => updated,
            Err(sea_orm::DbErr::RecordNotUpdated) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let recorded = record_event(&txn, event).await?;
        let committed = txn.commit().await;
        self.cache.forget_user(id);
        committed?;
        recorded.committed();
        user::to_domain(updated).map(Some)
    }

    /// The user handle of the account's passkeys: the stored one, or `candidate` (random,
    /// made by the caller) stored now if the account has none. Concurrent first passkeys
    /// agree on one (a conditional `UPDATE`). `None` when the account does not exist.
    pub async fn passkey_handle(
        &self,
        id: UserId,
        candidate: &str,
    ) -> Result<Option<String>, RepoError> {
        user::Entity::update_many()
            .col_expr(user::Column::PasskeyHandle, Expr::value(candidate))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .filter(user::Column::PasskeyHandle.is_null())
            .exec(&self.db)
            .await?;
        self.stored_passkey_handle(id).await
    }

    /// The user handle of the account's passkeys, if one was made.
    pub async fn stored_passkey_handle(&self, id: UserId) -> Result<Option<String>, RepoError> {
        Ok(user::Entity::find_by_id(id.as_uuid())
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .and_then(|row| row.passkey_handle))
    }

    /// Writes the set columns of `row` to account `id`; false when no such user exists.
    /// Cached sessions of the account are forgotten whatever the outcome (a failed commit
    /// may still have applied).
    async fn update(&self, id: UserId, row: user::ActiveModel) -> Result<bool, RepoError> {
        let row = user::ActiveModel {
            id: Set(id.as_uuid()),
            ..row
        };
        let result = row.update(&self.db).await;
        self.cache.forget_user(id);
        match result {
            Ok(_) => Ok(true),
            Err(sea_orm::DbErr::RecordNotUpdated) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Inserts a new account on `db` (inside or outside a transaction).
/// Marks account `id`'s address verified; whether it was not before.
async fn mark_verified(
    db: &impl ConnectionTrait,
    id: UserId,
    now: DateTime<Utc>,
) -> Result<bool, RepoError> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::IsVerified, Expr::value(true))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id.as_uuid()))
        .filter(user::Column::IsVerified.eq(false))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub(crate) async fn insert_user(
    db: &impl ConnectionTrait,
    new: NewUser,
    is_active: bool,
    created_at: DateTime<Utc>,
) -> Result<User, RepoError> {
    let row = user::ActiveModel {
        id: Set(new.id.as_uuid()),
        email: Set(new.email.as_str().to_owned()),
        hashed_password: Set(new.password_hash.as_str().to_owned()),
        is_active: Set(is_active),
        is_verified: Set(false),
        is_superuser: Set(new.is_superuser),
        created_at: Set(created_at),
        updated_at: Set(created_at),
        ..Default::default()
    };
    user::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(|e| RepoError::unique_as(e, Conflict::EmailTaken))?;
    Ok(User {
        id: new.id,
        email: new.email,
        password_hash: new.password_hash,
        is_active,
        is_verified: false,
        is_superuser: new.is_superuser,
        created_at,
        updated_at: created_at,
    })
}
