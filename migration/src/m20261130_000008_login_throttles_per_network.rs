use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::LoginThrottles;

/// The back-off is counted per (email, client network) — an IPv4 address or an IPv6 /64 —
/// so a stranger who knows an address can no longer keep its owner out; the row with
/// network `*` counts failures from every network, for the account-wide threshold.
///
/// The old table held only running back-offs (minutes of state), so it is replaced, not
/// converted: at worst a back-off in progress during the upgrade ends early.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottles::Table).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottles::Table)
                    .col(string_len(LoginThrottles::Email, 254))
                    .col(string_len(LoginThrottles::Network, 64))
                    .col(integer(LoginThrottles::Failures).default(0))
                    .col(timestamp_with_time_zone_null(LoginThrottles::BlockedUntil))
                    .col(timestamp_with_time_zone(LoginThrottles::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(LoginThrottles::Email)
                            .col(LoginThrottles::Network),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottles::Table).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottles::Table)
                    .col(string_len(LoginThrottles::Email, 254).primary_key())
                    .col(integer(LoginThrottles::Failures).default(0))
                    .col(timestamp_with_time_zone_null(LoginThrottles::BlockedUntil))
                    .col(timestamp_with_time_zone(LoginThrottles::UpdatedAt))
                    .to_owned(),
            )
            .await
    }
}
