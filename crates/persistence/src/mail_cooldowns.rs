use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::Email;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
    sea_query::Expr,
};

use crate::{RepoError, entity::mail_cooldown};

/// When the last account mail went to each address: at most one per cool-down, decided
/// by the database so every instance honours the same one.
#[derive(Debug, Clone)]
pub struct MailCooldownRepository {
    db: DatabaseConnection,
}

impl MailCooldownRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Claims the right to mail `email` now: `true` (and the cool-down starts) when no
    /// mail went to it within `cooldown` before `now`, else `false`. Of racing claims,
    /// one wins.
    pub async fn claim(
        &self,
        email: &Email,
        cooldown: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        use mail_cooldown::Column as C;
        // The cool-down is over: take the row in one conditional statement.
        let taken = mail_cooldown::Entity::update_many()
            .col_expr(C::SentAt, Expr::value(now))
            .filter(C::Email.eq(email.as_str()))
            .filter(C::SentAt.lte(now - cooldown))
            .exec(&self.db)
            .await?;
        if taken.rows_affected > 0 {
            return Ok(true);
        }
        // No row yet, or one within its cool-down (then the insert collides).
        let first = mail_cooldown::ActiveModel {
            email: Set(email.as_str().to_owned()),
            sent_at: Set(now),
        };
        match mail_cooldown::Entity::insert(first)
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Gives back a claim whose mail could not be prepared, so a retry need not wait.
    pub async fn release(&self, email: &Email) -> Result<(), RepoError> {
        mail_cooldown::Entity::delete_by_id(email.as_str().to_owned())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets addresses last mailed before `before`.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        let result = mail_cooldown::Entity::delete_many()
            .filter(mail_cooldown::Column::SentAt.lt(before))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
