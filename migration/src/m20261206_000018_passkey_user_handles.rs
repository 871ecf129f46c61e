use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::Users;

/// The user handle an account's passkeys are made with: 64 random bytes (base64url), made
/// at the account's first passkey, so authenticators learn nothing from it (the account
/// id is a UUIDv7, which tells when the account was made). Passkeys made before keep the
/// account id as their handle.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_len_null(Users::PasskeyHandle, 88))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::PasskeyHandle)
                    .to_owned(),
            )
            .await
    }
}
