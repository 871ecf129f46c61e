use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::Sessions;

/// Records when a session's newest refresh generation was issued, so the generation
/// before it can be accepted again only within the reuse grace period.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(timestamp_with_time_zone_null(Sessions::RotatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::RotatedAt)
                    .to_owned(),
            )
            .await
    }
}
