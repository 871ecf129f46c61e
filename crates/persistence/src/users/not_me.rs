//! "This wasn't me": the owner of an account's mailbox undoes a way in that was added to
//! the account (the security mail's link) and sets a new password, as one step.

use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::{AuditEventType, NewAuditEvent, PasswordHash, WayIn};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Condition, Expr},
};

use super::UserRepository;
use crate::{
    LiveToken, RepoError,
    audit::record_event,
    entity::{
        identity, mfa_challenge, one_time_token, passkey, recovery_code, totp_authenticator, user,
    },
    mfa::{drop_codes_without_factor, take_turns_on_account},
    sessions::end_sessions_of,
};

impl UserRepository {
    /// In one transaction: spends `link` (a live "this wasn't me" token of `user_id`), and
    /// removes `way` — that passkey or identity, or the authenticator app confirmed at that
    /// second (not a later one); the recovery codes go with it (they were made with it), or
    /// as ever when no second factor is left —, sets the password to `new_hash` (whoever
    /// added `way` knew the old one), ends every session and every login waiting for its
    /// second step, and records `event` (`totp.disabled`, `passkey.removed` or
    /// `identity.removed`, with the reason) beside `session.ended`. `None` when the link
    /// was spent meanwhile (nothing changes); else whether `way` was still there (the rest
    /// happens either way: the owner said someone else had the password).
    pub async fn undo_way_in(
        &self,
        link: &LiveToken,
        way: WayIn,
        new_hash: &PasswordHash,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Option<bool>, RepoError> {
        let user_id = link.user_id;
        let owner = user_id.as_uuid();
        let txn = self.db.begin().await?;
        take_turns_on_account(&txn, user_id).await?;
        let spent = one_time_token::Entity::update_many()
            .col_expr(one_time_token::Column::UsedAt, Expr::value(now))
            .filter(one_time_token::Column::Id.eq(link.id))
            .filter(one_time_token::Column::UsedAt.is_null())
            .filter(one_time_token::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?;
        if spent.rows_affected != 1 {
            return Ok(None);
        }
        let removed = match way {
            WayIn::Totp(confirmed_at) => {
                // The second it was confirmed in (MySQL keeps whole seconds, rounded: the
                // next one too). A later authenticator is not this link's to remove.
                let at = DateTime::from_timestamp(confirmed_at, 0).unwrap_or(now);
                let removed = totp_authenticator::Entity::delete_many()
                    .filter(totp_authenticator::Column::UserId.eq(owner))
                    .filter(
                        Condition::all()
                            .add(totp_authenticator::Column::ConfirmedAt.gte(at))
                            .add(
                                totp_authenticator::Column::ConfirmedAt
                                    .lt(at + Duration::seconds(2)),
                            ),
                    )
                    .exec(&txn)
                    .await?;
                if removed.rows_affected > 0 {
                    recovery_code::Entity::delete_many()
                        .filter(recovery_code::Column::UserId.eq(owner))
                        .exec(&txn)
                        .await?;
                }
                removed
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
            .col_expr(user::Column::HashedPassword, Expr::value(new_hash.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(owner))
            .exec(&txn)
            .await?;
        mfa_challenge::Entity::delete_many()
            .filter(mfa_challenge::Column::UserId.eq(owner))
            .exec(&txn)
            .await?;
        let ended = end_sessions_of(&txn, user_id, None, now).await?;
        let event = event
            .clone()
            .with("reason", "not_me")
            .with("removed", removed.to_string())
            .with("password", "replaced")
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
        Ok(Some(removed))
    }
}
