//! Identities at other providers, and the sign-ins sent to a provider and not back yet.
//!
//! An identity is found by the provider's (`iss`, `sub`), unique across accounts. A
//! pending sign-in is found by the hash of its `state` and taken by one `DELETE`, so of
//! two callbacks with the same `state`, one gets it.

use chrono::{DateTime, Utc};
use gatehouse_domain::{
    Conflict, Identity, IdentityId, NewAuditEvent, NewUser, SessionId, User, UserId,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use crate::{
    RepoError, SessionCache,
    audit::record_event,
    entity::{federated_login, identity, user},
    mfa::{remove_every_factor, take_turns_on_account},
    passkeys::has_a_way_in,
    sessions::end_sessions_of,
    users::insert_user,
};

/// An identity to store: the provider's name and what its ID token said.
#[derive(Debug, Clone, Copy)]
pub struct NewIdentity<'a> {
    /// The configured provider's name.
    pub provider: &'a str,
    /// `iss`.
    pub issuer: &'a str,
    /// `sub`.
    pub subject: &'a str,
    /// `email`, if given.
    pub email: Option<&'a str>,
    /// Whether someone vouched for that address: the provider (`email_verified`), or the
    /// account itself, by linking the identity. An identity that made an account with an
    /// address nobody vouched for is removed when the mailbox's owner proves it
    /// ([`IdentityRepository::claim_for_mailbox_owner`]).
    pub vouched: bool,
}

/// A sign-in sent to a provider: what its callback needs.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingFederation {
    /// The configured provider's name.
    pub provider: String,
    /// The hash of the cookie of the browser that started it.
    pub browser_hash: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier for the code exchange.
    pub pkce_verifier: String,
    /// Where to go after.
    pub return_to: String,
    /// For a link: the account to link the identity to, and the session that asked
    /// (the link happens only while it is open).
    pub link: Option<(UserId, SessionId)>,
}

impl std::fmt::Debug for PendingFederation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingFederation")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// What removing an identity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityRemoval {
    /// Removed.
    Removed,
    /// None of the account's.
    NotFound,
    /// Refused: the account would have no password, identity or passkey left.
    LastWayToSignIn,
}

/// The `identities` and `federated_logins` tables.
#[derive(Clone)]
pub struct IdentityRepository {
    db: DatabaseConnection,
    cache: SessionCache,
}

