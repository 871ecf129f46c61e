use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::SigningKeys;

/// Managed signing keys (`SIGNING_KEYS=managed`): each key's public JWK, its private key
/// sealed under `MFA_ENCRYPTION_KEY` (with the sealing key's id, for that key's
/// rotation), its state and dates.
///
/// `slot` repeats the state of the `next` and the `current` key and is NULL for a
/// `retiring` one: its unique index lets at most one key hold each of those states, on
/// every database (a partial unique index would say it better; MySQL has none), so two
/// instances racing to make or activate a key cannot both succeed.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    .col(string_len(SigningKeys::Kid, 64).primary_key())
                    .col(string_len(SigningKeys::Algorithm, 8))
                    .col(string_len(SigningKeys::State, 10))
                    .col(string_len_null(SigningKeys::Slot, 10).unique_key())
                    .col(text(SigningKeys::PublicJwk))
                    .col(string_len(SigningKeys::SealKeyId, 16))
                    .col(text(SigningKeys::SealedPrivateKey))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::ActivatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}
