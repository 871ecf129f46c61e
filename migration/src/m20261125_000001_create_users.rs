use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::Users;

/// RFC 5321's limit on an address, which the domain enforces too.
const EMAIL_MAX_LEN: u32 = 254;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_uuid(Users::Id))
                    // Stored lower-cased by the domain, so a plain unique index makes
                    // uniqueness case-insensitive on every backend.
                    .col(string_len_uniq(Users::Email, EMAIL_MAX_LEN))
                    .col(string_len(Users::HashedPassword, 255))
                    .col(boolean(Users::IsActive).default(true))
                    .col(boolean(Users::IsVerified).default(false))
                    .col(boolean(Users::IsSuperuser).default(false))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_created_at_id")
                    .table(Users::Table)
                    .col(Users::CreatedAt)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
