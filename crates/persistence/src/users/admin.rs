//! What administrators do to accounts: list them, change them (ending sessions and mailed
//! links where the change calls for it) and delete them, never leaving no active
//! superuser; each change with its audit event in one transaction.

use chrono::{DateTime, Utc};
use gatehouse_domain::{Conflict, NewAuditEvent, User, UserId, UserUpdate};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::Expr,
};

use super::UserRepository;
use crate::{
    RepoError,
    audit::{Recorded, record_event, sessions_ended_by},
    entity::{mfa_challenge, user},
    one_time_tokens::delete_tokens_of,
    sessions::end_sessions_of,
};

impl UserRepository {
    /// A page of accounts, oldest first (`created_at`, then `id`), and the total count.
    pub async fn list(&self, limit: u64, offset: u64) -> Result<(Vec<User>, u64), RepoError> {
        self.search(None, limit, offset).await
    }

    /// [`list`](Self::list) of the accounts whose address contains `part` (any case; `%`
    /// and `_` are themselves), or of all with `None`.
    pub async fn search(
        &self,
        part: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<User>, u64), RepoError> {
        let mut query = user::Entity::find();
        if let Some(part) = part {
            // Addresses are stored in their canonical form (`Email::parse`: NFC,
            // lower-cased). `!` escapes: a backslash would need escaping itself in MySQL's
            // string literals.
            let escaped: String = gatehouse_domain::Email::canonical(part)
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '!' => vec!['!', c],
                    other => vec![other],
                })
                .collect();
            query = query.filter(
                user::Column::Email
                    .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('!')),
            );
        }
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_asc(user::Column::CreatedAt)
            .order_by_asc(user::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await?;
        let users = rows
            .into_iter()
            .map(user::to_domain)
            .collect::<Result<_, _>>()?;
        Ok((users, total))
    }

    /// Whether account `id` is the only active superuser: the one the last-superuser rule
    /// keeps (it cannot be deactivated, demoted or deleted). Read without locks, to be
    /// shown; the changes themselves decide under locks.
    pub async fn is_last_active_superuser(&self, id: UserId) -> Result<bool, RepoError> {
        let active = user::Entity::find()
            .filter(user::Column::IsSuperuser.eq(true))
            .filter(user::Column::IsActive.eq(true));
        let others = active
            .clone()
            .filter(user::Column::Id.ne(id.as_uuid()))
            .count(&self.db)
            .await?;
        if others > 0 {
            return Ok(false);
        }
        let this_one = active
            .filter(user::Column::Id.eq(id.as_uuid()))
            .count(&self.db)
            .await?;
        Ok(this_one == 1)
    }

    /// The addresses of the accounts among `ids` that exist.
    pub async fn emails_of(
        &self,
        ids: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, String>, RepoError> {
        if ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let rows: Vec<(uuid::Uuid, String)> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::Email)
            .filter(user::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, email)| (UserId::from_uuid(id), email))
            .collect())
    }

    /// Applies an administrator's change. `None` when the account does not exist.
    /// [`Conflict::EmailTaken`] for a taken address; [`Conflict::LastSuperuser`] when the
    /// change would leave no active superuser, decided under locks so that two
    /// administrators demoting each other at once cannot both succeed. In the same
    /// transaction, a new password or a deactivation ends every session of the account
    /// ([`UserUpdate::ends_sessions`]) and a new address removes the links mailed to the
    /// old one: all of it happens, or none.
    pub async fn update_as_admin(
        &self,
        id: UserId,
        update: UserUpdate,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError> {
        self.update_as_admin_recorded(id, update, now, None).await
    }

    /// [`update_as_admin`](Self::update_as_admin), recording `event` (with the names of the
    /// fields changed and the number of sessions ended) in the same transaction.
    pub async fn update_as_admin_recorded(
        &self,
        id: UserId,
        update: UserUpdate,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<Option<User>, RepoError> {
        let txn = self.db.begin().await?;
        let Some(current) = locked_for_change(&txn, id).await? else {
            return Ok(None);
        };
        if current.loses_superuser_power(&update) {
            ensure_another_active_superuser(&txn, id).await?;
        }
        let mut row = user::ActiveModel {
            id: Set(id.as_uuid()),
            updated_at: Set(now),
            ..Default::default()
        };
        if let Some(email) = &update.email {
            row.email = Set(email.as_str().to_owned());
        }
        if let Some(hash) = &update.password_hash {
            row.hashed_password = Set(hash.as_str().to_owned());
        }
        if let Some(active) = update.is_active {
            row.is_active = Set(active);
        }
        if let Some(superuser) = update.is_superuser {
            row.is_superuser = Set(superuser);
        }
        if let Some(verified) = update.is_verified {
            row.is_verified = Set(verified);
        }
        let updated = row
            .update(&txn)
            .await
            .map_err(|e| RepoError::unique_as(e, Conflict::EmailTaken))?;
        let ended = if update.ends_sessions() {
            // So do logins waiting for their second step (begun with the old password,
            // or by an account that may no longer sign in).
            mfa_challenge::Entity::delete_many()
                .filter(mfa_challenge::Column::UserId.eq(id.as_uuid()))
                .exec(&txn)
                .await?;
            end_sessions_of(&txn, id, None, now).await?
        } else {
            0
        };
        if current.changes_address(&update) {
            delete_tokens_of(&txn, id).await?;
        }
        let mut recorded = Vec::new();
        if let Some(event) = event {
            let event = event
                .clone()
                .with("fields", update.field_names())
                .with("sessions_ended", ended.to_string());
            recorded.push(record_event(&txn, &event).await?);
            if let Some(ending) = sessions_ended_by(&event, ended) {
                recorded.push(record_event(&txn, &ending).await?);
            }
        }
        let committed = txn.commit().await;
        self.cache.forget_user(id);
        committed?;
        recorded.into_iter().for_each(Recorded::committed);
        user::to_domain(updated).map(Some)
    }

    /// Deletes the account (its sessions and tokens go with it) unless it is the last
    /// active superuser ([`Conflict::LastSuperuser`]). Returns whether it existed.
    pub async fn delete_as_admin(&self, id: UserId) -> Result<bool, RepoError> {
        self.delete_as_admin_recorded(id, None).await
    }

    /// [`delete_as_admin`](Self::delete_as_admin), recording `event` in the same
    /// transaction.
    pub async fn delete_as_admin_recorded(
        &self,
        id: UserId,
        event: Option<&NewAuditEvent>,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        let Some(current) = locked_for_change(&txn, id).await? else {
            return Ok(false);
        };
        if current.is_active_superuser() {
            ensure_another_active_superuser(&txn, id).await?;
        }
        user::Entity::delete_by_id(id.as_uuid()).exec(&txn).await?;
        let recorded = match event {
            Some(event) => Some(record_event(&txn, event).await?),
            None => None,
        };
        let committed = txn.commit().await;
        self.cache.forget_user(id);
        committed?;
        if let Some(recorded) = recorded {
            recorded.committed();
        }
        Ok(true)
    }
}

/// Reads the account inside `txn`, locked against concurrent admin changes. Postgres and
/// MySQL lock the active superusers (in id order, so two such transactions cannot
/// deadlock) and then the row; SQLite has no row locks, so a no-op write takes its
/// database-wide write lock first, and racing transactions wait for each other instead
/// of failing on a lock upgrade.
async fn locked_for_change(
    txn: &DatabaseTransaction,
    id: UserId,
) -> Result<Option<User>, RepoError> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        user::Entity::update_many()
            .col_expr(user::Column::UpdatedAt, Expr::col(user::Column::UpdatedAt))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .exec(txn)
            .await?;
    } else {
        user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::IsSuperuser.eq(true))
            .filter(user::Column::IsActive.eq(true))
            .order_by_asc(user::Column::Id)
            .lock_exclusive()
            .into_tuple::<uuid::Uuid>()
            .all(txn)
            .await?;
    }
    user::Entity::find_by_id(id.as_uuid())
        .lock_exclusive()
        .one(txn)
        .await?
        .map(user::to_domain)
        .transpose()
}

async fn ensure_another_active_superuser(
    txn: &DatabaseTransaction,
    id: UserId,
) -> Result<(), RepoError> {
    let others = user::Entity::find()
        .filter(user::Column::IsSuperuser.eq(true))
        .filter(user::Column::IsActive.eq(true))
        .filter(user::Column::Id.ne(id.as_uuid()))
        .count(txn)
        .await?;
    if others == 0 {
        return Err(RepoError::Conflict(Conflict::LastSuperuser));
    }
    Ok(())
}
