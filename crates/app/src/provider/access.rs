//! The account's control over the apps it let in: the list (`Apps with access`) and
//! `Remove access`, which forgets the consent and ends the app's grants at once.

use chrono::{DateTime, Utc};
use gatehouse_domain::{AuditEventType, ClientId, NewAuditEvent, Scopes, UserId};

use crate::client::Client;
use crate::error::AppError;
use crate::services::Services;

/// An app with access, for the account page.
#[derive(Debug, Clone)]
pub struct AppWithAccess {
    /// The client.
    pub client_id: ClientId,
    /// Its name.
    pub name: String,
    /// What it may have.
    pub scopes: Scopes,
    /// When a token was last issued to it, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The apps `user` let in (those still registered), oldest consent first.
pub async fn apps_with_access(
    services: &Services,
    user: UserId,
) -> Result<Vec<AppWithAccess>, AppError> {
    let mut apps = Vec::new();
    for access in services.oauth_grants.apps_of(user).await? {
        if let Some(stored) = services.oauth_clients.find(&access.client_id).await? {
            apps.push(AppWithAccess {
                name: stored.client.settings.name,
                client_id: access.client_id,
                scopes: access.scopes,
                last_used_at: access.last_used_at,
            });
        }
    }
    Ok(apps)
}

/// Takes `client`'s access away from `user`: `false` when it had none.
pub async fn remove_access(
    services: &Services,
    caller: &Client,
    user: UserId,
    client: &ClientId,
) -> Result<bool, AppError> {
    let now = Utc::now();
    let event = NewAuditEvent::new(
        AuditEventType::OauthConsentRevoked,
        Some(user),
        &caller.audit,
        now,
    )
    .with("client_id", client.as_str());
    Ok(services
        .oauth_grants
        .remove_access(user, client, now, &event)
        .await?)
}
