//! Managed signing keys as stored: the public JWK, the private key sealed (this crate
//! never sees it in the clear), the state and dates. Every change is one transaction with
//! its audit event, and each is conditional on the state it changes, so instances racing
//! to take the same step (every instance runs the schedule) do it once: the unique `slot`
//! lets one key at most be `next` and one `current`.
//!
//! On Postgres a change is announced on [`CHANNEL`] when it commits, so every instance
//! reads the keys at once ([`SigningKeyRepository::announce_changes_to`]) rather than at
//! its next check.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use gatehouse_domain::{KeyState, ManagedKey, NewAuditEvent};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, SqlErr, TransactionTrait,
    sea_query::Expr,
    sqlx::postgres::{PgListener, PgPoolOptions},
};
use tokio::sync::Notify;

use crate::{RepoError, audit::record_event, entity::signing_key};

/// The channel key changes are announced on (Postgres).
const CHANNEL: &str = "gatehouse_signing_keys";

/// The `application_name` of the connection that listens for them.
const LISTENER_APPLICATION_NAME: &str = "gatehouse-signing-keys";

/// A key as stored.
#[derive(Debug, Clone)]
pub struct StoredSigningKey {
    /// Its life.
    pub key: ManagedKey,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// The id of the `MFA_ENCRYPTION_KEY` that sealed the private key.
    pub seal_key_id: String,
    /// The private key, sealed.
    pub sealed_private_key: String,
}

/// Managed signing keys.
#[derive(Debug, Clone)]
pub struct SigningKeyRepository {
    db: DatabaseConnection,
}

impl SigningKeyRepository {
    /// Keys in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Every key, oldest first.
    pub async fn list(&self) -> Result<Vec<StoredSigningKey>, RepoError> {
        signing_key::Entity::find()
            .order_by_asc(signing_key::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| {
                let state = KeyState::parse(&row.state).ok_or_else(|| {
                    RepoError::Corrupt(format!("signing key state {:?}", row.state))
                })?;
                Ok(StoredSigningKey {
                    key: ManagedKey {
                        kid: row.kid,
                        algorithm: row.algorithm,
                        state,
                        created_at: row.created_at,
                        activated_at: row.activated_at,
                        retired_at: row.retired_at,
                    },
                    public_jwk: row.public_jwk,
                    seal_key_id: row.seal_key_id,
                    sealed_private_key: row.sealed_private_key,
                })
            })
            .collect()
    }

