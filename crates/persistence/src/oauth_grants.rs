//! What the OpenID Provider hands out: consents, authorization codes, grants and their
//! refresh tokens. Codes and refresh tokens are stored only as the SHA-256 they are handed
//! by the caller. Using a code or a refresh token is one conditional statement, so of two
//! requests racing with the same one exactly one wins and the other is a replay.

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    Assurance, AuthorizationCode, ClientId, CodeChallenge, Grant, GrantId, NewAuditEvent, Scopes,
    SessionId, UserId,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, SqlErr, TransactionTrait, sea_query::Expr,
};

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
        match self
            .try_remember(user_id, client, granted, now, event)
            .await
        {
            // Two first authorizations at once both insert: the loser adds to the winner's.
            Err(RepoError::Db(error))
                if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
            {
                self.try_remember(user_id, client, granted, now, event)
                    .await
            }
            other => other,
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
        let key = (user_id.as_uuid(), client.as_str().to_owned());
        let before = oauth_consent::Entity::find_by_id(key).all(&txn).await?;
        match before.first() {
            Some(previous) => {
                let all = scopes(&previous.scopes)?.union(granted);
                oauth_consent::Entity::update_many()
                    .col_expr(oauth_consent::Column::Scopes, Expr::value(all.to_string()))
                    .col_expr(oauth_consent::Column::GrantedAt, Expr::value(now))
                    .filter(oauth_consent::Column::UserId.eq(user_id.as_uuid()))
                    .filter(oauth_consent::Column::ClientId.eq(client.as_str()))
                    .exec(&txn)
                    .await?;
            }
            None => {
                let row = oauth_consent::ActiveModel {
                    user_id: Set(user_id.as_uuid()),
                    client_id: Set(client.as_str().to_owned()),
                    scopes: Set(granted.to_string()),
                    granted_at: Set(now),
                };
                oauth_consent::Entity::insert(row).exec(&txn).await?;
            }
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

    /// Stores a new code by its SHA-256.
    pub async fn store_code(&self, hash: &str, code: &AuthorizationCode) -> Result<(), RepoError> {
        let row = oauth_code::ActiveModel {
            hash: Set(hash.to_owned()),
            client_id: Set(code.client_id.as_str().to_owned()),
            user_id: Set(code.user_id.as_uuid()),
            session_id: Set(code.session_id.as_uuid()),
            redirect_uri: Set(code.redirect_uri.clone()),
            code_challenge: Set(code.code_challenge.as_str().to_owned()),
            nonce: Set(code.nonce.clone()),
            scopes: Set(code.scopes.to_string()),
            auth_time: Set(code.auth_time),
            amr: Set(code.assurance.to_stored()),
            expires_at: Set(code.expires_at),
            used_at: Set(None),
            grant_id: Set(None),
        };
        oauth_code::Entity::insert(row).exec(&self.db).await?;
        Ok(())
    }

    /// The code with this SHA-256, if any.
    pub async fn find_code(&self, hash: &str) -> Result<Option<StoredCode>, RepoError> {
        let Some(row) = oauth_code::Entity::find_by_id(hash.to_owned())
            .all(&self.db)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        if row.used_at.is_some() {
            return Ok(Some(StoredCode::Used {
                grant: row.grant_id.map(GrantId::from_uuid),
            }));
        }
        Ok(Some(StoredCode::Fresh(code_of(row)?)))
    }

    /// Uses the code with this SHA-256 and opens `grant` from it (with its first refresh
    /// token, when it has one), in one transaction. `false` when the code was used
    /// meanwhile: nothing is opened.
    pub async fn redeem_code(
        &self,
        hash: &str,
        grant: &Grant,
        refresh: Option<NewRefreshToken<'_>>,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        let used = oauth_code::Entity::update_many()
            .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
            .col_expr(oauth_code::Column::GrantId, Expr::value(grant.id.as_uuid()))
            .filter(oauth_code::Column::Hash.eq(hash))
            .filter(oauth_code::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if used.rows_affected == 0 {
            return Ok(false);
        }
        oauth_grant::Entity::insert(grant_row(grant))
            .exec(&txn)
            .await?;
        if let Some(refresh) = refresh {
            store_refresh(&txn, grant.id, refresh).await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    /// The grant `id`, unless it was revoked.
    pub async fn active_grant(&self, id: GrantId) -> Result<Option<Grant>, RepoError> {
        oauth_grant::Entity::find_by_id(id.as_uuid())
            .filter(oauth_grant::Column::RevokedAt.is_null())
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(grant_of)
            .transpose()
    }

    /// Uses the refresh token with SHA-256 `hash` and stores `next` in its place, when it
    /// is its grant's unused, unexpired token and the grant is active.
    pub async fn rotate_refresh(
        &self,
        hash: &str,
        next: NewRefreshToken<'_>,
        now: DateTime<Utc>,
    ) -> Result<RefreshUse, RepoError> {
        let Some(token) = self.refresh_row(hash).await? else {
            return Ok(RefreshUse::Unknown);
        };
        let Some(grant) = self.grant_row(token.grant_id).await? else {
            return Ok(RefreshUse::Unknown);
        };
        let revoked = grant.revoked_at.is_some();
        let grant = grant_of(grant)?;
        if token.used_at.is_some() || revoked {
            return Ok(RefreshUse::Replayed(grant));
        }
        if token.expires_at <= now {
            return Ok(RefreshUse::Unknown);
        }
        let txn = self.db.begin().await?;
        let used = oauth_refresh_token::Entity::update_many()
            .col_expr(oauth_refresh_token::Column::UsedAt, Expr::value(now))
            .filter(oauth_refresh_token::Column::Hash.eq(hash))
            .filter(oauth_refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if used.rows_affected == 0 {
            return Ok(RefreshUse::Replayed(grant));
        }
        // Revoked meanwhile (logout-all, Remove access): no new token.
        if touch_active(&txn, grant.id, now).await? == 0 {
            return Ok(RefreshUse::Replayed(grant));
        }
        store_refresh(&txn, grant.id, next).await?;
        txn.commit().await?;
        Ok(RefreshUse::Rotated(Grant {
            last_used_at: now,
            ..grant
        }))
    }

    /// The grant the refresh token with SHA-256 `hash` belongs to, active or not.
    pub async fn grant_of_refresh(&self, hash: &str) -> Result<Option<Grant>, RepoError> {
        let Some(token) = self.refresh_row(hash).await? else {
            return Ok(None);
        };
        self.grant_row(token.grant_id)
            .await?
            .map(grant_of)
            .transpose()
    }

    async fn refresh_row(
        &self,
        hash: &str,
    ) -> Result<Option<oauth_refresh_token::Model>, RepoError> {
        Ok(oauth_refresh_token::Entity::find_by_id(hash.to_owned())
            .all(&self.db)
            .await?
            .into_iter()
            .next())
    }

    async fn grant_row(&self, id: uuid::Uuid) -> Result<Option<oauth_grant::Model>, RepoError> {
        Ok(oauth_grant::Entity::find_by_id(id)
            .all(&self.db)
            .await?
            .into_iter()
            .next())
    }

    /// The active grant of the unused, unexpired refresh token with SHA-256 `hash`, and
    /// when the token expires.
    pub async fn live_refresh(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Grant, DateTime<Utc>)>, RepoError> {
        let Some(token) = oauth_refresh_token::Entity::find_by_id(hash.to_owned())
            .filter(oauth_refresh_token::Column::UsedAt.is_null())
            .filter(oauth_refresh_token::Column::ExpiresAt.gt(now))
            .all(&self.db)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let grant = self
            .active_grant(GrantId::from_uuid(token.grant_id))
            .await?;
        Ok(grant.map(|grant| (grant, token.expires_at)))
    }

    /// Ends grant `id` (its refresh tokens and access tokens stop working), recording
    /// `event` when it was active.
    pub async fn revoke_grant(
        &self,
        id: GrantId,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        let ended = oauth_grant::Entity::update_many()
            .col_expr(oauth_grant::Column::RevokedAt, Expr::value(now))
            .filter(oauth_grant::Column::Id.eq(id.as_uuid()))
            .filter(oauth_grant::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        let recorded = match event {
            Some(event) => Some(record_event(&txn, event).await?),
            None => None,
        };
        txn.commit().await?;
        if let Some(recorded) = recorded {
            recorded.committed();
        }
        Ok(ended.rows_affected > 0)
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

async fn store_refresh(
    db: &impl ConnectionTrait,
    grant: GrantId,
    token: NewRefreshToken<'_>,
) -> Result<(), RepoError> {
    let row = oauth_refresh_token::ActiveModel {
        hash: Set(token.hash.to_owned()),
        grant_id: Set(grant.as_uuid()),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
    };
    oauth_refresh_token::Entity::insert(row).exec(db).await?;
    Ok(())
}

/// Records a use of grant `grant` when it is still active; how many rows changed.
async fn touch_active(
    db: &impl ConnectionTrait,
    grant: GrantId,
    now: DateTime<Utc>,
) -> Result<u64, RepoError> {
    let touched = oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::LastUsedAt, Expr::value(now))
        .filter(oauth_grant::Column::Id.eq(grant.as_uuid()))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(touched.rows_affected)
}

fn grant_row(grant: &Grant) -> oauth_grant::ActiveModel {
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

fn code_of(row: oauth_code::Model) -> Result<AuthorizationCode, RepoError> {
    Ok(AuthorizationCode {
        client_id: client_id(&row.client_id)?,
        user_id: UserId::from_uuid(row.user_id),
        session_id: SessionId::from_uuid(row.session_id),
        redirect_uri: row.redirect_uri,
        code_challenge: CodeChallenge::parse(&row.code_challenge).ok_or_else(|| {
            RepoError::Corrupt(format!("code challenge {:?}", row.code_challenge))
        })?,
        nonce: row.nonce,
        scopes: scopes(&row.scopes)?,
        auth_time: row.auth_time,
        assurance: assurance(&row.amr)?,
        expires_at: row.expires_at,
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
