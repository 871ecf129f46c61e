//! Second factors as stored: an account's TOTP authenticator (its secret sealed by the
//! caller), its recovery codes (hashes), and the logins waiting for their second step.
//! Every rule that two requests could race on is one conditional `UPDATE`: a TOTP step is
//! accepted once, a recovery code is spent once, a challenge is finished once and dies
//! after its last allowed failure.

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    AuditEventType, AuthMethod, Conflict, NewAuditEvent, SecondFactors, SessionId, UserId,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, TransactionTrait,
    sea_query::Expr,
};

mod challenges;

use crate::{
    RepoError, SessionCache,
    audit::{Recorded, record_event, sessions_ended_by},
    entity::{mfa_challenge, passkey, passkey_ceremony, recovery_code, totp_authenticator, user},
    sessions::end_sessions_of,
};

/// An account's TOTP authenticator as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTotp {
    /// Which key sealed the secret.
    pub key_id: String,
    /// The sealed secret.
    pub sealed_secret: String,
    /// Set once the user proved their app has it; until then it is only being set up.
    pub confirmed: bool,
}

/// A login waiting for its second step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaChallenge {
    /// Which challenge.
    pub id: uuid::Uuid,
    /// Whose login it is.
    pub user_id: UserId,
    /// How the login's first step was made (a password, or another provider).
    pub first: AuthMethod,
}

/// Reads and changes second factors.
#[derive(Debug, Clone)]
pub struct MfaRepository {
    db: DatabaseConnection,
    cache: SessionCache,
}

