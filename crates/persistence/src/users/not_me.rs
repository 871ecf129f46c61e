//! "This wasn't me": the owner of an account's mailbox undoes a way in that was added to
//! the account (the security mail's link), as one step.

use chrono::{DateTime, Utc};
use gatehouse_domain::{AuditEventType, NewAuditEvent, PasswordHash, UserId, WayIn};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::UserRepository;
use crate::{
    RepoError,
    audit::record_event,
    entity::{identity, mfa_challenge, passkey, totp_authenticator, user},
    mfa::{drop_codes_without_factor, take_turns_on_account},
    sessions::{revoke_sessions, sessions_of},
};

impl UserRepository {
    /// In one transaction: `way` goes (with the recovery codes, when no second factor is
    /// left), the password is cleared (whoever added `way` had it; the owner sets a new
    /// one), every session and every login waiting for its second step ends, and the
    /// removal is recorded as `event` (`totp.disabled`, `passkey.removed` or
    /// `identity.removed`, with the reason) beside `session.ended`. Whether `way` was still
    /// there (the rest happens either way).
    pub async fn undo_way_in(
        &self,
        user_id: UserId,
        way: WayIn,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        take_turns_on_account(&txn, user_id).await?;
        let owner = user_id.as_uuid();
        let removed = match way {
            WayIn::Totp => {
                totp_authenticator::Entity::delete_by_id(owner)
                    .exec(&txn)
                    .await?
            }
            WayIn::Passkey(id) => {
                passkey::Entity::delete_many()
                    .filter(passkey::Column::Id.eq(id.as_uuid()))
                    .filter(passkey::Column::UserId.eq(owner))
                    .exec(&txn)
                    .await?
            }
            WayIn::Identity(id) => {
                identity::Entity::delete_many()
                    .filter(identity::Column::Id.eq(id.as_uuid()))
                    .filter(identity::Column::UserId.eq(owner))
                    .exec(&txn)
                    .await?
            }
        }
        .rows_affected
            > 0;
        drop_codes_without_factor(&txn, user_id).await?;
        user::Entity::update_many()
            .col_expr(
                user::Column::HashedPassword,
                sea_orm::sea_query::Expr::value(PasswordHash::none().as_str()),
            )
            .col_expr(
                user::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(user::Column::Id.eq(owner))
            .exec(&txn)
            .await?;
        mfa_challenge::Entity::delete_many()
            .filter(mfa_challenge::Column::UserId.eq(owner))
            .exec(&txn)
            .await?;
        let ended = revoke_sessions(&txn, sessions_of(user_id, None), now).await?;
        let event = event
            .clone()
            .with("reason", "not_me")
            .with("removed", removed.to_string())
            .with("password", "cleared")
            .with("sessions_ended", ended.to_string());
        let mut recorded = vec![record_event(&txn, &event).await?];
        if ended > 0 {
            let ending = NewAuditEvent {
                event_type: AuditEventType::SessionEnded,
                session_id: None,
                details: Default::default(),
                ..event.clone()
            }
            .with("reason", "not_me")
            .with("sessions_ended", ended.to_string());
            recorded.push(record_event(&txn, &ending).await?);
        }
        let committed = txn.commit().await;
        self.cache.forget_user(user_id);
        committed?;
        recorded.into_iter().for_each(|event| event.committed());
        Ok(removed)
    }
}
