//! What the OpenID Provider hands out: consents, authorization codes, grants and their
//! refresh tokens. Codes and refresh tokens are stored only as the SHA-256 they are handed
//! by the caller. Using a code or a refresh token is one conditional statement, so of two
//! requests racing with the same one exactly one wins and the other is a replay.

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    Assurance, AuthorizationCode, ClientId, Grant, GrantId, NewAuditEvent, Scopes, SessionId,
    UserId,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, SqlErr, TransactionTrait, sea_query::Expr,
};

mod tokens;

use crate::{
    RepoError,
    audit::record_event,
    entity::{oauth_code, oauth_consent, oauth_grant, oauth_refresh_token},
};

/// What presenting a stored code found.
#[derive(Debug)]
pub enum StoredCode {
    /// Never used: what it is bound to.
    Fresh(AuthorizationCode),
    /// Used before: the grant it opened, if any.
    Used {
        /// The grant it opened.
        grant: Option<GrantId>,
    },
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshUse {
    /// The grant's current token: it is now used, and the new one stored.
    Rotated(Grant),
    /// A token used before, or one of a revoked grant: the grant it belongs to.
    Replayed(Grant),
    /// Unknown or expired.
    Unknown,
}

/// A refresh token to store: its SHA-256 and when it stops working.
#[derive(Debug, Clone, Copy)]
pub struct NewRefreshToken<'a> {
    /// SHA-256, hex.
    pub hash: &'a str,
    /// Its end.
    pub expires_at: DateTime<Utc>,
}

/// An app the account let in, for the account page.
#[derive(Debug, Clone)]
pub struct AppAccess {
    /// The client.
    pub client_id: ClientId,
    /// The scopes granted.
    pub scopes: Scopes,
    /// When the account consented (or first signed in, for a first-party app).
    pub granted_at: DateTime<Utc>,
    /// When a token was last issued to it, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Consents, codes, grants and refresh tokens.
#[derive(Debug, Clone)]
pub struct OauthGrantRepository {
    db: DatabaseConnection,
}

impl OauthGrantRepository {
    /// The provider's records in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The scopes `user_id` let `client` have, if it ever consented.
    pub async fn consent(
        &self,
        user_id: UserId,
        client: &ClientId,
    ) -> Result<Option<Scopes>, RepoError> {
        oauth_consent::Entity::find_by_id((user_id.as_uuid(), client.as_str().to_owned()))
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(|row| scopes(&row.scopes))
            .transpose()
    }

    /// Remembers that `user_id` let `client` have `granted` (what it had before, and
    /// more), recording `event` with it.
    pub async fn remember_consent(
        &self,
        user_id: UserId,
        client: &ClientId,
        granted: &Scopes,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<(), RepoError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .try_remember(user_id, client, granted, now, event)
                .await
            {
                // Two first authorizations at once both insert: the loser adds to the
                // winner's. On MariaDB both `UPDATE`s of the missing row take the same gap
                // lock and their `INSERT`s then deadlock: the one InnoDB rolls back tries
                // again the same way.
                Err(RepoError::Db(error))
                    if attempts < 3
                        && (matches!(
                            error.sql_err(),
                            Some(SqlErr::UniqueConstraintViolation(_))
                        ) || is_deadlock(&error)) => {}
                other => return other,
            }
        }
    }

