//! The audit log. An event is written by [`record_event`] on whatever connection the
//! change it records uses, so a change and its event commit together or not at all;
//! events that record no change (a failed login) go through [`AuditRepository::record`].

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    AuditContext, AuditEvent, AuditEventType, NewAuditEvent, SessionId, UserId,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::{RepoError, entity::audit_event};

/// Longest `User-Agent` kept with an event (the column's size).
const USER_AGENT_MAX_CHARS: usize = 512;

/// Which events a listing wants; every part optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this account's.
    pub user_id: Option<UserId>,
    /// Only this kind.
    pub event_type: Option<AuditEventType>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}

/// Events stored by this process since it started, by kind (indexed in the order of
/// [`AuditEventType::ALL`], which is the order the kinds are declared in).
static RECORDED: [AtomicU64; AuditEventType::ALL.len()] =
    [const { AtomicU64::new(0) }; AuditEventType::ALL.len()];

/// How many events of each kind this process has stored since it started (committed
/// ones only), every kind listed: for metrics.
pub fn recorded_audit_events() -> impl Iterator<Item = (AuditEventType, u64)> {
    AuditEventType::ALL
        .iter()
        .map(|kind| (*kind, RECORDED[*kind as usize].load(Ordering::Relaxed)))
}

/// An event written in a transaction not yet committed. The compiler insists that it is
/// used, so every place that records an event also counts it — after the commit, so a
/// rolled-back event is never counted.
#[must_use = "call `committed()` once the event's transaction has committed"]
pub(crate) struct Recorded(AuditEventType);

