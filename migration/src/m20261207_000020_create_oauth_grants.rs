use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::{
    OauthClients, OauthCodes, OauthConsents, OauthGrants, OauthRefreshTokens, Users,
};

/// What the OpenID Provider hands out: the consents (per account and client, the scopes
/// it allowed), the authorization codes (by the SHA-256 of the code, bound to the client,
/// the redirect URI, the PKCE challenge, the nonce, the scopes and the browser session;
/// once used they name the grant they opened, so a replay can end it), the grants (one
/// per redeemed code: client, account, browser session, scopes, how and when the account
/// signed in) and the grants' refresh tokens (by their SHA-256; a used one is kept until
/// the grant goes, so presenting it again is recognised as a replay). Everything goes with
/// its account or its client.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthConsents::Table)
                    .if_not_exists()
                    .col(uuid(OauthConsents::UserId))
                    .col(string_len(OauthConsents::ClientId, 64))
                    .col(string_len(OauthConsents::Scopes, 255))
                    .col(timestamp_with_time_zone(OauthConsents::GrantedAt))
                    .primary_key(
                        Index::create()
                            .col(OauthConsents::UserId)
                            .col(OauthConsents::ClientId),
                    )
                    .foreign_key(&mut user_key(
                        "fk_oauth_consents_user_id",
                        OauthConsents::Table,
                        OauthConsents::UserId,
                    ))
                    .foreign_key(&mut client_key(
                        "fk_oauth_consents_client_id",
                        OauthConsents::Table,
                        OauthConsents::ClientId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthGrants::Table)
                    .if_not_exists()
                    .col(pk_uuid(OauthGrants::Id))
                    .col(string_len(OauthGrants::ClientId, 64))
                    .col(uuid(OauthGrants::UserId))
                    .col(uuid(OauthGrants::SessionId))
                    .col(string_len(OauthGrants::Scopes, 255))
                    .col(timestamp_with_time_zone(OauthGrants::AuthTime))
                    .col(string_len(OauthGrants::Amr, 64))
                    .col(timestamp_with_time_zone(OauthGrants::CreatedAt))
                    .col(timestamp_with_time_zone(OauthGrants::LastUsedAt))
                    .col(timestamp_with_time_zone_null(OauthGrants::RevokedAt))
                    .foreign_key(&mut user_key(
                        "fk_oauth_grants_user_id",
                        OauthGrants::Table,
                        OauthGrants::UserId,
                    ))
                    .foreign_key(&mut client_key(
                        "fk_oauth_grants_client_id",
                        OauthGrants::Table,
                        OauthGrants::ClientId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oauth_grants_user_id")
                    .table(OauthGrants::Table)
                    .col(OauthGrants::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthCodes::Table)
                    .if_not_exists()
                    .col(string_len(OauthCodes::Hash, 64).primary_key())
                    .col(string_len(OauthCodes::ClientId, 64))
                    .col(uuid(OauthCodes::UserId))
                    .col(uuid(OauthCodes::SessionId))
                    .col(text(OauthCodes::RedirectUri))
                    .col(string_len(OauthCodes::CodeChallenge, 64))
                    .col(text_null(OauthCodes::Nonce))
                    .col(string_len(OauthCodes::Scopes, 255))
                    .col(timestamp_with_time_zone(OauthCodes::AuthTime))
                    .col(string_len(OauthCodes::Amr, 64))
                    .col(timestamp_with_time_zone(OauthCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthCodes::UsedAt))
                    .col(uuid_null(OauthCodes::GrantId))
                    .foreign_key(&mut user_key(
                        "fk_oauth_codes_user_id",
                        OauthCodes::Table,
                        OauthCodes::UserId,
                    ))
                    .foreign_key(&mut client_key(
                        "fk_oauth_codes_client_id",
                        OauthCodes::Table,
                        OauthCodes::ClientId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthRefreshTokens::Table)
                    .if_not_exists()
                    .col(string_len(OauthRefreshTokens::Hash, 64).primary_key())
                    .col(uuid(OauthRefreshTokens::GrantId))
                    .col(timestamp_with_time_zone(OauthRefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthRefreshTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oauth_refresh_tokens_grant_id")
                            .from(OauthRefreshTokens::Table, OauthRefreshTokens::GrantId)
                            .to(OauthGrants::Table, OauthGrants::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oauth_refresh_tokens_grant_id")
                    .table(OauthRefreshTokens::Table)
                    .col(OauthRefreshTokens::GrantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OauthRefreshTokens::Table.into_iden(),
            OauthCodes::Table.into_iden(),
            OauthGrants::Table.into_iden(),
            OauthConsents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// `column` of `table` names an account, and goes with it.
fn user_key(name: &str, table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}

/// `column` of `table` names a client, and goes with it.
fn client_key(
    name: &str,
    table: impl IntoIden,
    column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(OauthClients::Table, OauthClients::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}
