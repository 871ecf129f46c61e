//! Gatehouse's storage: SeaORM entities (private to this crate) behind repositories that
//! speak domain types.
//!
//! Repositories store what they are handed (a password *hash*, never a password) and
//! leave every decision to the caller, except uniqueness, which the database decides and
//! [`RepoError::Conflict`] reports. Atomic steps (like advancing a refresh generation)
//! are single conditional statements, so they need no transaction and hold no locks
//! across awaits.

mod database;
mod entity;
mod error;
mod invalidation;
mod login_throttles;
mod one_time_tokens;
mod session_cache;
mod sessions;
mod users;

pub use database::{DatabaseConfig, DatabaseKind, connect, redact_url};
pub use error::RepoError;
pub use invalidation::{
    CHANNEL as INVALIDATION_CHANNEL, LISTENER_APPLICATION_NAME, start_invalidation,
};
pub use login_throttles::LoginThrottleRepository;
pub use one_time_tokens::{LiveToken, OneTimeTokenRepository};
pub use sea_orm::DatabaseConnection;
pub use session_cache::SessionCache;
pub use sessions::SessionRepository;
pub use users::UserRepository;
