use chrono::{DateTime, Duration, Timelike, Utc};
use gatehouse_domain::{ClientNetwork, Email};
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

/// A count with no failure for this long starts afresh: an attack that stopped leaves no
/// hair trigger behind (the owner's next typo would otherwise earn the longest back-off),
/// and a guesser who waits an hour between attempts gains nothing over the back-off.
const QUIET_RESET_MINUTES: i64 = 60;

/// The `network` of the row counting an address's failures from every network.
const ALL_NETWORKS: &str = "*";

/// The `network` of failures whose client address is not known (no peer address).
const UNKNOWN_NETWORK: &str = "unknown";

/// When back-offs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffThresholds {
    /// Failures for one address from one network before that network is held back.
    pub per_network: u32,
    /// Failures for one address from all networks together before every network is.
    pub account_wide: u32,
}

/// Failed password checks per email address and client network, and the back-offs they
/// earn: after a threshold, 1 s, then 2 s, 4 s … up to 15 minutes, for that network; past
/// the account-wide threshold, for every network. A count that saw no failure for an hour
/// starts again from one. Keyed by the address as typed, account or not, so a back-off
/// says nothing about which addresses have accounts.
#[derive(Debug, Clone)]
pub struct LoginThrottleRepository {
    db: DatabaseConnection,
}

fn network_key(network: Option<ClientNetwork>) -> String {
    network.map_or_else(|| UNKNOWN_NETWORK.to_owned(), |network| network.to_string())
}

impl LoginThrottleRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Until when password checks for `email` from `network` are refused, if they are at
    /// `now`: that network's back-off or the account-wide one, whichever ends later.
    pub async fn blocked_until(
        &self,
        email: &Email,
        network: Option<ClientNetwork>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, RepoError> {
        use login_throttle::Column as C;
        let rows = login_throttle::Entity::find()
            .filter(C::Email.eq(email.as_str()))
            .filter(C::Network.is_in([network_key(network), ALL_NETWORKS.to_owned()]))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| row.blocked_until)
            .filter(|until| *until > now)
            .max())
    }

    /// Counts a failed password check for `email` from `network`, toward that network's
    /// back-off and the account-wide one; from a threshold on, starts or doubles each.
    pub async fn record_failure(
        &self,
        email: &Email,
        network: Option<ClientNetwork>,
        thresholds: BackoffThresholds,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.count_failure(email, &network_key(network), thresholds.per_network, now)
            .await?;
        self.count_failure(email, ALL_NETWORKS, thresholds.account_wide, now)
            .await
    }

    async fn count_failure(
        &self,
        email: &Email,
        network: &str,
        threshold: u32,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        use login_throttle::Column as C;
        let key = (email.as_str().to_owned(), network.to_owned());
        let this_row = || C::Email.eq(key.0.clone()).and(C::Network.eq(key.1.clone()));
        // Increment in place, so racing failures all count; insert the first one. (The
        // count is set before `updated_at`: MySQL assigns left to right and would otherwise
        // compare with the new time.)
        let quiet_since = now - Duration::minutes(QUIET_RESET_MINUTES);
        let increment = || {
            login_throttle::Entity::update_many()
                .col_expr(
                    C::Failures,
                    Expr::case(Expr::col(C::UpdatedAt).lt(quiet_since), 1)
                        .finally(Expr::col(C::Failures).add(1))
                        .into(),
                )
                .col_expr(C::UpdatedAt, Expr::value(now))
                .filter(this_row())
                .exec(&self.db)
        };
        if increment().await?.rows_affected == 0 {
            let first = login_throttle::ActiveModel {
                email: Set(key.0.clone()),
                network: Set(key.1.clone()),
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
            let until = whole_second_after(now + Duration::seconds(seconds));
            // Only ever later: a racing failure that counted fewer must not shorten it.
            login_throttle::Entity::update_many()
                .col_expr(C::BlockedUntil, Expr::value(until))
                .filter(this_row())
                .filter(C::BlockedUntil.is_null().or(C::BlockedUntil.lt(until)))
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }

    /// A successful password check from `network`: that network starts afresh. The
    /// account-wide count stays (an attack spread over many networks is not forgiven
    /// because the owner signed in meanwhile).
    pub async fn clear_network(
        &self,
        email: &Email,
        network: Option<ClientNetwork>,
    ) -> Result<(), RepoError> {
        login_throttle::Entity::delete_by_id((email.as_str().to_owned(), network_key(network)))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A successful password reset: the address starts afresh everywhere (whoever reads
    /// its mail owns it).
    pub async fn clear_account(&self, email: &Email) -> Result<(), RepoError> {
        login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::Email.eq(email.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets counts with no failure since `before` (and so no back-off running).
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        let result = login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::UpdatedAt.lt(before))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