impl MfaRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: SessionCache::off(),
        }
    }

    /// The same repository, keeping `cache` in step when it ends sessions.
    pub fn with_session_cache(self, cache: SessionCache) -> Self {
        Self { cache, ..self }
    }

    /// What second factors `user_id` has.
    pub async fn factors(&self, user_id: UserId) -> Result<SecondFactors, RepoError> {
        let totp = totp_authenticator::Entity::find_by_id(user_id.as_uuid())
            .filter(totp_authenticator::Column::ConfirmedAt.is_not_null())
            .count(&self.db)
            .await?;
        let codes = recovery_code::Entity::find()
            .filter(recovery_code::Column::UserId.eq(user_id.as_uuid()))
            .filter(recovery_code::Column::UsedAt.is_null())
            .count(&self.db)
            .await?;
        let passkeys = passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
            .count(&self.db)
            .await?;
        Ok(SecondFactors {
            totp: totp > 0,
            passkeys: u32::try_from(passkeys).unwrap_or(u32::MAX),
            recovery_codes_left: u32::try_from(codes).unwrap_or(u32::MAX),
        })
    }

    /// The account's authenticator, confirmed or being set up.
    pub async fn totp(&self, user_id: UserId) -> Result<Option<StoredTotp>, RepoError> {
        Ok(totp_authenticator::Entity::find_by_id(user_id.as_uuid())
            .one(&self.db)
            .await?
            .map(|row| StoredTotp {
                key_id: row.key_id,
                sealed_secret: row.sealed_secret,
                confirmed: row.confirmed_at.is_some(),
            }))
    }

    /// Stores a new, unconfirmed authenticator, replacing one being set up;
    /// [`Conflict::TotpAlreadyEnabled`] when a confirmed one exists.
    pub async fn start_totp_setup(
        &self,
        user_id: UserId,
        key_id: &str,
        sealed_secret: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let txn = self.db.begin().await?;
        take_turns_on_account(&txn, user_id).await?;
        let current = totp_authenticator::Entity::find_by_id(user_id.as_uuid())
            .one(&txn)
            .await?;
        if current
            .as_ref()
            .is_some_and(|row| row.confirmed_at.is_some())
        {
            return Err(RepoError::Conflict(Conflict::TotpAlreadyEnabled));
        }
        if current.is_some() {
            totp_authenticator::Entity::delete_by_id(user_id.as_uuid())
                .exec(&txn)
                .await?;
        }
        let row = totp_authenticator::ActiveModel {
            user_id: Set(user_id.as_uuid()),
            key_id: Set(key_id.to_owned()),
            sealed_secret: Set(sealed_secret.to_owned()),
            confirmed_at: Set(None),
            last_used_step: Set(None),
            created_at: Set(now),
        };
        totp_authenticator::Entity::insert(row)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Turns the authenticator being set up on, having accepted the code of `step`;
    /// stores `recovery_hashes` as the account's codes (the old ones go); ends every
    /// session but `keep`; records `event` (and the sessions ended). All in one
    /// transaction. `None` when no setup was in progress (nothing changes), else how many
    /// sessions ended.
    pub async fn confirm_totp(
        &self,
        user_id: UserId,
        step: u64,
        recovery_hashes: &[String],
        keep: SessionId,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Option<u64>, RepoError> {
        use totp_authenticator::Column as C;
        let txn = self.db.begin().await?;
        let confirmed = totp_authenticator::Entity::update_many()
            .col_expr(C::ConfirmedAt, Expr::value(now))
            .col_expr(C::LastUsedStep, Expr::value(step_value(step)?))
            .filter(C::UserId.eq(user_id.as_uuid()))
            .filter(C::ConfirmedAt.is_null())
            .exec(&txn)
            .await?;
        if confirmed.rows_affected == 0 {
            return Ok(None);
        }
        replace_recovery_codes(&txn, user_id, recovery_hashes, now).await?;
        let ended = end_sessions_of(&txn, user_id, Some(keep), now).await?;
        let recorded = record_with_endings(&txn, event, ended).await?;
        let committed = txn.commit().await;
        self.cache.forget_user(user_id);
        committed?;
        recorded.into_iter().for_each(Recorded::committed);
        Ok(Some(ended))
    }

    /// Accepts `step` for the account's confirmed authenticator if no step at or after it
    /// was accepted before: one conditional `UPDATE`, so of two requests with one code
    /// only one passes.
    pub async fn accept_totp_step(&self, user_id: UserId, step: u64) -> Result<bool, RepoError> {
        use totp_authenticator::Column as C;
        let step = step_value(step)?;
        let result = totp_authenticator::Entity::update_many()
            .col_expr(C::LastUsedStep, Expr::value(step))
            .filter(C::UserId.eq(user_id.as_uuid()))
            .filter(C::ConfirmedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(C::LastUsedStep.is_null())
                    .add(C::LastUsedStep.lt(step)),
            )
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Spends the unused recovery code with one of these hashes (the typed code under each
    /// held key); `None` when there is none, else how many unused codes are left.
    pub async fn use_recovery_code(
        &self,
        user_id: UserId,
        code_hashes: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<u32>, RepoError> {
        use recovery_code::Column as C;
        let spent = recovery_code::Entity::update_many()
            .col_expr(C::UsedAt, Expr::value(now))
            .filter(C::UserId.eq(user_id.as_uuid()))
            .filter(C::CodeHash.is_in(code_hashes.iter().map(String::as_str)))
            .filter(C::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        if spent.rows_affected == 0 {
            return Ok(None);
        }
        Ok(Some(self.factors(user_id).await?.recovery_codes_left))
    }

    /// Replaces the account's recovery codes and records `event`, in one transaction,
    /// if the account has a second factor for them to stand in for: false (nothing
    /// changes) when it has none, also when its last factor is being removed at the same
    /// moment.
    pub async fn renew_recovery_codes(
        &self,
        user_id: UserId,
        recovery_hashes: &[String],
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        take_turns_on_account(&txn, user_id).await?;
        // Writing first takes SQLite's write lock before the factors are read.
        replace_recovery_codes(&txn, user_id, recovery_hashes, now).await?;
        if !has_factor(&txn, user_id).await? {
            return Ok(false);
        }
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(true)
    }

    /// Removes the account's authenticator (and, with no other factor left, its recovery
    /// codes) and records `event`, in one transaction. False when there was none.
    pub async fn disable_totp(
        &self,
        user_id: UserId,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        // A passkey removed at the same moment must see this removal, or codes would stay
        // with no factor left.
        take_turns_on_account(&txn, user_id).await?;
        let removed = totp_authenticator::Entity::delete_by_id(user_id.as_uuid())
            .exec(&txn)
            .await?;
        if removed.rows_affected == 0 {
            return Ok(false);
        }
        drop_codes_without_factor(&txn, user_id).await?;
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(true)
    }

    /// Removes every second factor of the account (TOTP, passkeys) and its recovery codes,
    /// ends all its sessions, pending second steps and passkey ceremonies, and records `event` (with the sessions ended),
    /// in one transaction. Returns how many sessions ended.
    pub async fn reset(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<u64, RepoError> {
        let txn = self.db.begin().await?;
        remove_every_factor(&txn, user_id).await?;
        let ended = end_sessions_of(&txn, user_id, None, now).await?;
        let recorded = record_with_endings(&txn, event, ended).await?;
        let committed = txn.commit().await;
        self.cache.forget_user(user_id);
        committed?;
        recorded.into_iter().for_each(Recorded::committed);
        Ok(ended)
    }
}

fn step_value(step: u64) -> Result<i64, RepoError> {
    i64::try_from(step).map_err(|_| RepoError::Corrupt(format!("TOTP step {step}")))
}

/// Two transactions changing one account's factors take turns on its row. SQLite has no
/// row locks: a write that changes nothing takes the database's write lock at once, so
/// the transaction's reads that follow cannot go stale (a read-then-write transaction
/// there fails when another wrote in between).
pub(crate) async fn take_turns_on_account(
    txn: &DatabaseTransaction,
    user_id: UserId,
) -> Result<(), RepoError> {
    if txn.get_database_backend() == DatabaseBackend::Sqlite {
        user::Entity::update_many()
            .col_expr(user::Column::Id, Expr::col(user::Column::Id))
            .filter(user::Column::Id.eq(user_id.as_uuid()))
            .exec(txn)
            .await?;
    } else {
        user::Entity::find_by_id(user_id.as_uuid())
            .lock_exclusive()
            .all(txn)
            .await?;
    }
    Ok(())
}

/// Removes the account's TOTP, recovery codes, passkeys, pending second steps and passkey
/// ceremonies (an MFA reset; an account claimed back by its mailbox's owner).
pub(crate) async fn remove_every_factor(
    txn: &DatabaseTransaction,
    user_id: UserId,
) -> Result<(), RepoError> {
    totp_authenticator::Entity::delete_by_id(user_id.as_uuid())
        .exec(txn)
        .await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id.as_uuid()))
        .exec(txn)
        .await?;
    mfa_challenge::Entity::delete_many()
        .filter(mfa_challenge::Column::UserId.eq(user_id.as_uuid()))
        .exec(txn)
        .await?;
    passkey::Entity::delete_many()
        .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
        .exec(txn)
        .await?;
    passkey_ceremony::Entity::delete_many()
        .filter(passkey_ceremony::Column::UserId.eq(user_id.as_uuid()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Recovery codes stand in for a second factor: with no TOTP and no passkey left, they go.
pub(crate) async fn drop_codes_without_factor(
    txn: &DatabaseTransaction,
    user_id: UserId,
) -> Result<(), RepoError> {
    if !has_factor(txn, user_id).await? {
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::UserId.eq(user_id.as_uuid()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Whether the account has a confirmed TOTP authenticator or a passkey.
async fn has_factor(txn: &DatabaseTransaction, user_id: UserId) -> Result<bool, RepoError> {
    let totp = totp_authenticator::Entity::find_by_id(user_id.as_uuid())
        .filter(totp_authenticator::Column::ConfirmedAt.is_not_null())
        .count(txn)
        .await?;
    let passkeys = passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
        .count(txn)
        .await?;
    Ok(totp > 0 || passkeys > 0)
}

async fn replace_recovery_codes(
    txn: &DatabaseTransaction,
    user_id: UserId,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id.as_uuid()))
        .exec(txn)
        .await?;
    let rows = hashes.iter().map(|hash| recovery_code::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(user_id.as_uuid()),
        code_hash: Set(hash.clone()),
        used_at: Set(None),
        created_at: Set(now),
    });
    recovery_code::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Records `event` with the number of sessions it ended and, when it ended any, the
/// `session.ended` beside it.
pub(crate) async fn record_with_endings(
    txn: &DatabaseTransaction,
    event: &NewAuditEvent,
    ended: u64,
) -> Result<Vec<Recorded>, RepoError> {
    let event = event.clone().with("sessions_ended", ended.to_string());
    let mut recorded = vec![record_event(txn, &event).await?];
    if let Some(ending) = sessions_ended_by(&event, ended) {
        recorded.push(record_event(txn, &ending).await?);
    }
    debug_assert!(matches!(
        event.event_type,
        AuditEventType::TotpEnabled
            | AuditEventType::PasskeyAdded
            | AuditEventType::PasskeyRemoved
            | AuditEventType::MfaReset
    ));
    Ok(recorded)
}
