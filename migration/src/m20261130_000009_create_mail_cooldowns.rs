use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::MailCooldowns;

/// When the last account mail went to each address, so that nobody can flood an address
/// through `forgot-password` or `request-verify`: one mail per address per cool-down. In
/// the database, so every instance honours the same minute.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailCooldowns::Table)
                    .if_not_exists()
                    .col(string_len(MailCooldowns::Email, 254).primary_key())
                    .col(timestamp_with_time_zone(MailCooldowns::SentAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailCooldowns::Table).to_owned())
            .await
    }
}
