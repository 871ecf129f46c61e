//! Ending one's own sessions: signing out here, everywhere, or one session from the list.
//! Each ending is recorded as `session.ended` with its reason.

use chrono::Utc;
use gatehouse_domain::{AuditEventType, NewAuditEvent, SessionId, UserId};

use crate::client::Client;
use crate::error::AppError;
use crate::services::Services;

/// Why a session ends, as `session.ended` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Its holder signed out.
    Logout,
    /// The account's owner ended it from another session.
    Revoked,
}

impl Ending {
    fn reason(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
        }
    }
}

/// Ends `user`'s session `session`: `false` when it is not theirs (or not known), so
/// another account's session cannot be ended, nor its existence learned.
pub async fn end_session(
    services: &Services,
    client: &Client,
    user: UserId,
    session: SessionId,
    why: Ending,
) -> Result<bool, AppError> {
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::SessionEnded, Some(user), &client.audit, now)
        .with("reason", why.reason())
        .in_session(session);
    Ok(services
        .sessions
        .revoke_own_recorded(user, session, now, Some(&event))
        .await?
        .is_some())
}

/// Ends every session of `user`, signed out everywhere from session `acting`.
pub async fn end_every_session(
    services: &Services,
    client: &Client,
    user: UserId,
    acting: SessionId,
) -> Result<(), AppError> {
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::SessionEnded, Some(user), &client.audit, now)
        .with("reason", "logout_all")
        .in_session(acting);
    services
        .sessions
        .revoke_all_recorded(user, now, Some(&event))
        .await?;
    Ok(())
}
