use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::iden::Users;

/// Emails are stored in one canonical form (NFC, lower-case), so uniqueness must compare
/// bytes. Postgres and SQLite do; MySQL/MariaDB's default collation would also treat
/// `jose@…` and `josé@…` as one address. MySQL only: the column gets the binary collation.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_email_collation(manager, "utf8mb4_bin").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_email_collation(manager, "utf8mb4_general_ci").await
    }
}

async fn set_email_collation(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::MySql {
        return Ok(());
    }
    manager
        .alter_table(
            Table::alter()
                .table(Users::Table)
                .modify_column(
                    // MySQL wants the character set before NOT NULL.
                    ColumnDef::new(Users::Email).string_len(254).extra(format!(
                        "CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
                    )),
                )
                .to_owned(),
        )
        .await
}
