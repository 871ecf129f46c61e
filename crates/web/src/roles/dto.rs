//! The roles routes' bodies.

use gatehouse_domain::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "billing:read", "description": "Reads invoices"}))]
pub struct RoleIn {
    /// 1–64 characters of `a-z 0-9 _ . : -`, exactly as other services will compare it.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9_.:-]{1,64}$")]
    pub name: Option<String>,
    /// What the role is for (at most 400 characters; empty when not given).
    #[schema(max_length = 400)]
    pub description: Option<String>,
}

/// A role.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleOut {
    /// Its name.
    #[schema(example = "billing:read")]
    pub name: String,
    /// What it is for.
    pub description: String,
    /// How many accounts hold it.
    pub members: u64,
}

impl From<Role> for RoleOut {
    fn from(role: Role) -> Self {
        Self {
            name: role.name.as_str().to_owned(),
            description: role.description,
            members: role.members,
        }
    }
}
