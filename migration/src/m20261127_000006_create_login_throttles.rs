use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::LoginThrottles;

/// Failed logins per email address, for the per-account back-off. Keyed by the address as
/// typed (canonical form), account or not, so the back-off says nothing about which
/// addresses have accounts; kept in the database so every instance sees it.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottles::Table)
                    .if_not_exists()
                    .col(string_len(LoginThrottles::Email, 254).primary_key())
                    .col(integer(LoginThrottles::Failures).default(0))
                    .col(timestamp_with_time_zone_null(LoginThrottles::BlockedUntil))
                    .col(timestamp_with_time_zone(LoginThrottles::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottles::Table).to_owned())
            .await
    }
}
