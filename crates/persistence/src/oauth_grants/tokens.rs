//! Codes, grants and refresh tokens: each use one conditional statement, so of two
//! requests racing with the same code or token exactly one wins.

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    AuthorizationCode, CodeChallenge, Grant, GrantId, NewAuditEvent, SessionId, UserId,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::Expr,
};

use super::{
    NewRefreshToken, OauthGrantRepository, RefreshUse, StoredCode, assurance, client_id, grant_of,
    new_grant_row, scopes,
};
use crate::{
    RepoError,
    audit::record_event,
    entity::{oauth_code, oauth_grant, oauth_refresh_token},
};

impl OauthGrantRepository {
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
        oauth_grant::Entity::insert(new_grant_row(grant))
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
