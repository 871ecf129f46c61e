//! Gatehouse's schema as sea-orm-migration migrations.
//!
//! Written with SeaORM's schema builder (no backend-specific SQL), so the same migrations
//! run on SQLite, Postgres and MySQL/MariaDB; the exceptions are backend-only by design
//! (MySQL's email collation, Postgres' change-notification triggers). Identifiers live in [`iden`] so
//! later migrations refer to the same names.

// `async_trait` rewrites the lifetimes of `MigrationTrait` methods, so the idiomatic
// `SchemaManager<'_>` does not compile there.
#![allow(elided_lifetimes_in_paths)]

pub use sea_orm_migration::prelude::*;

pub mod iden;
mod lock;
mod m20261125_000001_create_users;
mod m20261125_000002_create_sessions;
mod m20261127_000003_session_rotated_at;
mod m20261127_000004_create_one_time_tokens;
mod m20261127_000005_email_binary_collation_on_mysql;
mod m20261127_000006_create_login_throttles;
mod m20261130_000007_session_invalidation_triggers;
mod m20261130_000008_login_throttles_per_network;
mod m20261130_000009_create_mail_cooldowns;
mod m20261130_000010_announce_truncate;
mod m20261130_000011_create_audit_events;
mod m20261130_000012_create_second_factors;
mod m20261201_000013_create_passkeys;
mod m20261201_000014_create_identities;
mod m20261201_000015_index_ended_sessions;
mod m20261201_000016_quiet_purge_of_expired_sessions;
mod m20261206_000017_undo_links;
mod m20261206_000018_passkey_user_handles;
mod m20261207_000019_create_oauth_clients;
mod m20261207_000020_create_oauth_grants;
mod m20261207_000021_create_roles;
mod m20261207_000022_create_signing_keys;

pub use lock::up_exclusively;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_users::Migration),
            Box::new(m20261125_000002_create_sessions::Migration),
            Box::new(m20261127_000003_session_rotated_at::Migration),
            Box::new(m20261127_000004_create_one_time_tokens::Migration),
            Box::new(m20261127_000005_email_binary_collation_on_mysql::Migration),
            Box::new(m20261127_000006_create_login_throttles::Migration),
            Box::new(m20261130_000007_session_invalidation_triggers::Migration),
            Box::new(m20261130_000008_login_throttles_per_network::Migration),
            Box::new(m20261130_000009_create_mail_cooldowns::Migration),
            Box::new(m20261130_000010_announce_truncate::Migration),
            Box::new(m20261130_000011_create_audit_events::Migration),
            Box::new(m20261130_000012_create_second_factors::Migration),
            Box::new(m20261201_000013_create_passkeys::Migration),
            Box::new(m20261201_000014_create_identities::Migration),
            Box::new(m20261201_000015_index_ended_sessions::Migration),
            Box::new(m20261201_000016_quiet_purge_of_expired_sessions::Migration),
            Box::new(m20261206_000017_undo_links::Migration),
            Box::new(m20261206_000018_passkey_user_handles::Migration),
            Box::new(m20261207_000019_create_oauth_clients::Migration),
            Box::new(m20261207_000020_create_oauth_grants::Migration),
            Box::new(m20261207_000021_create_roles::Migration),
            Box::new(m20261207_000022_create_signing_keys::Migration),
        ]
    }
}
