//! The admin routes' bodies: pages of accounts and an administrator's change.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use gatehouse_domain::{HeldRoles, User};

use crate::{dto::UserOut, error::ApiError};

/// An account as the admin routes show it: [`UserOut`] and the roles it holds (the
/// starter's routes answer without them).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserOut {
    /// The account.
    #[serde(flatten)]
    pub user: UserOut,
    /// The roles it holds, sorted.
    #[schema(example = json!(["billing:read", "staff"]))]
    pub roles: Vec<String>,
}

impl AdminUserOut {
    /// `user`, holding `roles`.
    pub fn new(user: User, roles: &HeldRoles) -> Self {
        Self {
            user: UserOut::from(user),
            roles: roles.names(),
        }
    }
}

/// `GET /users` paging, as raw text so each bad value can be named.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// How many accounts to skip (default 0; at most 2⁶³−1, what the databases'
    /// `OFFSET` takes).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<String>,
}

/// Largest `GET /users` page.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Largest `GET /users` offset: `i64::MAX`, the largest `OFFSET` every backend takes.
pub const MAX_PAGE_OFFSET: u64 = i64::MAX.unsigned_abs();

impl PageQuery {
    /// `(limit, offset)`, or a 422 naming the bad parameter.
    pub fn parse(&self) -> Result<(u64, u64), ApiError> {
        let number = |field: &str, raw: &Option<String>, default: u64| match raw {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .map_err(|_| ApiError::field(field, "must be a whole number")),
        };
        let limit = number("limit", &self.limit, 50)?;
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::field("limit", "must be between 1 and 100"));
        }
        // Offsets past i64::MAX would overflow the databases' OFFSET: refused, not
        // silently clamped (the page would echo an offset the client never asked for).
        let offset = number("offset", &self.offset, 0)?;
        if offset > MAX_PAGE_OFFSET {
            return Err(ApiError::field(
                "offset",
                format!("must be at most {MAX_PAGE_OFFSET}"),
            ));
        }
        Ok((limit, offset))
    }
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersPage {
    /// The accounts, by creation time, then id.
    pub items: Vec<AdminUserOut>,
    /// How many accounts exist.
    pub total: u64,
    /// The page size asked for.
    pub limit: u64,
    /// How many were skipped.
    pub offset: u64,
}

/// Body of `PATCH /users/{id}`: only the fields given change.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"is_active": false}))]
pub struct UserPatchIn {
    /// New address (409 if taken). Marks the address unverified unless `is_verified` is
    /// given too.
    #[schema(format = "email")]
    pub email: Option<String>,
    /// New password, under the registration rules; ends the user's sessions.
    #[schema(format = "password")]
    pub password: Option<String>,
    /// `false` deactivates the account and ends its sessions.
    pub is_active: Option<bool>,
    /// Grant or withdraw administration.
    pub is_superuser: Option<bool>,
    /// Mark the address verified or not.
    pub is_verified: Option<bool>,
}

impl std::fmt::Debug for UserPatchIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatchIn")
            .field("email", &self.email)
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("is_verified", &self.is_verified)
            .finish_non_exhaustive()
    }
}
