use sea_orm_migration::{prelude::*, schema::*};

use crate::iden::AuditEvents;

/// The audit log: one row per security-relevant event. Ids are assigned by the database
/// in insert order, so paging by id (newest first) returns every event once. No foreign
/// keys: an event outlives the account and session it names (`user.deleted` must).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(timestamp_with_time_zone(AuditEvents::At))
                    .col(string_len(AuditEvents::Type, 64))
                    .col(uuid_null(AuditEvents::UserId))
                    .col(uuid_null(AuditEvents::ActorId))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(string_len_null(AuditEvents::UserAgent, 512))
                    .col(string_len_null(AuditEvents::RequestId, 128))
                    .col(uuid_null(AuditEvents::SessionId))
                    .col(text(AuditEvents::Details))
                    .to_owned(),
            )
            .await?;
        // The queries: one account's events, one kind's, and the purge by age.
        for (name, column) in [
            ("idx_audit_events_user_id", AuditEvents::UserId),
            ("idx_audit_events_type", AuditEvents::Type),
            ("idx_audit_events_at", AuditEvents::At),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(column)
                        .col(AuditEvents::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
