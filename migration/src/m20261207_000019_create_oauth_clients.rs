use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::OauthClients;

/// The apps that sign their users in through gatehouse (it is their OpenID Provider):
/// each client's random id, name, redirect URIs and post-logout redirect URIs (JSON
/// arrays of strings, compared exactly), type, whether it is first-party (no consent),
/// its grant types (space-separated) and, for a confidential client, the SHA-256 of its
/// secret (the secret itself is shown once and never stored).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthClients::Table)
                    .if_not_exists()
                    .col(string_len(OauthClients::Id, 64).primary_key())
                    .col(string_len(OauthClients::Name, 400))
                    .col(string_len(OauthClients::ClientType, 16))
                    .col(boolean(OauthClients::FirstParty))
                    .col(text(OauthClients::RedirectUris))
                    .col(text(OauthClients::PostLogoutRedirectUris))
                    .col(string_len(OauthClients::GrantTypes, 128))
                    .col(string_len_null(OauthClients::SecretHash, 64))
                    .col(timestamp_with_time_zone(OauthClients::CreatedAt))
                    .col(timestamp_with_time_zone(OauthClients::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OauthClients::Table).to_owned())
            .await
    }
}