    async fn try_remember(
        &self,
        user_id: UserId,
        client: &ClientId,
        granted: &Scopes,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<(), RepoError> {
        let txn = self.db.begin().await?;
        // A write first: it takes the row's lock (SQLite: the database's) before the read,
        // so two consents at once add up instead of one reader failing to write (SQLite's
        // `SQLITE_BUSY_SNAPSHOT`) or overwriting the other's scopes.
        let mine = || {
            Condition::all()
                .add(oauth_consent::Column::UserId.eq(user_id.as_uuid()))
                .add(oauth_consent::Column::ClientId.eq(client.as_str()))
        };
        let held = oauth_consent::Entity::update_many()
            .col_expr(oauth_consent::Column::GrantedAt, Expr::value(now))
            .filter(mine())
            .exec(&txn)
            .await?;
        if held.rows_affected == 0 {
            let row = oauth_consent::ActiveModel {
                user_id: Set(user_id.as_uuid()),
                client_id: Set(client.as_str().to_owned()),
                scopes: Set(granted.to_string()),
                granted_at: Set(now),
            };
            oauth_consent::Entity::insert(row).exec(&txn).await?;
        } else {
            let key = (user_id.as_uuid(), client.as_str().to_owned());
            let before = oauth_consent::Entity::find_by_id(key).all(&txn).await?;
            let previous = before.first().map(|row| scopes(&row.scopes)).transpose()?;
            let all = previous.unwrap_or_default().union(granted);
            oauth_consent::Entity::update_many()
                .col_expr(oauth_consent::Column::Scopes, Expr::value(all.to_string()))
                .filter(mine())
                .exec(&txn)
                .await?;
        }
        let recorded = match event {
            Some(event) => Some(record_event(&txn, event).await?),
            None => None,
        };
        txn.commit().await?;
        if let Some(recorded) = recorded {
            recorded.committed();
        }
        Ok(())
    }

    /// The apps `user_id` let in, oldest first.
    pub async fn apps_of(&self, user_id: UserId) -> Result<Vec<AppAccess>, RepoError> {
        let consents = oauth_consent::Entity::find()
            .filter(oauth_consent::Column::UserId.eq(user_id.as_uuid()))
            .order_by_asc(oauth_consent::Column::GrantedAt)
            .all(&self.db)
            .await?;
        let grants = oauth_grant::Entity::find()
            .filter(oauth_grant::Column::UserId.eq(user_id.as_uuid()))
            .all(&self.db)
            .await?;
        consents
            .into_iter()
            .map(|consent| {
                let last_used_at = grants
                    .iter()
                    .filter(|grant| grant.client_id == consent.client_id)
                    .map(|grant| grant.last_used_at)
                    .max();
                Ok(AppAccess {
                    client_id: client_id(&consent.client_id)?,
                    scopes: scopes(&consent.scopes)?,
                    granted_at: consent.granted_at,
                    last_used_at,
                })
            })
            .collect()
    }

    /// Forgets `user_id`'s consent to `client` and ends the client's grants for the user
    /// (their refresh tokens stop at once), recording `event`. `false` when there was
    /// nothing to take away.
    pub async fn remove_access(
        &self,
        user_id: UserId,
        client: &ClientId,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        let forgotten = oauth_consent::Entity::delete_many()
            .filter(oauth_consent::Column::UserId.eq(user_id.as_uuid()))
            .filter(oauth_consent::Column::ClientId.eq(client.as_str()))
            .exec(&txn)
            .await?;
        let ended = oauth_grant::Entity::update_many()
            .col_expr(oauth_grant::Column::RevokedAt, Expr::value(now))
            .filter(oauth_grant::Column::UserId.eq(user_id.as_uuid()))
            .filter(oauth_grant::Column::ClientId.eq(client.as_str()))
            .filter(oauth_grant::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        oauth_code::Entity::update_many()
            .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
            .filter(oauth_code::Column::UserId.eq(user_id.as_uuid()))
            .filter(oauth_code::Column::ClientId.eq(client.as_str()))
            .filter(oauth_code::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if forgotten.rows_affected == 0 && ended.rows_affected == 0 {
            return Ok(false);
        }
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(true)
    }
}

impl OauthGrantRepository {
    /// Deletes what can no longer be used nor recognised as a replay worth acting on:
    /// codes an hour past their minute, refresh tokens past their end, and grants a day
    /// after they were revoked (their tokens with them). Returns how many rows went.
    pub async fn purge(&self, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let codes = oauth_code::Entity::delete_many()
            .filter(oauth_code::Column::ExpiresAt.lt(now - chrono::Duration::hours(1)))
            .exec(&self.db)
            .await?;
        let tokens = oauth_refresh_token::Entity::delete_many()
            .filter(oauth_refresh_token::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?;
        let ended = oauth_grant::Entity::find()
            .filter(oauth_grant::Column::RevokedAt.lt(now - chrono::Duration::days(1)))
            .all(&self.db)
            .await?;
        let ids: Vec<_> = ended.iter().map(|grant| grant.id).collect();
        let mut grants = 0;
        for batch in ids.chunks(500) {
            oauth_refresh_token::Entity::delete_many()
                .filter(oauth_refresh_token::Column::GrantId.is_in(batch.to_vec()))
                .exec(&self.db)
                .await?;
            grants += oauth_grant::Entity::delete_many()
                .filter(oauth_grant::Column::Id.is_in(batch.to_vec()))
                .exec(&self.db)
                .await?
                .rows_affected;
        }
        Ok(codes.rows_affected + tokens.rows_affected + grants)
    }
}

/// Ends every active grant of `user_id`, and every code not yet redeemed (which would
/// otherwise open a grant after the end).
pub(crate) async fn end_grants_of(
    db: &impl ConnectionTrait,
    user_id: UserId,
    now: DateTime<Utc>,
) -> Result<u64, RepoError> {
    oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
        .filter(oauth_code::Column::UserId.eq(user_id.as_uuid()))
        .filter(oauth_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    let ended = oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::value(now))
        .filter(oauth_grant::Column::UserId.eq(user_id.as_uuid()))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(ended.rows_affected)
}

fn new_grant_row(grant: &Grant) -> oauth_grant::ActiveModel {
    oauth_grant::ActiveModel {
        id: Set(grant.id.as_uuid()),
        client_id: Set(grant.client_id.as_str().to_owned()),
        user_id: Set(grant.user_id.as_uuid()),
        session_id: Set(grant.session_id.as_uuid()),
        scopes: Set(grant.scopes.to_string()),
        auth_time: Set(grant.auth_time),
        amr: Set(grant.assurance.to_stored()),
        created_at: Set(grant.created_at),
        last_used_at: Set(grant.last_used_at),
        revoked_at: Set(None),
    }
}

fn grant_of(row: oauth_grant::Model) -> Result<Grant, RepoError> {
    Ok(Grant {
        id: GrantId::from_uuid(row.id),
        client_id: client_id(&row.client_id)?,
        user_id: UserId::from_uuid(row.user_id),
        session_id: SessionId::from_uuid(row.session_id),
        scopes: scopes(&row.scopes)?,
        auth_time: row.auth_time,
        assurance: assurance(&row.amr)?,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    })
}

fn scopes(raw: &str) -> Result<Scopes, RepoError> {
    Scopes::parse(raw).map_err(|name| RepoError::Corrupt(format!("scope {name:?}")))
}

fn client_id(raw: &str) -> Result<ClientId, RepoError> {
    ClientId::parse(raw).ok_or_else(|| RepoError::Corrupt(format!("client id {raw:?}")))
}

fn assurance(raw: &str) -> Result<Assurance, RepoError> {
    Assurance::from_stored(raw).ok_or_else(|| RepoError::Corrupt(format!("amr {raw:?}")))
}

/// A transaction the database rolled back to break a deadlock or a serialization
/// conflict (SQLSTATE 40001; Postgres' deadlock 40P01): run again, it succeeds.
fn is_deadlock(error: &sea_orm::DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    match error {
        sea_orm::DbErr::Exec(RuntimeErr::SqlxError(e))
        | sea_orm::DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(&**e, sqlx::Error::Database(db) if db.code().is_some_and(|code| code == "40001" || code == "40P01"))
        }
        _ => false,
    }
}