impl IdentityRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: SessionCache::off(),
        }
    }

    /// The same repository keeping `cache` in step with the sessions it ends.
    pub fn with_session_cache(self, cache: SessionCache) -> Self {
        Self { cache, ..self }
    }

    /// The identity (`issuer`, `subject`) and its account, if linked.
    pub async fn find(&self, issuer: &str, subject: &str) -> Result<Option<Identity>, RepoError> {
        Ok(identity::Entity::find()
            .filter(identity::Column::Issuer.eq(issuer))
            .filter(identity::Column::Subject.eq(subject))
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(to_domain))
    }

    /// The account's identities, oldest first.
    pub async fn list(&self, user_id: UserId) -> Result<Vec<Identity>, RepoError> {
        Ok(identity::Entity::find()
            .filter(identity::Column::UserId.eq(user_id.as_uuid()))
            .order_by_asc(identity::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect())
    }

    /// Links `new` to `user_id`, recording `event` with it. An identity linked already
    /// (to any account) is [`Conflict::IdentityTaken`].
    pub async fn link(
        &self,
        user_id: UserId,
        new: NewIdentity<'_>,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<Identity, RepoError> {
        let txn = self.db.begin().await?;
        let linked = insert_identity(&txn, user_id, new, now).await?;
        let recorded = record_event(&txn, &event.clone().with("provider", new.provider)).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(linked)
    }

    /// Creates an account for `new_user` (verified when `is_verified`) with the identity
    /// `new` linked, recording `registered` and `linked`: all or nothing.
    pub async fn create_account(
        &self,
        new_user: NewUser,
        is_verified: bool,
        new: NewIdentity<'_>,
        now: DateTime<Utc>,
        registered: &NewAuditEvent,
        linked: &NewAuditEvent,
    ) -> Result<User, RepoError> {
        let txn = self.db.begin().await?;
        let mut created = insert_user(&txn, new_user, true, now).await?;
        if is_verified {
            user::Entity::update_many()
                .col_expr(
                    user::Column::IsVerified,
                    sea_orm::sea_query::Expr::value(true),
                )
                .filter(user::Column::Id.eq(created.id.as_uuid()))
                .exec(&txn)
                .await?;
            created.is_verified = true;
        }
        insert_identity(&txn, created.id, new, now).await?;
        let mut recorded = Vec::new();
        for event in [registered, linked] {
            let event = NewAuditEvent {
                user_id: Some(created.id),
                ..event.clone()
            }
            .with("provider", new.provider);
            recorded.push(record_event(&txn, &event).await?);
        }
        txn.commit().await?;
        recorded.into_iter().for_each(|event| event.committed());
        Ok(created)
    }

    /// Removes the account's identity `id`, unless it is the last way to sign in (no
    /// password, no other identity, no passkey), recording `event` with it. Removals of
    /// one account take turns, so two concurrent removals cannot each leave the other.
    pub async fn remove(
        &self,
        user_id: UserId,
        id: IdentityId,
        keep: SessionId,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<IdentityRemoval, RepoError> {
        let txn = self.db.begin().await?;
        take_turns_on_account(&txn, user_id).await?;
        let Some(found) = identity::Entity::find_by_id(id.as_uuid())
            .filter(identity::Column::UserId.eq(user_id.as_uuid()))
            .all(&txn)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(IdentityRemoval::NotFound);
        };
        let removed = identity::Entity::delete_many()
            .filter(identity::Column::Id.eq(found.id))
            .filter(identity::Column::UserId.eq(user_id.as_uuid()))
            .exec(&txn)
            .await?;
        if removed.rows_affected == 0 {
            return Ok(IdentityRemoval::NotFound);
        }
        // Checked after the delete (dropping the transaction undoes it).
        if !has_a_way_in(&txn, user_id).await? {
            return Ok(IdentityRemoval::LastWayToSignIn);
        }
        // Whoever holds the identity may have signed in with it: those sessions go too.
        let ended = end_sessions_of(&txn, user_id, Some(keep), now).await?;
        let event = event
            .clone()
            .with("provider", found.provider)
            .with("sessions_ended", ended.to_string());
        let recorded = record_event(&txn, &event).await?;
        let ending = NewAuditEvent {
            event_type: gatehouse_domain::AuditEventType::SessionEnded,
            session_id: None,
            details: Default::default(),
            ..event.clone()
        }
        .with("reason", "identity_removed")
        .with("sessions_ended", ended.to_string());
        let ending = if ended > 0 {
            Some(record_event(&txn, &ending).await?)
        } else {
            None
        };
        let committed = txn.commit().await;
        self.cache.forget_user(user_id);
        committed?;
        recorded.committed();
        ending.into_iter().for_each(|event| event.committed());
        Ok(IdentityRemoval::Removed)
    }

    /// The owner of the account's mailbox proved it (a password reset, an address
    /// verification). If an identity made the account with an address nobody vouched for,
    /// whoever holds it was not the owner: it goes, and with it what it may have attached
    /// (passkeys, the authenticator app, recovery codes) and every session. Recorded as
    /// `identity.removed` with the reason. Whether anything went.
    pub async fn claim_for_mailbox_owner(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        event: &NewAuditEvent,
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await?;
        take_turns_on_account(&txn, user_id).await?;
        let squatters = identity::Entity::delete_many()
            .filter(identity::Column::UserId.eq(user_id.as_uuid()))
            .filter(identity::Column::Vouched.eq(false))
            .exec(&txn)
            .await?;
        if squatters.rows_affected == 0 {
            return Ok(false);
        }
        remove_every_factor(&txn, user_id).await?;
        let ended = end_sessions_of(&txn, user_id, None, now).await?;
        let event = event
            .clone()
            .with("reason", "unverified_address_claimed")
            .with("identities", squatters.rows_affected.to_string())
            .with("sessions_ended", ended.to_string());
        let recorded = record_event(&txn, &event).await?;
        let committed = txn.commit().await;
        self.cache.forget_user(user_id);
        committed?;
        recorded.committed();
        Ok(true)
    }

    /// Keeps a sign-in sent to a provider, found by `state_hash`, until `expires_at`.
    pub async fn open_login(
        &self,
        state_hash: &str,
        pending: &PendingFederation,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let row = federated_login::ActiveModel {
            id: Set(state_hash.to_owned()),
            provider: Set(pending.provider.clone()),
            browser_hash: Set(pending.browser_hash.clone()),
            nonce: Set(pending.nonce.clone()),
            pkce_verifier: Set(pending.pkce_verifier.clone()),
            return_to: Set(pending.return_to.clone()),
            link_user_id: Set(pending.link.map(|(user, _)| user.as_uuid())),
            link_session_id: Set(pending.link.map(|(_, session)| session.as_uuid())),
            created_at: Set(now),
            expires_at: Set(expires_at),
        };
        federated_login::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Takes the unexpired sign-in `state_hash` of `provider` that the browser with the
    /// binding `browser_hash` started: for exactly one caller. Another browser's attempt
    /// takes nothing and leaves it to its owner.
    pub async fn take_login(
        &self,
        state_hash: &str,
        provider: &str,
        browser_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingFederation>, RepoError> {
        use federated_login::Column as C;
        let Some(row) = federated_login::Entity::find_by_id(state_hash.to_owned())
            .filter(C::Provider.eq(provider))
            .filter(C::BrowserHash.eq(browser_hash))
            .filter(C::ExpiresAt.gt(now))
            .all(&self.db)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let taken = federated_login::Entity::delete_many()
            .filter(C::Id.eq(state_hash))
            .filter(C::Provider.eq(provider))
            .filter(C::BrowserHash.eq(browser_hash))
            .filter(C::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok((taken.rows_affected == 1).then(|| PendingFederation {
            provider: row.provider,
            browser_hash: row.browser_hash,
            nonce: row.nonce,
            pkce_verifier: row.pkce_verifier,
            return_to: row.return_to,
            link: row
                .link_user_id
                .zip(row.link_session_id)
                .map(|(user, session)| (UserId::from_uuid(user), SessionId::from_uuid(session))),
        }))
    }

    /// Deletes sign-ins that expired before `before`. Returns how many.
    pub async fn purge_logins(&self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        let result = federated_login::Entity::delete_many()
            .filter(federated_login::Column::ExpiresAt.lt(before))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}

async fn insert_identity(
    txn: &impl sea_orm::ConnectionTrait,
    user_id: UserId,
    new: NewIdentity<'_>,
    now: DateTime<Utc>,
) -> Result<Identity, RepoError> {
    let id = IdentityId::new();
    let row = identity::ActiveModel {
        id: Set(id.as_uuid()),
        user_id: Set(user_id.as_uuid()),
        provider: Set(new.provider.to_owned()),
        issuer: Set(new.issuer.to_owned()),
        subject: Set(new.subject.to_owned()),
        email: Set(new.email.map(str::to_owned)),
        vouched: Set(new.vouched),
        created_at: Set(now),
    };
    identity::Entity::insert(row)
        .exec_without_returning(txn)
        .await
        .map_err(|error| RepoError::unique_as(error, Conflict::IdentityTaken))?;
    Ok(Identity {
        id,
        user_id,
        provider: new.provider.to_owned(),
        issuer: new.issuer.to_owned(),
        subject: new.subject.to_owned(),
        email: new.email.map(str::to_owned),
        created_at: now,
    })
}

fn to_domain(row: identity::Model) -> Identity {
    Identity {
        id: IdentityId::from_uuid(row.id),
        user_id: UserId::from_uuid(row.user_id),
        provider: row.provider,
        issuer: row.issuer,
        subject: row.subject,
        email: row.email,
        created_at: row.created_at,
    }
}
