//! What the session routes answer.

use chrono::{DateTime, Utc};
use gatehouse_domain::{Session, SessionId};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dto::rfc3339_seconds;

/// One open session, as `GET /auth/sessions` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// Session id: the `sid` of its tokens; `DELETE /auth/sessions/{id}` ends it.
    pub id: Uuid,
    /// Login time.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T10:00:00Z")]
    pub created_at: DateTime<Utc>,
    /// Last login or refresh.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T10:00:00Z")]
    pub last_used_at: DateTime<Utc>,
    /// When its refresh tokens stop working at the latest.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-12-01T10:00:00Z")]
    pub expires_at: DateTime<Utc>,
    /// The client's `User-Agent` at login.
    pub user_agent: Option<String>,
    /// The client's IP address at login.
    pub ip: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

impl SessionOut {
    /// The listing entry for `session`; `current` is the caller's own session.
    pub fn new(session: Session, current: SessionId) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent,
            ip: session.ip,
            current: session.id == current,
        }
    }
}
