//! Passkeys as stored: each account's credentials (as the caller serialised them, found
//! by a hash of the credential id, unique across accounts) and the ceremonies begun and
//! not yet finished. A ceremony is taken by one `DELETE`, so of two requests finishing
//! it, one gets it; a credential's counter moves by a compare-and-set on its version.

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    Aal, CeremonyId, CeremonyPurpose, Conflict, NewAuditEvent, PasskeyId, PasskeyName,
    PasskeySummary, SessionId, UserId,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use crate::{
    RepoError, SessionCache,
    audit::Recorded,
    entity::{identity, passkey, passkey_ceremony, session, user},
    mfa::{drop_codes_without_factor, record_with_endings, take_turns_on_account},
    sessions::{end_sessions_of, revoke_sessions, sessions_of},
};

/// How many ceremonies of one purpose an account may have open at once.
pub const MAX_OPEN_CEREMONIES: usize = 5;

/// How many passkeys one account may hold.
pub const MAX_PASSKEYS_PER_ACCOUNT: u64 = 20;

/// A stored credential, as an authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    /// Which passkey.
    pub id: PasskeyId,
    /// Whose it is.
    pub user_id: UserId,
    /// The credential as the caller serialised it.
    pub credential: String,
    /// Moves on each change of `credential`; a change names the version it read.
    pub version: i64,
}

/// A passkey to add.
#[derive(Debug, Clone)]
pub struct NewStoredPasskey<'a> {
    /// The hash of the authenticator's credential id.
    pub credential_id_hash: &'a str,
    /// The credential as the caller serialised it.
    pub credential: &'a str,
    /// Its name; `None` names it by its number.
    pub name: Option<PasskeyName>,
}

/// Reads and changes passkeys and their ceremonies.
#[derive(Debug, Clone)]
pub struct PasskeyRepository {
    db: DatabaseConnection,
    cache: SessionCache,
}

impl PasskeyRepository {
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

    /// The account's passkeys, oldest first.
    pub async fn list(&self, user_id: UserId) -> Result<Vec<PasskeySummary>, RepoError> {
        Ok(passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
            .order_by_asc(passkey::Column::CreatedAt)
            .order_by_asc(passkey::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(summary)
            .collect())
    }

    /// The account's credentials, as stored (to exclude them from a registration, or to
    /// allow them in a second step).
    pub async fn credentials_of(&self, user_id: UserId) -> Result<Vec<String>, RepoError> {
        Ok(passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| row.credential)
            .collect())
    }