    /// Stores `new` (`next`, or `current` when nothing signs yet) and records `event`;
    /// `false` when another key holds that state already (nothing is stored then).
    pub async fn insert(
        &self,
        new: &StoredSigningKey,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let slot = match new.key.state {
            KeyState::Next | KeyState::Current => Some(new.key.state.as_str().to_owned()),
            KeyState::Retiring => None,
        };
        let row = signing_key::ActiveModel {
            kid: Set(new.key.kid.clone()),
            algorithm: Set(new.key.algorithm.clone()),
            state: Set(new.key.state.as_str().to_owned()),
            slot: Set(slot),
            public_jwk: Set(new.public_jwk.clone()),
            seal_key_id: Set(new.seal_key_id.clone()),
            sealed_private_key: Set(new.sealed_private_key.clone()),
            created_at: Set(new.key.created_at),
            activated_at: Set(new.key.activated_at),
            retired_at: Set(new.key.retired_at),
        };
        let txn = self.db.begin().await?;
        let inserted = signing_key::Entity::insert(row)
            .exec_without_returning(&txn)
            .await;
        match inserted {
            Ok(_) => {
                announce(&txn).await?;
                let recorded = record_event(&txn, event).await?;
                txn.commit().await?;
                recorded.committed();
                Ok(true)
            }
            Err(error) => {
                txn.rollback().await?;
                match error.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => Ok(false),
                    _ => Err(error.into()),
                }
            }
        }
    }

    /// The `next` key `kid` signs from `now`; the `current` one (if any) retires. Records
    /// `event`; `false` when `kid` is no longer `next` (another instance took the step).
    pub async fn activate(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        // The old key leaves its slot first: the unique index holds at every statement.
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::State, Expr::value("retiring"))
            .col_expr(signing_key::Column::Slot, Expr::value(None::<String>))
            .col_expr(signing_key::Column::RetiredAt, Expr::value(now))
            .filter(signing_key::Column::Slot.eq("current"))
            .filter(signing_key::Column::Kid.ne(kid))
            .exec(&txn)
            .await?;
        let activated = signing_key::Entity::update_many()
            .col_expr(signing_key::Column::State, Expr::value("current"))
            .col_expr(signing_key::Column::Slot, Expr::value("current"))
            .col_expr(signing_key::Column::ActivatedAt, Expr::value(now))
            .filter(signing_key::Column::Kid.eq(kid))
            .filter(signing_key::Column::Slot.eq("next"))
            .exec(&txn)
            .await?;
        commit_step(txn, activated.rows_affected > 0, event).await
    }

    /// Removes the `retiring` key `kid` and records `event`; `false` when it is gone
    /// already.
    pub async fn remove(&self, kid: &str, event: &NewAuditEvent) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        let removed = signing_key::Entity::delete_many()
            .filter(signing_key::Column::Kid.eq(kid))
            .filter(signing_key::Column::State.eq("retiring"))
            .exec(&txn)
            .await?;
        commit_step(txn, removed.rows_affected > 0, event).await
    }

    /// Stores key `kid`'s private key sealed again (under a new `MFA_ENCRYPTION_KEY`).
    pub async fn reseal(
        &self,
        kid: &str,
        seal_key_id: &str,
        sealed_private_key: &str,
    ) -> Result<(), RepoError> {
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::SealKeyId, Expr::value(seal_key_id))
            .col_expr(
                signing_key::Column::SealedPrivateKey,
                Expr::value(sealed_private_key),
            )
            .filter(signing_key::Column::Kid.eq(kid))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// On Postgres: starts a task that wakes `changed` whenever a key changes (on any
    /// instance, or at the command line) and whenever it (re)subscribes, since what was
    /// announced while it was not listening is unknown. Elsewhere it does nothing: the
    /// periodic check alone keeps instances in step. Call inside a Tokio runtime.
    pub fn announce_changes_to(&self, changed: Arc<Notify>) {
        if self.db.get_database_backend() != DatabaseBackend::Postgres {
            return;
        }
        let server = self.db.get_postgres_connection_pool().clone();
        tokio::spawn(async move {
            loop {
                // A pool of one per attempt, off the server's pool: the listening
                // connection is held for good. On the server pool's host as it is now:
                // after a failover, the new primary's (see `crate::primary`).
                let options = server
                    .connect_options()
                    .as_ref()
                    .clone()
                    .application_name(LISTENER_APPLICATION_NAME);
                let own = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with(options.clone());
                match listen(&own, &server, &options, &changed).await {
                    Ok(()) => tracing::debug!("signing keys: channel lost; listening again"),
                    Err(error) => {
                        tracing::debug!(%error, "signing keys: cannot listen; the periodic check goes on");
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// Wakes `changed` for every announcement until the connection is lost (`Ok`) or cannot
/// be set up (`Err`).
/// Also `Ok` once the `server` pool connects to another host than `listening` names (a
/// failover): announcements are then made there.
async fn listen(
    pool: &sea_orm::sqlx::PgPool,
    server: &sea_orm::sqlx::PgPool,
    listening: &sea_orm::sqlx::postgres::PgConnectOptions,
    changed: &Notify,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    changed.notify_one();
    loop {
        match tokio::time::timeout(Duration::from_secs(1), listener.try_recv()).await {
            Ok(Ok(Some(_))) => changed.notify_one(),
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(error)) => return Err(error),
            Err(_) => {}
        }
        if !crate::primary::same_host(&server.connect_options(), listening) {
            return Ok(());
        }
    }
}

/// Ends a step's transaction: when it `changed` something, announced and recorded with
/// `event`, committed (`true`); else rolled back (`false`: another instance took it).
async fn commit_step(
    txn: DatabaseTransaction,
    changed: bool,
    event: &NewAuditEvent,
) -> Result<bool, RepoError> {
    if !changed {
        txn.rollback().await?;
        return Ok(false);
    }
    announce(&txn).await?;
    let recorded = record_event(&txn, event).await?;
    txn.commit().await?;
    recorded.committed();
    Ok(true)
}

/// Announces a change to the keys when `txn` commits (Postgres; nothing elsewhere).
async fn announce(txn: &DatabaseTransaction) -> Result<(), RepoError> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("NOTIFY {CHANNEL}")).await?;
    }
    Ok(())
}
