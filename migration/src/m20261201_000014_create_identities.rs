use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::iden::{FederatedLogins, Identities, MfaChallenges, Users};

/// Sign-in with other providers: each account's identities there, found by the issuer
/// and the subject it gives (unique: one identity, one account; compared byte for byte,
/// also on MySQL, whose default collation would make `Alice` and `alice` one person), and
/// whether someone vouched for the address the identity came with (its provider, or the
/// account itself by linking it), and the sign-ins sent to
/// a provider and not back yet (found by the SHA-256 of their `state`; bound to the
/// browser that started them by the SHA-256 of a cookie; with the nonce, the PKCE
/// verifier, where to go after, and the account to link for a link). A login's second
/// step now remembers its first (`pwd`, or `fed` after another provider).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Identities::Table)
                    .if_not_exists()
                    .col(pk_uuid(Identities::Id))
                    .col(uuid(Identities::UserId))
                    .col(string_len(Identities::Provider, 64))
                    .col(exact_text(manager, Identities::Issuer))
                    .col(exact_text(manager, Identities::Subject))
                    .col(string_len_null(Identities::Email, 320))
                    .col(boolean(Identities::Vouched).default(true))
                    .col(timestamp_with_time_zone(Identities::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identities_user_id")
                            .from(Identities::Table, Identities::UserId)
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
                    .name("idx_identities_issuer_subject")
                    .table(Identities::Table)
                    .col(Identities::Issuer)
                    .col(Identities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_identities_user_id")
                    .table(Identities::Table)
                    .col(Identities::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FederatedLogins::Table)
                    .if_not_exists()
                    .col(string_len(FederatedLogins::Id, 64).primary_key())
                    .col(string_len(FederatedLogins::Provider, 64))
                    .col(string_len(FederatedLogins::BrowserHash, 64))
                    .col(string_len(FederatedLogins::Nonce, 128))
                    .col(string_len(FederatedLogins::PkceVerifier, 128))
                    .col(text(FederatedLogins::ReturnTo))
                    .col(uuid_null(FederatedLogins::LinkUserId))
                    .col(uuid_null(FederatedLogins::LinkSessionId))
                    .col(timestamp_with_time_zone(FederatedLogins::CreatedAt))
                    .col(timestamp_with_time_zone(FederatedLogins::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_federated_logins_link_user_id")
                            .from(FederatedLogins::Table, FederatedLogins::LinkUserId)
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
                    .name("idx_federated_logins_expires_at")
                    .table(FederatedLogins::Table)
                    .col(FederatedLogins::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MfaChallenges::Table)
                    .add_column(string_len(MfaChallenges::FirstMethod, 8).default("pwd"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MfaChallenges::Table)
                    .drop_column(MfaChallenges::FirstMethod)
                    .to_owned(),
            )
            .await?;
        for table in [
            FederatedLogins::Table.into_iden(),
            Identities::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// A `VARCHAR(255)` compared byte for byte: MySQL's default collation ignores case,
/// accents and trailing spaces, which a provider's `sub` does not.
fn exact_text(manager: &SchemaManager<'_>, column: Identities) -> ColumnDef {
    let mut definition = ColumnDef::new(column);
    definition.string_len(255);
    if manager.get_database_backend() == DbBackend::MySql {
        definition.extra("CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL");
    } else {
        definition.not_null();
    }
    definition
}
