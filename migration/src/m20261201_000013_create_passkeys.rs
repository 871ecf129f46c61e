use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::{PasskeyCeremonies, Passkeys, Users};

/// Passkeys: each account's WebAuthn credentials (the credential as webauthn-rs stores
/// it, found by the SHA-256 of its id, which is unique across accounts; a version for
/// compare-and-set updates of its counter), and the ceremonies begun and not finished
/// (their state, purpose and account), so that any instance can finish one.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Passkeys::Table)
                    .if_not_exists()
                    .col(pk_uuid(Passkeys::Id))
                    .col(uuid(Passkeys::UserId))
                    .col(string_len(Passkeys::CredentialIdHash, 64).unique_key())
                    .col(string_len(Passkeys::Name, 64))
                    .col(text(Passkeys::Credential))
                    .col(big_integer(Passkeys::Version).default(0))
                    .col(timestamp_with_time_zone_null(Passkeys::PossiblyClonedAt))
                    .col(timestamp_with_time_zone(Passkeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(Passkeys::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_passkeys_user_id")
                            .from(Passkeys::Table, Passkeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_passkeys_user_id")
                    .table(Passkeys::Table)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PasskeyCeremonies::Table)
                    .if_not_exists()
                    .col(pk_uuid(PasskeyCeremonies::Id))
                    .col(string_len(PasskeyCeremonies::Purpose, 16))
                    .col(uuid_null(PasskeyCeremonies::UserId))
                    .col(text(PasskeyCeremonies::State))
                    .col(timestamp_with_time_zone(PasskeyCeremonies::CreatedAt))
                    .col(timestamp_with_time_zone(PasskeyCeremonies::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_passkey_ceremonies_user_id")
                            .from(PasskeyCeremonies::Table, PasskeyCeremonies::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_passkey_ceremonies_expires_at")
                    .table(PasskeyCeremonies::Table)
                    .col(PasskeyCeremonies::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PasskeyCeremonies::Table.into_iden(),
            Passkeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