    /// The hashes of the account's credential ids.
    pub async fn list_credential_hashes(&self, user_id: UserId) -> Result<Vec<String>, RepoError> {
        Ok(passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| row.credential_id_hash)
            .collect())
    }

    /// The passkey whose credential id has this hash, whoever owns it.
    pub async fn find_by_credential(
        &self,
        credential_id_hash: &str,
    ) -> Result<Option<StoredPasskey>, RepoError> {
        // A unique key: `all()`, not `one()` (see the crate docs on `LIMIT`).
        Ok(passkey::Entity::find()
            .filter(passkey::Column::CredentialIdHash.eq(credential_id_hash))
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(|row| StoredPasskey {
                id: PasskeyId::from_uuid(row.id),
                user_id: UserId::from_uuid(row.user_id),
                credential: row.credential,
                version: row.version,
            }))
    }

    /// Adds a passkey to the account (at most [`MAX_PASSKEYS_PER_ACCOUNT`]: each is in
    /// every ceremony's options, so they are bounded), ends its other sessions that were opened without a
    /// second factor (they are weaker than the account now requires), and records `event`
    /// (with the sessions ended), in one transaction.
    /// [`Conflict::PasskeyAlreadyRegistered`] when the credential is stored already.
    pub async fn add(
        &self,
        user_id: UserId,
        new: NewStoredPasskey<'_>,
        keep: SessionId,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<PasskeySummary, RepoError> {
        let txn = self.db.begin().await?;
        take_turns_on_account(&txn, user_id).await?;
        let held = passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
            .count(&txn)
            .await?;
        if held >= MAX_PASSKEYS_PER_ACCOUNT {
            return Err(RepoError::Conflict(Conflict::TooManyPasskeys));
        }
        let name = new
            .name
            .unwrap_or_else(|| PasskeyName::default_for(usize::try_from(held).unwrap_or(0)));
        let added = PasskeySummary {
            id: PasskeyId::new(),
            name,
            created_at: now,
            last_used_at: None,
            possibly_cloned: false,
        };
        let row = passkey::ActiveModel {
            id: Set(added.id.as_uuid()),
            user_id: Set(user_id.as_uuid()),
            credential_id_hash: Set(new.credential_id_hash.to_owned()),
            name: Set(added.name.as_str().to_owned()),
            credential: Set(new.credential.to_owned()),
            version: Set(0),
            possibly_cloned_at: Set(None),
            created_at: Set(now),
            last_used_at: Set(None),
        };
        passkey::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|e| RepoError::unique_as(e, Conflict::PasskeyAlreadyRegistered))?;
        let weaker =
            sessions_of(user_id, Some(keep)).add(session::Column::Aal.eq(Aal::Aal1.as_str()));
        let ended = revoke_sessions(&txn, weaker, now).await?;
        let recorded = record_with_endings(&txn, event, ended).await?;
        let committed = txn.commit().await;
        self.cache.forget_user(user_id);
        committed?;
        recorded.into_iter().for_each(Recorded::committed);
        Ok(added)
    }

    /// Renames the account's passkey `id`; `None` when the account has no such passkey.
    pub async fn rename(
        &self,
        user_id: UserId,
        id: PasskeyId,
        name: &PasskeyName,
    ) -> Result<Option<PasskeySummary>, RepoError> {
        let renamed = passkey::Entity::update_many()
            .col_expr(passkey::Column::Name, Expr::value(name.as_str()))
            .filter(passkey::Column::Id.eq(id.as_uuid()))
            .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
            .exec(&self.db)
            .await?;
        if renamed.rows_affected == 0 {
            return Ok(None);
        }
        Ok(passkey::Entity::find_by_id(id.as_uuid())
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(summary))
    }

    /// Removes the account's passkey `id` (and, with no second factor left, the recovery
    /// codes), ends every other session of the account (whoever holds the passkey may
    /// have signed in with it), and records `event` with the sessions ended, in one
    /// transaction. `None` when the account has no such passkey, else how many sessions
    /// ended.
    pub async fn remove(
        &self,
        user_id: UserId,
        id: PasskeyId,
        keep: SessionId,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Option<u64>, RepoError> {
        let txn = self.db.begin().await?;
        take_turns_on_account(&txn, user_id).await?;
        // Written first, checked after (dropping the transaction undoes it): on SQLite a
        // transaction that reads before it writes fails when another wrote meanwhile.
        let removed = passkey::Entity::delete_many()
            .filter(passkey::Column::Id.eq(id.as_uuid()))
            .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
            .exec(&txn)
            .await?;
        if removed.rows_affected == 0 {
            return Ok(None);
        }
        if !has_a_way_in(&txn, user_id).await? {
            return Err(RepoError::Conflict(Conflict::LastWayToSignIn));
        }
        drop_codes_without_factor(&txn, user_id).await?;
        let ended = end_sessions_of(&txn, user_id, Some(keep), now).await?;
        let recorded = record_with_endings(&txn, event, ended).await?;
        let committed = txn.commit().await;
        self.cache.forget_user(user_id);
        committed?;
        recorded.into_iter().for_each(Recorded::committed);
        Ok(Some(ended))
    }

    /// Records a sign-in by `passkey`: when it was used and, if its credential changed
    /// (its counter moved), the new one, provided nobody changed it since it was read.
    /// False when someone did: the caller refuses this sign-in.
    pub async fn record_use(
        &self,
        passkey: &StoredPasskey,
        updated: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        use passkey::Column as C;
        let mut update = passkey::Entity::update_many().col_expr(C::LastUsedAt, Expr::value(now));
        if let Some(credential) = updated {
            update = update
                .col_expr(C::Credential, Expr::value(credential))
                .col_expr(C::Version, Expr::col(C::Version).add(1));
        }
        let result = update
            .filter(C::Id.eq(passkey.id.as_uuid()))
            .filter(C::Version.eq(passkey.version))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Marks the passkey as possibly cloned (its counter went back), for its owner's list.
    pub async fn flag_possibly_cloned(
        &self,
        id: PasskeyId,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        passkey::Entity::update_many()
            .col_expr(passkey::Column::PossiblyClonedAt, Expr::value(now))
            .filter(passkey::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Stores a ceremony's `state` for `purpose` (and `user_id`, when one is signed in or
    /// known), until `expires_at`. The id goes to the client as `challenge_id`.
    pub async fn open_ceremony(
        &self,
        purpose: CeremonyPurpose,
        user_id: Option<UserId>,
        state: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<CeremonyId, RepoError> {
        let id = CeremonyId::new();
        let row = passkey_ceremony::ActiveModel {
            id: Set(id.as_uuid()),
            purpose: Set(purpose.as_str().to_owned()),
            user_id: Set(user_id.map(|user| user.as_uuid())),
            state: Set(state.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
        };
        passkey_ceremony::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await?;
        if let Some(user) = user_id {
            // An account keeps a few open at a time: a new one replaces the oldest, so a
            // loop of requests cannot fill the table until the hourly purge.
            use passkey_ceremony::Column as C;
            let beyond: Vec<uuid::Uuid> = passkey_ceremony::Entity::find()
                .select_only()
                .column(C::Id)
                .filter(C::UserId.eq(user.as_uuid()))
                .filter(C::Purpose.eq(purpose.as_str()))
                .order_by_desc(C::CreatedAt)
                .order_by_desc(C::Id)
                .into_tuple()
                .all(&self.db)
                .await?
                .into_iter()
                .skip(MAX_OPEN_CEREMONIES)
                .collect();
            if !beyond.is_empty() {
                passkey_ceremony::Entity::delete_many()
                    .filter(C::Id.is_in(beyond))
                    .exec(&self.db)
                    .await?;
            }
        }
        Ok(id)
    }

    /// Takes the ceremony `id` if it is unexpired and was opened for `purpose` and
    /// `user_id`: its state, for exactly one caller (one `DELETE` decides). `None` for an
    /// unknown, used or expired ceremony, or one of another purpose or account (which is
    /// left alone for its owner).
    pub async fn take_ceremony(
        &self,
        id: CeremonyId,
        purpose: CeremonyPurpose,
        user_id: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, RepoError> {
        use passkey_ceremony::Column as C;
        let owner = match user_id {
            Some(user) => C::UserId.eq(user.as_uuid()),
            None => C::UserId.is_null(),
        };
        let Some(row) = passkey_ceremony::Entity::find_by_id(id.as_uuid())
            .filter(C::Purpose.eq(purpose.as_str()))
            .filter(owner.clone())
            .filter(C::ExpiresAt.gt(now))
            .all(&self.db)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let taken = passkey_ceremony::Entity::delete_many()
            .filter(C::Id.eq(id.as_uuid()))
            .filter(C::Purpose.eq(purpose.as_str()))
            .filter(owner)
            .filter(C::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok((taken.rows_affected == 1).then_some(row.state))
    }

    /// Deletes ceremonies that expired before `before`. Returns how many.
    pub async fn purge_ceremonies(&self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        let result = passkey_ceremony::Entity::delete_many()
            .filter(passkey_ceremony::Column::ExpiresAt.lt(before))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}

/// Whether the account can still sign in: a password, an identity at another provider,
/// or a passkey (a reset by mail could still set a password, but an account should not
/// be left to that by a click).
pub(crate) async fn has_a_way_in(
    txn: &sea_orm::DatabaseTransaction,
    user_id: UserId,
) -> Result<bool, RepoError> {
    let has_password = user::Entity::find_by_id(user_id.as_uuid())
        .all(txn)
        .await?
        .into_iter()
        .next()
        .is_some_and(|row| gatehouse_domain::PasswordHash::new(row.hashed_password).is_set());
    if has_password {
        return Ok(true);
    }
    let identities = identity::Entity::find()
        .filter(identity::Column::UserId.eq(user_id.as_uuid()))
        .count(txn)
        .await?;
    let passkeys = passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id.as_uuid()))
        .count(txn)
        .await?;
    Ok(identities > 0 || passkeys > 0)
}

fn summary(row: passkey::Model) -> PasskeySummary {
    PasskeySummary {
        id: PasskeyId::from_uuid(row.id),
        name: PasskeyName::from_stored(row.name),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        possibly_cloned: row.possibly_cloned_at.is_some(),
    }
}
