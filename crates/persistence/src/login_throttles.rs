use chrono::{DateTime, Duration, Timelike, Utc};
use gatehouse_domain::Email;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
    sea_query::{Expr, ExprTrait},
};

use crate::{RepoError, entity::login_throttle};

/// `at`, rounded up to a whole second: MySQL's timestamps drop fractions, and a back-off
/// must never end early.
fn whole_second_after(at: DateTime<Utc>) -> DateTime<Utc> {
    match at.with_nanosecond(0) {
        Some(truncated) if truncated < at => truncated + Duration::seconds(1),
        _ => at,
    }
}

/// The longest back-off (15 minutes).
const MAX_BACKOFF_SECONDS: i64 = 15 * 60;

/// Failed logins per email address and the back-off they earn: after `threshold`
/// failures, 1 s, then 2 s, 4 s … up to 15 minutes.
#[derive(Debug, Clone)]
pub struct LoginThrottleRepository {
    db: DatabaseConnection,
}

impl LoginThrottleRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Until when logins for `email` are refused, if they are at `now`.
    pub async fn blocked_until(
        &self,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, RepoError> {
        let row = login_throttle::Entity::find_by_id(email.as_str().to_owned())
            .all(&self.db)
            .await?
            .into_iter()
            .next();
        Ok(row
            .and_then(|row| row.blocked_until)
            .filter(|until| *until > now))
    }

    /// Counts a failed login; from the `threshold`th on, starts or doubles the back-off.
    /// Returns the failure count.
    pub async fn record_failure(
        &self,
        email: &Email,
        threshold: u32,
        now: DateTime<Utc>,
    ) -> Result<u32, RepoError> {
        use login_throttle::Column as C;
        let key = email.as_str().to_owned();
        // Increment in place, so racing failures all count; insert the first one.
        let increment = || {
            login_throttle::Entity::update_many()
                .col_expr(C::Failures, Expr::col(C::Failures).add(1))
                .col_expr(C::UpdatedAt, Expr::value(now))
                .filter(C::Email.eq(key.clone()))
                .exec(&self.db)
        };
        if increment().await?.rows_affected == 0 {
            let first = login_throttle::ActiveModel {
                email: Set(key.clone()),
                failures: Set(1),
                blocked_until: Set(None),
                updated_at: Set(now),
            };
            if let Err(e) = login_throttle::Entity::insert(first)
                .exec_without_returning(&self.db)
                .await
            {
                // Another request inserted it first: count this one on top.
                if !matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                    return Err(e.into());
                }
                increment().await?;
            }
        }
        let failures = login_throttle::Entity::find_by_id(key.clone())
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map_or(1, |row| u32::try_from(row.failures).unwrap_or(u32::MAX));
        if failures >= threshold {
            let doublings = Ord::min(failures - threshold, 20);
            let seconds = Ord::min(1_i64 << doublings, MAX_BACKOFF_SECONDS);
            login_throttle::Entity::update_many()
                .col_expr(
                    C::BlockedUntil,
                    Expr::value(whole_second_after(now + Duration::seconds(seconds))),
                )
                .filter(C::Email.eq(key))
                .exec(&self.db)
                .await?;
        }
        Ok(failures)
    }

    /// A successful login: the address starts afresh.
    pub async fn clear(&self, email: &Email) -> Result<(), RepoError> {
        login_throttle::Entity::delete_by_id(email.as_str().to_owned())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets addresses with no failure since `before` and no back-off running.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        let result = login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::UpdatedAt.lt(before))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
