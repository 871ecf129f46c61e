//! The apps gatehouse is the OpenID Provider for. A confidential client's secret is kept
//! only as the hash it is handed; every change is recorded with its audit event in the
//! same transaction.

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    ClientId, ClientSettings, ClientType, GrantType, NewAuditEvent, OauthClient, RedirectUri,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use crate::{RepoError, audit::record_event, entity::oauth_client};

/// What a change of registration does to the client's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChange<'a> {
    /// It stays as it is.
    Keep,
    /// It goes (the client became public).
    Clear,
    /// It is replaced by the secret with this hash (the client became confidential).
    Set(&'a str),
}

/// A client and the hash of its secret (`None` for a public client).
#[derive(Debug, Clone)]
pub struct StoredClient {
    /// The client.
    pub client: OauthClient,
    /// The SHA-256 of its secret, hex.
    pub secret_hash: Option<String>,
}

/// Registered OAuth clients.
#[derive(Debug, Clone)]
pub struct OauthClientRepository {
    db: DatabaseConnection,
}

impl OauthClientRepository {
    /// Clients in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores a new client with `secret_hash` and records `event`, in one transaction.
    pub async fn create(
        &self,
        id: &ClientId,
        settings: &ClientSettings,
        secret_hash: Option<&str>,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<OauthClient, RepoError> {
        let row = oauth_client::ActiveModel {
            id: Set(id.as_str().to_owned()),
            secret_hash: Set(secret_hash.map(str::to_owned)),
            created_at: Set(now),
            ..settings_row(settings, now)?
        };
        let txn = self.db.begin().await?;
        let model = oauth_client::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        client_of(model).map(|stored| stored.client)
    }

    /// The client `id`, with its secret's hash.
    pub async fn find(&self, id: &ClientId) -> Result<Option<StoredClient>, RepoError> {
        oauth_client::Entity::find_by_id(id.as_str().to_owned())
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(client_of)
            .transpose()
    }

    /// Every client, oldest first.
    pub async fn list(&self) -> Result<Vec<OauthClient>, RepoError> {
        oauth_client::Entity::find()
            .order_by_asc(oauth_client::Column::CreatedAt)
            .order_by_asc(oauth_client::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| client_of(row).map(|stored| stored.client))
            .collect()
    }

    /// Replaces the registration of client `id`, changes its secret as `secret` says,
    /// and records `event`; `None` when there is no such client.
    pub async fn update(
        &self,
        id: &ClientId,
        settings: &ClientSettings,
        secret: SecretChange<'_>,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Option<OauthClient>, RepoError> {
        let mut row = oauth_client::ActiveModel {
            id: Set(id.as_str().to_owned()),
            ..settings_row(settings, now)?
        };
        match secret {
            SecretChange::Keep => {}
            SecretChange::Clear => row.secret_hash = Set(None),
            SecretChange::Set(hash) => row.secret_hash = Set(Some(hash.to_owned())),
        }
        let txn = self.db.begin().await?;
        let updated = oauth_client::Entity::update_many()
            .set(row)
            .filter(id_is(id))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(self.find(id).await?.map(|stored| stored.client))
    }

    /// Replaces confidential client `id`'s secret hash (the old secret stops working) and
    /// records `event`; `false` when there is no such confidential client (a public one,
    /// even one made public meanwhile, gets no secret), or, with `replacing`, when its
    /// secret hash is no longer that one (renewed meanwhile).
    pub async fn set_secret(
        &self,
        id: &ClientId,
        (secret_hash, replacing): (&str, Option<&str>),
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let row = oauth_client::ActiveModel {
            secret_hash: Set(Some(secret_hash.to_owned())),
            updated_at: Set(now),
            ..Default::default()
        };
        let txn = self.db.begin().await?;
        let mut update = oauth_client::Entity::update_many()
            .set(row)
            .filter(id_is(id))
            .filter(oauth_client::Column::ClientType.eq(ClientType::Confidential.as_str()));
        if let Some(old) = replacing {
            update = update.filter(oauth_client::Column::SecretHash.eq(old));
        }
        let updated = update.exec(&txn).await?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(true)
    }

    /// Deletes client `id` and records `event`; `false` when there is no such client.
    pub async fn delete(&self, id: &ClientId, event: &NewAuditEvent) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        let deleted = oauth_client::Entity::delete_many()
            .filter(id_is(id))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Ok(false);
        }
        let recorded = record_event(&txn, event).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(true)
    }
}

fn id_is(id: &ClientId) -> sea_orm::sea_query::SimpleExpr {
    oauth_client::Column::Id.eq(id.as_str())
}

/// The row's columns for `settings` (all but the id, secret and creation time).
fn settings_row(
    settings: &ClientSettings,
    now: DateTime<Utc>,
) -> Result<oauth_client::ActiveModel, RepoError> {
    Ok(oauth_client::ActiveModel {
        name: Set(settings.name.clone()),
        client_type: Set(settings.client_type.as_str().to_owned()),
        first_party: Set(settings.first_party),
        redirect_uris: Set(uri_list(&settings.redirect_uris)?),
        post_logout_redirect_uris: Set(uri_list(&settings.post_logout_redirect_uris)?),
        grant_types: Set(settings
            .grant_types
            .iter()
            .map(|grant| grant.as_str())
            .collect::<Vec<_>>()
            .join(" ")),
        updated_at: Set(now),
        ..Default::default()
    })
}

fn uri_list(uris: &[RedirectUri]) -> Result<String, RepoError> {
    let strings: Vec<&str> = uris.iter().map(RedirectUri::as_str).collect();
    serde_json::to_string(&strings).map_err(|e| RepoError::Corrupt(format!("client URIs: {e}")))
}

/// A row, read back into domain types; a row these rules do not accept is corrupt.
fn client_of(row: oauth_client::Model) -> Result<StoredClient, RepoError> {
    let corrupt = |what: &str| RepoError::Corrupt(format!("oauth client {}: {what}", row.id));
    let uris = |raw: &str, field| -> Result<Vec<RedirectUri>, RepoError> {
        let strings: Vec<String> = serde_json::from_str(raw).map_err(|_| corrupt("URI list"))?;
        strings
            .iter()
            .map(|uri| RedirectUri::parse(uri, field).map_err(|_| corrupt("URI")))
            .collect()
    };
    let settings = ClientSettings {
        name: row.name.clone(),
        redirect_uris: uris(&row.redirect_uris, "redirect_uris")?,
        post_logout_redirect_uris: uris(
            &row.post_logout_redirect_uris,
            "post_logout_redirect_uris",
        )?,
        client_type: ClientType::parse(&row.client_type).ok_or_else(|| corrupt("type"))?,
        first_party: row.first_party,
        grant_types: row
            .grant_types
            .split_whitespace()
            .map(|grant| GrantType::parse(grant).ok_or_else(|| corrupt("grant type")))
            .collect::<Result<_, _>>()?,
    };
    // A confidential client has a secret, a public one none: a row that breaks it would
    // authenticate a client as it should not.
    if (settings.client_type == ClientType::Confidential) != row.secret_hash.is_some() {
        return Err(corrupt("a secret that does not fit its type"));
    }
    Ok(StoredClient {
        client: OauthClient {
            id: ClientId::parse(&row.id).ok_or_else(|| corrupt("id"))?,
            settings,
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
        secret_hash: row.secret_hash,
    })
}
