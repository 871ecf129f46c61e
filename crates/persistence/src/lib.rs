//! Gatehouse's storage: SeaORM entities (private to this crate) behind repositories that
//! speak domain types.
//!
//! Repositories store what they are handed (a password *hash*, never a password) and
//! leave every decision to the caller, except uniqueness, which the database decides and
//! [`RepoError::Conflict`] reports. Atomic steps (like advancing a refresh generation)
//! are single conditional statements, so they need no transaction and hold no locks
//! across awaits.
//!
//! Lookups by a primary key or unique column read with `all()`, not `one()`: SeaORM's
//! `one()` binds `LIMIT 1` as a parameter, and SQLite (3.51, as bundled) compiles a
//! statement again every time a parameter of its `LIMIT` is bound — a third of the CPU
//! of a token check on SQLite went to that. Such a lookup returns one row at most anyway.
//!
//! On Postgres, token checks may be answered by a [`SessionCache`] that the repositories
//! keep in step with their own writes and `LISTEN/NOTIFY` with everyone else's (see
//! [`session_cache_for`]).

mod audit;
mod database;
mod entity;
mod error;
mod identities;
mod invalidation;
mod login_throttles;
mod mail_cooldowns;
mod mfa;
mod oauth_clients;
mod oauth_grants;
mod one_time_tokens;
mod passkeys;
mod primary;
mod roles;
mod session_cache;
mod sessions;
mod signing_keys;
mod users;

pub use audit::{AuditFilter, AuditRepository, recorded_audit_events};
pub use database::{DatabaseConfig, DatabaseKind, connect, ping, redact_url};
pub use error::RepoError;
pub use identities::{IdentityRemoval, IdentityRepository, NewIdentity, PendingFederation};
pub use invalidation::session_cache_for;
pub use login_throttles::{
    BackoffThresholds, LoginThrottleRepository, Reservation, ReservedAttempt,
};
pub use mail_cooldowns::MailCooldownRepository;
pub use mfa::{MfaChallenge, MfaRepository, StoredTotp};
pub use oauth_clients::{OauthClientRepository, SecretChange, StoredClient};
pub use oauth_grants::{AppAccess, NewRefreshToken, OauthGrantRepository, RefreshUse, StoredCode};
pub use one_time_tokens::{LiveToken, OneTimeTokenRepository};
pub use passkeys::{MAX_PASSKEYS_PER_ACCOUNT, NewStoredPasskey, PasskeyRepository, StoredPasskey};
pub use roles::{RoleGrant, RoleRepository};
pub use sea_orm::DatabaseConnection;
pub use session_cache::{BYTES_PER_SESSION, SessionCache};
pub use sessions::{PURGE_BATCH, PurgeReport, SessionRepository};
pub use signing_keys::{SigningKeyRepository, StoredSigningKey};
pub use users::{ImportOutcome, ImportedAccount, UserRepository};
