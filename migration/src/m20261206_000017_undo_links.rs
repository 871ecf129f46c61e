use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::OneTimeTokens;

/// What a single-use token is about, where its purpose needs it: the way in (`totp`,
/// `passkey:<id>`, `identity:<id>`) that a "this wasn't me" link in a security mail undoes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OneTimeTokens::Table)
                    .add_column(string_len_null(OneTimeTokens::Subject, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OneTimeTokens::Table)
                    .drop_column(OneTimeTokens::Subject)
                    .to_owned(),
            )
            .await
    }
}
