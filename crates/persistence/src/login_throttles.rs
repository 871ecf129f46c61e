use chrono::{DateTime, Duration, Timelike, Utc};
use gatehouse_domain::{ClientNetwork, Email};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, SqlErr, TransactionTrait,
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

/// What [`LoginThrottleRepository::reserve_attempt`] decided.
#[derive(Debug)]
pub enum Reservation {
    /// Counted as a failure; judge it, and give the count back if it proves right.
    Reserved(ReservedAttempt),
    /// A back-off runs until then: the check is not judged.
    BackedOff(DateTime<Utc>),
}

/// A password check counted before it was judged: what giving it back undoes.
#[derive(Debug)]
pub struct ReservedAttempt {
    network: Option<ClientNetwork>,
    /// The counts whose back-off this check started or doubled: (network key, the
    /// back-off before, the one it set).
    started: Vec<(String, Option<DateTime<Utc>>, DateTime<Utc>)>,
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

    /// Reserves one password check for `email` from `network`, counting it as a failure
    /// before it is judged: `Some(until)` refuses it (a back-off runs until then), `None`
    /// lets it through, already counted toward both back-offs (a failure from a threshold
    /// on starts or doubles each). Attempts take turns on the two counts, so of any number
    /// of concurrent checks no more are judged than one after another would be; a check
    /// that turns out right gives its count back ([`withdraw`](Self::withdraw),
    /// [`signed_in`](Self::signed_in)).
    pub async fn reserve_attempt(
        &self,
        email: &Email,
        network: Option<ClientNetwork>,
        thresholds: BackoffThresholds,
        now: DateTime<Utc>,
    ) -> Result<Reservation, RepoError> {
        use login_throttle::Column as C;
        let counts = [
            (network_key(network), thresholds.per_network),
            (ALL_NETWORKS.to_owned(), thresholds.account_wide),
        ];
        let keys = || counts.iter().map(|(key, _)| key.clone());
        let these_rows = || {
            C::Email
                .eq(email.as_str())
                .and(C::Network.is_in(keys().collect::<Vec<_>>()))
        };
        // A row removed between its insert and the turn-taking (a sign-in, a reset, the
        // purge) is inserted again: every check is counted on both rows.
        let mut tries = 0;
        let (txn, rows) = loop {
            tries += 1;
            self.ensure_rows(email, keys(), now).await?;
            let txn = self.db.begin().await?;
            // Take turns on the address's two rows (SQLite: its write lock, by a write
            // that changes nothing).
            let rows = if txn.get_database_backend() == DatabaseBackend::Sqlite {
                login_throttle::Entity::update_many()
                    .col_expr(C::Failures, Expr::col(C::Failures))
                    .filter(these_rows())
                    .exec(&txn)
                    .await?;
                login_throttle::Entity::find()
                    .filter(these_rows())
                    .all(&txn)
                    .await?
            } else {
                login_throttle::Entity::find()
                    .filter(these_rows())
                    .lock_exclusive()
                    .all(&txn)
                    .await?
            };
            if rows.len() == counts.len() || tries == 3 {
                break (txn, rows);
            }
        };
        if let Some(until) = rows
            .iter()
            .filter_map(|row| row.blocked_until)
            .filter(|until| *until > now)
            .max()
        {
            return Ok(Reservation::BackedOff(until));
        }
        let mut reserved = ReservedAttempt {
            network,
            started: Vec::new(),
        };
        let quiet_since = now - Duration::minutes(QUIET_RESET_MINUTES);
        for row in rows {
            let threshold = counts
                .iter()
                .find(|(key, _)| *key == row.network)
                .map_or(u32::MAX, |(_, threshold)| *threshold);
            let failures = if row.updated_at < quiet_since {
                1
            } else {
                u32::try_from(row.failures).unwrap_or(0).saturating_add(1)
            };
            let blocked_until = if failures >= threshold {
                let doublings = Ord::min(failures - threshold, 20);
                let seconds = Ord::min(1_i64 << doublings, MAX_BACKOFF_SECONDS);
                let until = whole_second_after(now + Duration::seconds(seconds));
                reserved
                    .started
                    .push((row.network.clone(), row.blocked_until, until));
                Some(until)
            } else {
                row.blocked_until
            };
            login_throttle::Entity::update_many()
                .col_expr(
                    C::Failures,
                    Expr::value(i32::try_from(failures).unwrap_or(i32::MAX)),
                )
                .col_expr(C::BlockedUntil, Expr::value(blocked_until))
                .col_expr(C::UpdatedAt, Expr::value(now))
                .filter(C::Email.eq(row.email.as_str()))
                .filter(C::Network.eq(row.network.as_str()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Reservation::Reserved(reserved))
    }

    /// Inserts the counts of `keys` that do not exist yet (at zero), so that attempts can
    /// take turns on them.
    async fn ensure_rows(
        &self,
        email: &Email,
        keys: impl Iterator<Item = String>,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        use login_throttle::Column as C;
        let keys: Vec<String> = keys.collect();
        let existing: Vec<String> = login_throttle::Entity::find()
            .filter(C::Email.eq(email.as_str()))
            .filter(C::Network.is_in(keys.clone()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| row.network)
            .collect();
        for key in keys.into_iter().filter(|key| !existing.contains(key)) {
            let first = login_throttle::ActiveModel {
                email: Set(email.as_str().to_owned()),
                network: Set(key),
                failures: Set(0),
                blocked_until: Set(None),
                updated_at: Set(now),
            };
            if let Err(e) = login_throttle::Entity::insert(first)
                .exec_without_returning(&self.db)
                .await
            {
                // Another request inserted it first: as good.
                if !matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// A reserved check was right but signed nobody in yet (a second step follows, or the
    /// account is refused): its count is given back, and a back-off it started (as the
    /// failure it was counted as) is undone unless a later failure moved it.
    pub async fn withdraw(
        &self,
        email: &Email,
        reserved: ReservedAttempt,
    ) -> Result<(), RepoError> {
        let keys = [network_key(reserved.network), ALL_NETWORKS.to_owned()];
        self.give_back(email, &keys, &reserved).await
    }

    /// A reserved check completed a sign-in (or proved the password of a signed-in
    /// caller): that network starts afresh, and the account-wide count gets the check's
    /// count back. The account-wide failures stay (an attack spread over many networks is
    /// not forgiven because the owner signed in meanwhile).
    pub async fn signed_in(
        &self,
        email: &Email,
        reserved: ReservedAttempt,
    ) -> Result<(), RepoError> {
        login_throttle::Entity::delete_by_id((
            email.as_str().to_owned(),
            network_key(reserved.network),
        ))
        .exec(&self.db)
        .await?;
        self.give_back(email, &[ALL_NETWORKS.to_owned()], &reserved)
            .await
    }

    async fn give_back(
        &self,
        email: &Email,
        keys: &[String],
        reserved: &ReservedAttempt,
    ) -> Result<(), RepoError> {
        use login_throttle::Column as C;
        login_throttle::Entity::update_many()
            .col_expr(C::Failures, Expr::col(C::Failures).sub(1))
            .filter(C::Email.eq(email.as_str()))
            .filter(C::Network.is_in(keys.iter().cloned()))
            .filter(C::Failures.gt(0))
            .exec(&self.db)
            .await?;
        for (key, previous, set) in &reserved.started {
            if !keys.contains(key) {
                continue;
            }
            login_throttle::Entity::update_many()
                .col_expr(C::BlockedUntil, Expr::value(*previous))
                .filter(C::Email.eq(email.as_str()))
                .filter(C::Network.eq(key.as_str()))
                .filter(C::BlockedUntil.eq(*set))
                .exec(&self.db)
                .await?;
        }
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
