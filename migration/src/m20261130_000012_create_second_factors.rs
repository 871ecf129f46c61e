use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::{MfaChallenges, RecoveryCodes, Sessions, TotpAuthenticators, Users};

/// Second factors: TOTP authenticators (the secret sealed, with the id of the key that
/// sealed it, and the last time step accepted), recovery codes (hashes only), the logins
/// waiting for their second step (the `mfa_token` as a hash), and each session's
/// assurance (`aal1` / `pwd` for every session opened before).
#[derive(DeriveMigrationName)]
pub struct Migration;

fn owned_by_user(
    table: impl IntoIden,
    column: impl IntoIden,
    name: &str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TotpAuthenticators::Table)
                    .if_not_exists()
                    .col(uuid(TotpAuthenticators::UserId).primary_key())
                    .col(string_len(TotpAuthenticators::KeyId, 32))
                    .col(string_len(TotpAuthenticators::SealedSecret, 255))
                    .col(timestamp_with_time_zone_null(
                        TotpAuthenticators::ConfirmedAt,
                    ))
                    .col(big_integer_null(TotpAuthenticators::LastUsedStep))
                    .col(timestamp_with_time_zone(TotpAuthenticators::CreatedAt))
                    .foreign_key(&mut owned_by_user(
                        TotpAuthenticators::Table,
                        TotpAuthenticators::UserId,
                        "fk_totp_authenticators_user_id",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .if_not_exists()
                    .col(pk_uuid(RecoveryCodes::Id))
                    .col(uuid(RecoveryCodes::UserId))
                    .col(string_len(RecoveryCodes::CodeHash, 64))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .foreign_key(&mut owned_by_user(
                        RecoveryCodes::Table,
                        RecoveryCodes::UserId,
                        "fk_recovery_codes_user_id",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_codes_user_id")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MfaChallenges::Table)
                    .if_not_exists()
                    .col(pk_uuid(MfaChallenges::Id))
                    .col(uuid(MfaChallenges::UserId))
                    .col(string_len(MfaChallenges::TokenHash, 64).unique_key())
                    .col(integer(MfaChallenges::FailedAttempts).default(0))
                    .col(timestamp_with_time_zone(MfaChallenges::CreatedAt))
                    .col(timestamp_with_time_zone(MfaChallenges::ExpiresAt))
                    .col(timestamp_with_time_zone_null(MfaChallenges::UsedAt))
                    .foreign_key(&mut owned_by_user(
                        MfaChallenges::Table,
                        MfaChallenges::UserId,
                        "fk_mfa_challenges_user_id",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mfa_challenges_user_id")
                    .table(MfaChallenges::Table)
                    .col(MfaChallenges::UserId)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite adds columns one at a time.
        for column in [
            string_len(Sessions::Aal, 8).default("aal1").to_owned(),
            string_len(Sessions::Amr, 64).default("pwd").to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Sessions::Amr, Sessions::Aal] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            MfaChallenges::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            TotpAuthenticators::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
