//! Federation's bodies.

use chrono::{DateTime, Utc};
use gatehouse_domain::Identity;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dto::rfc3339_seconds;

/// A provider the login page offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderOut {
    /// For `/auth/oidc/{name}/…`.
    #[schema(example = "google")]
    pub name: String,
    /// What its button says.
    #[schema(example = "Google")]
    pub label: String,
}

/// An identity at another provider, linked to the caller's account.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityOut {
    /// For `DELETE /auth/identities/{id}`.
    pub id: Uuid,
    /// The configured provider's name.
    #[schema(example = "google")]
    pub provider: String,
    /// The provider's `sub`.
    pub subject: String,
    /// The address the provider gave when it was linked.
    pub email: Option<String>,
    /// When it was linked.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-12-01T10:00:00Z")]
    pub created_at: DateTime<Utc>,
}

impl From<Identity> for IdentityOut {
    fn from(identity: Identity) -> Self {
        Self {
            id: identity.id.as_uuid(),
            provider: identity.provider,
            subject: identity.subject,
            email: identity.email,
            created_at: identity.created_at,
        }
    }
}
