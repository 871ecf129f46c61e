//! Roles and who holds them. Every change is recorded with its audit event in the same
//! transaction; a change that changes nothing (a role already held, one not held) records
//! nothing. The roles of an account are read on every token issued: one lookup by the
//! primary key's first column.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gatehouse_domain::{Conflict, HeldRoles, NewAuditEvent, Role, RoleName, UserId};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, SqlErr, TransactionTrait,
};

use crate::{
    RepoError,
    audit::record_event,
    entity::{role, user, user_role},
};

/// What a grant did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleGrant {
    /// The account holds the role now.
    Granted,
    /// It held it already: nothing changed.
    AlreadyHeld,
    /// No account has this id.
    NoSuchUser,
    /// No role has this name.
    NoSuchRole,
}

/// Roles and their grants.
#[derive(Debug, Clone)]
pub struct RoleRepository {
    db: DatabaseConnection,
}

impl RoleRepository {
    /// Roles in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Every role, by name, with how many accounts hold it.
    pub async fn list(&self) -> Result<Vec<Role>, RepoError> {
        let roles = role::Entity::find().all(&self.db).await?;
        let counts: HashMap<String, i64> = user_role::Entity::find()
            .select_only()
            .column(user_role::Column::RoleName)
            .column_as(user_role::Column::UserId.count(), "members")
            .group_by(user_role::Column::RoleName)
            .into_tuple::<(String, i64)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        // Sorted here, byte by byte as tokens list them: Postgres' collation would
        // otherwise skip punctuation (`ab` before `a-c`) where SQLite and MariaDB do not.
        let mut roles: Vec<Role> = roles
            .into_iter()
            .map(|row| {
                let members = counts.get(&row.name).copied().unwrap_or(0);
                Role {
                    name: RoleName::from_stored(row.name),
                    description: row.description,
                    members: members.unsigned_abs(),
                }
            })
            .collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    /// Makes role `name` and records `event`; [`Conflict::RoleExists`] when the name is
    /// taken (the primary key decides, so two racing creations cannot both succeed).
    pub async fn create(
        &self,
        name: &RoleName,
        description: &str,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Role, RepoError> {
        let row = role::ActiveModel {
            name: Set(name.as_str().to_owned()),
            description: Set(description.to_owned()),
            created_at: Set(now),
        };
        let txn = self.db.begin().await?;
        role::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|error| RepoError::unique_as(error, Conflict::RoleExists))?;
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(Role {
            name: name.clone(),
            description: description.to_owned(),
            members: 0,
        })
    }

    /// Deletes role `name`: its members lose it. Records `event` with `details.members`,
    /// how many held it; `None` when there is no such role.
    pub async fn delete(
        &self,
        name: &RoleName,
        event: NewAuditEvent,
    ) -> Result<Option<u64>, RepoError> {
        let txn = self.db.begin().await?;
        // The role's row is locked first, so a grant racing this delete waits for it (its
        // foreign-key check reads that row) instead of deadlocking with it on MariaDB or
        // slipping in uncounted; SQLite has one writer at a time and no row locks, and a
        // read first there would only risk a failed upgrade to a write.
        if self.db.get_database_backend() != DbBackend::Sqlite {
            role::Entity::find_by_id(name.as_str().to_owned())
                .select_only()
                .column(role::Column::Name)
                .lock_exclusive()
                .into_tuple::<String>()
                .all(&txn)
                .await?;
        }
        // Then the grants, counted as they are removed.
        let members = user_role::Entity::delete_many()
            .filter(user_role::Column::RoleName.eq(name.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        let deleted = role::Entity::delete_many()
            .filter(role::Column::Name.eq(name.as_str()))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Ok(None);
        }
        let event = event.with("members", members.to_string());
        let recorded = record_event(&txn, &event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(Some(members))
    }

    /// Gives account `user_id` role `name` and records `event`, unless it held it already.
    /// The `INSERT` comes first and its keys decide (a write first, so SQLite takes its
    /// lock at once rather than failing to upgrade a read); only a refused one reads why.
    pub async fn grant(
        &self,
        user_id: UserId,
        name: &RoleName,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<RoleGrant, RepoError> {
        let row = user_role::ActiveModel {
            user_id: Set(user_id.as_uuid()),
            role_name: Set(name.as_str().to_owned()),
            granted_at: Set(now),
        };
        let txn = self.db.begin().await?;
        let inserted = user_role::Entity::insert(row)
            .exec_without_returning(&txn)
            .await;
        match inserted {
            Ok(_) => {
                let recorded = record_event(&txn, event).await?;
                txn.commit().await?;
                recorded.committed();
                Ok(RoleGrant::Granted)
            }
            Err(error) => {
                txn.rollback().await?;
                match error.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => Ok(RoleGrant::AlreadyHeld),
                    Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                        self.missing_for_grant(user_id).await
                    }
                    _ => Err(error.into()),
                }
            }
        }
    }

    /// Which side of a refused grant is missing: the account, else the role.
    async fn missing_for_grant(&self, user_id: UserId) -> Result<RoleGrant, RepoError> {
        let account = user::Entity::find_by_id(user_id.as_uuid())
            .all(&self.db)
            .await?;
        Ok(if account.is_empty() {
            RoleGrant::NoSuchUser
        } else {
            RoleGrant::NoSuchRole
        })
    }

    /// Takes role `name` from account `user_id` and records `event`; `false` when the
    /// account did not hold it (nothing is recorded then).
    pub async fn revoke(
        &self,
        user_id: UserId,
        name: &RoleName,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        let removed = user_role::Entity::delete_many()
            .filter(user_role::Column::UserId.eq(user_id.as_uuid()))
            .filter(user_role::Column::RoleName.eq(name.as_str()))
            .exec(&txn)
            .await?;
        if removed.rows_affected == 0 {
            return Ok(false);
        }
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(true)
    }

    /// The roles account `user_id` holds now.
    pub async fn held_by(&self, user_id: UserId) -> Result<HeldRoles, RepoError> {
        roles_held_by(&self.db, user_id).await
    }

    /// The roles each of `users` holds now (an account holding none is absent).
    pub async fn held_by_each(
        &self,
        users: &[UserId],
    ) -> Result<HashMap<UserId, HeldRoles>, RepoError> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = user_role::Entity::find()
            .select_only()
            .column(user_role::Column::UserId)
            .column(user_role::Column::RoleName)
            .filter(user_role::Column::UserId.is_in(users.iter().map(|id| id.as_uuid())))
            .into_tuple::<(uuid::Uuid, String)>()
            .all(&self.db)
            .await?;
        let mut names: HashMap<UserId, Vec<RoleName>> = HashMap::new();
        for (user_id, name) in rows {
            names
                .entry(UserId::from_uuid(user_id))
                .or_default()
                .push(RoleName::from_stored(name));
        }
        Ok(names
            .into_iter()
            .map(|(user_id, names)| (user_id, HeldRoles::new(names)))
            .collect())
    }
}

/// The roles account `user_id` holds now, read on `db`.
pub(crate) async fn roles_held_by(
    db: &DatabaseConnection,
    user_id: UserId,
) -> Result<HeldRoles, RepoError> {
    let names = user_role::Entity::find()
        .select_only()
        .column(user_role::Column::RoleName)
        .filter(user_role::Column::UserId.eq(user_id.as_uuid()))
        .into_tuple::<String>()
        .all(db)
        .await?;
    Ok(HeldRoles::new(names.into_iter().map(RoleName::from_stored)))
}
