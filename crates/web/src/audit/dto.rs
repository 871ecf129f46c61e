//! The audit listing's query and answer.

use chrono::{DateTime, Utc};
use gatehouse_domain::{AuditEvent, AuditEventType, UserId};
use gatehouse_persistence::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    dto::{FieldErrors, rfc3339_seconds},
    error::{ApiError, FieldError},
};

/// The most events one page holds.
pub const MAX_AUDIT_PAGE: u64 = 500;

/// `GET /audit-events` filters and paging; every value is raw text, checked in
/// [`parse`](Self::parse) so a bad one is a 422 naming it.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only this account's events.
    #[param(value_type = Option<Uuid>)]
    pub user_id: Option<String>,
    /// Only this kind (`login.failed`, …).
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<String>)]
    pub event_type: Option<String>,
    /// At or after this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Before this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A checked audit query.
#[derive(Debug)]
pub struct AuditPageRequest {
    /// What to list.
    pub filter: AuditFilter,
    /// Where to continue.
    pub before: Option<i64>,
    /// How many.
    pub limit: u64,
}

fn invalid(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

impl AuditQuery {
    /// The filter and page, or one 422 naming every bad parameter.
    pub fn parse(&self) -> Result<AuditPageRequest, ApiError> {
        let mut errors = FieldErrors::default();
        let time = |field: &str, raw: &Option<String>| {
            raw.as_deref()
                .map(|raw| {
                    DateTime::parse_from_rfc3339(raw.trim())
                        .map(|at| at.with_timezone(&Utc))
                        .map_err(|_| invalid(field, "must be an RFC 3339 time"))
                })
                .transpose()
        };
        let user_id = errors.check(
            self.user_id
                .as_deref()
                .map(|raw| {
                    UserId::parse(raw.trim()).ok_or_else(|| invalid("user_id", "must be a UUID"))
                })
                .transpose(),
        );
        let event_type = errors.check(
            self.event_type
                .as_deref()
                .map(|raw| {
                    AuditEventType::parse(raw.trim())
                        .ok_or_else(|| invalid("type", "unknown event type"))
                })
                .transpose(),
        );
        let since = errors.check(time("since", &self.since));
        let until = errors.check(time("until", &self.until));
        let limit = errors.check(match self.limit.as_deref() {
            None => Ok(100),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|limit| (1..=MAX_AUDIT_PAGE).contains(limit))
                .ok_or_else(|| invalid("limit", "must be between 1 and 500")),
        });
        let before = errors.check(
            self.cursor
                .as_deref()
                .map(|raw| {
                    raw.trim()
                        .parse::<i64>()
                        .map_err(|_| invalid("cursor", "not a cursor this service gave"))
                })
                .transpose(),
        );
        let parsed = user_id
            .zip(event_type)
            .zip(since.zip(until))
            .zip(limit.zip(before))
            .map(
                |(((user_id, event_type), (since, until)), (limit, before))| AuditPageRequest {
                    filter: AuditFilter {
                        user_id,
                        event_type,
                        since,
                        until,
                    },
                    before,
                    limit,
                },
            );
        errors.finish(parsed)
    }
}

/// One stored event, as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventOut {
    /// Its place in the log (larger is later).
    pub id: i64,
    /// When it happened.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T10:00:00Z")]
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(rename = "type")]
    #[schema(example = "login.failed")]
    pub event_type: &'static str,
    /// The account concerned.
    pub user_id: Option<Uuid>,
    /// Who acted, when not the account itself (an administrator).
    pub actor_id: Option<Uuid>,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// The session involved.
    pub session_id: Option<Uuid>,
    /// Names and reasons; never a secret.
    #[schema(value_type = Object)]
    pub details: std::collections::BTreeMap<String, String>,
}

impl From<AuditEvent> for AuditEventOut {
    fn from(stored: AuditEvent) -> Self {
        let event = stored.event;
        Self {
            id: stored.id,
            at: event.at,
            event_type: event.event_type.as_str(),
            user_id: event.user_id.map(|id| id.as_uuid()),
            actor_id: event.context.actor_id.map(|id| id.as_uuid()),
            ip: event.context.ip,
            user_agent: event.context.user_agent,
            request_id: event.context.request_id,
            session_id: event.session_id.map(|id| id.as_uuid()),
            details: event.details,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEventOut>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}