impl Recorded {
    /// Counts the event: its transaction has committed.
    pub(crate) fn committed(self) {
        RECORDED[self.0 as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// The `session.ended` recorded beside `cause` (a password change or reset, an
/// administrator's change) when it ended `ended` sessions; `None` when it ended none.
pub(crate) fn sessions_ended_by(cause: &NewAuditEvent, ended: u64) -> Option<NewAuditEvent> {
    let reason = match cause.event_type {
        AuditEventType::PasswordChanged => "password_change",
        AuditEventType::PasswordReset => "password_reset",
        AuditEventType::TotpEnabled | AuditEventType::PasskeyAdded => "second_factor_added",
        AuditEventType::PasskeyRemoved => "passkey_removed",
        _ => "admin",
    };
    let mut ending = NewAuditEvent {
        event_type: AuditEventType::SessionEnded,
        // The session a change was made in is the one kept, not one that ended.
        session_id: None,
        details: std::collections::BTreeMap::new(),
        ..cause.clone()
    }
    .with("reason", reason)
    .with("sessions_ended", ended.to_string());
    if let Some(by) = cause.details.get("by") {
        ending = ending.with("by", by.clone());
    }
    (ended > 0).then_some(ending)
}

/// Writes `event` on `db` — the connection or transaction of the change it records.
pub(crate) async fn record_event(
    db: &impl ConnectionTrait,
    event: &NewAuditEvent,
) -> Result<Recorded, RepoError> {
    let details = serde_json::to_string(&event.details)
        .map_err(|e| RepoError::Corrupt(format!("audit details: {e}")))?;
    let row = audit_event::ActiveModel {
        id: NotSet,
        at: Set(event.at),
        event_type: Set(event.event_type.as_str().to_owned()),
        user_id: Set(event.user_id.map(|id| id.as_uuid())),
        actor_id: Set(event.context.actor_id.map(|id| id.as_uuid())),
        ip: Set(event.context.ip.clone()),
        user_agent: Set(event
            .context
            .user_agent
            .as_ref()
            .map(|agent| agent.chars().take(USER_AGENT_MAX_CHARS).collect())),
        request_id: Set(event.context.request_id.clone()),
        session_id: Set(event.session_id.map(|id| id.as_uuid())),
        details: Set(details),
    };
    audit_event::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(Recorded(event.event_type))
}

/// Reads and keeps the audit log.
#[derive(Debug, Clone)]
pub struct AuditRepository {
    db: DatabaseConnection,
}

impl AuditRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores an event that records no change of its own (a failed login, a refusal).
    pub async fn record(&self, event: &NewAuditEvent) -> Result<(), RepoError> {
        record_event(&self.db, event).await?.committed();
        Ok(())
    }

    /// Up to `limit` events matching `filter`, oldest first, newer than `after` (the last
    /// id of the previous batch) when given: for exports, which read the log in order in
    /// batches of bounded size.
    pub async fn list_oldest_first(
        &self,
        filter: &AuditFilter,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, RepoError> {
        let mut query = filtered(filter, self.db.get_database_backend());
        if let Some(after) = after {
            query = query.filter(audit_event::Column::Id.gt(after));
        }
        query
            .order_by_asc(audit_event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    /// How many events match `filter`.
    pub async fn count(&self, filter: &AuditFilter) -> Result<u64, RepoError> {
        Ok(filtered(filter, self.db.get_database_backend())
            .count(&self.db)
            .await?)
    }

    /// Up to `limit` events matching `filter`, newest first, older than `before` (an id
    /// from the previous page) when given; and the id to continue from, when there may
    /// be more. Ids grow with every insert, so paging this way returns each event once
    /// whatever is added meanwhile (new events come before the first page).
    pub async fn list(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<AuditEvent>, Option<i64>), RepoError> {
        use audit_event::Column as C;
        let mut query = filtered(filter, self.db.get_database_backend());
        if let Some(before) = before {
            query = query.filter(C::Id.lt(before));
        }
        // One more than asked for tells whether another page exists.
        let mut rows = query
            .order_by_desc(C::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = more.then(|| rows.last().map(|row| row.id)).flatten();
        let events = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
        Ok((events, next))
    }

    /// Deletes events from before `before`. Returns how many.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        let result = audit_event::Entity::delete_many()
            .filter(audit_event::Column::At.lt(before))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}

/// The events `filter` selects, in no particular order.
/// The query for `filter`. MySQL and MariaDB keep `at` as a `TIMESTAMP`, whose range is
/// 1970-01-01T00:00:01Z to 2038-01-19T03:14:07Z: a bound beyond it would be compared
/// as no time at all (and match nothing), so a bound that every stored time meets is
/// left out there.
fn filtered(filter: &AuditFilter, backend: DbBackend) -> Select<audit_event::Entity> {
    use audit_event::Column as C;
    let timestamps = (backend == DbBackend::MySql).then(|| {
        (
            DateTime::from_timestamp(1, 0).unwrap_or_default(),
            DateTime::from_timestamp(i64::from(i32::MAX), 0).unwrap_or_default(),
        )
    });
    let since = filter
        .since
        .filter(|since| timestamps.is_none_or(|(first, _)| *since > first));
    let until = filter
        .until
        .filter(|until| timestamps.is_none_or(|(_, last)| *until <= last));
    let mut query = audit_event::Entity::find();
    if let Some(user) = filter.user_id {
        query = query.filter(C::UserId.eq(user.as_uuid()));
    }
    if let Some(kind) = filter.event_type {
        query = query.filter(C::EventType.eq(kind.as_str()));
    }
    if let Some(since) = since {
        query = query.filter(C::At.gte(since));
    }
    if let Some(until) = until {
        query = query.filter(C::At.lt(until));
    }
    query
}

fn to_domain(row: audit_event::Model) -> Result<AuditEvent, RepoError> {
    let corrupt = |what: &str| RepoError::Corrupt(format!("audit event {}: {what}", row.id));
    let event_type = AuditEventType::parse(&row.event_type)
        .ok_or_else(|| corrupt(&format!("unknown type {:?}", row.event_type)))?;
    let details = serde_json::from_str(&row.details).map_err(|e| corrupt(&e.to_string()))?;
    Ok(AuditEvent {
        id: row.id,
        event: NewAuditEvent {
            at: row.at,
            event_type,
            user_id: row.user_id.map(UserId::from_uuid),
            session_id: row.session_id.map(SessionId::from_uuid),
            context: AuditContext {
                actor_id: row.actor_id.map(UserId::from_uuid),
                ip: row.ip,
                user_agent: row.user_agent,
                request_id: row.request_id,
            },
            details,
        },
    })
}
