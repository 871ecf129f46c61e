//! Table and column names.

use sea_orm_migration::prelude::*;

/// The `users` table.
#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Email,
    HashedPassword,
    IsActive,
    IsVerified,
    IsSuperuser,
    CreatedAt,
    UpdatedAt,
}

/// The `sessions` table: one row per login.
#[derive(DeriveIden)]
pub enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    LatestRefreshGeneration,
    HighestUsedGeneration,
    RotatedAt,
    UserAgent,
    Ip,
}

/// The `one_time_tokens` table: single-use tokens for mails, stored as hashes.
#[derive(DeriveIden)]
pub enum OneTimeTokens {
    Table,
    Id,
    UserId,
    Purpose,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

/// The `login_throttles` table: failed logins per email, for the back-off.
#[derive(DeriveIden)]
pub enum LoginThrottles {
    Table,
    Email,
    /// The client network (`192.0.2.1`, `2001:db8::/64`), or `*` for all of them.
    Network,
    Failures,
    BlockedUntil,
    UpdatedAt,
}

/// The `mail_cooldowns` table: when the last account mail went to each address.
#[derive(DeriveIden)]
pub enum MailCooldowns {
    Table,
    Email,
    SentAt,
}

/// The `audit_events` table: the audit log.
#[derive(DeriveIden)]
pub enum AuditEvents {
    Table,
    Id,
    At,
    Type,
    UserId,
    ActorId,
    Ip,
    UserAgent,
    RequestId,
    SessionId,
    Details,
}
