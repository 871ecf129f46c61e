//! The audit log. An event is written by [`record_event`] on whatever connection the
//! change it records uses, so a change and its event commit together or not at all;
//! events that record no change (a failed login) go through [`AuditRepository::record`].

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    AuditContext, AuditEvent, AuditEventType, NewAuditEvent, SessionId, UserId,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
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

/// Writes `event` on `db` — the connection or transaction of the change it records.
pub(crate) async fn record_event(
    db: &impl ConnectionTrait,
    event: &NewAuditEvent,
) -> Result<(), RepoError> {
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
    Ok(())
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
        record_event(&self.db, event).await
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
        let mut query = audit_event::Entity::find();
        if let Some(user) = filter.user_id {
            query = query.filter(C::UserId.eq(user.as_uuid()));
        }
        if let Some(kind) = filter.event_type {
            query = query.filter(C::EventType.eq(kind.as_str()));
        }
        if let Some(since) = filter.since {
            query = query.filter(C::At.gte(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(C::At.lt(until));
        }
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
