use chrono::{DateTime, Utc};
use gatehouse_domain::{
    Assurance, HeldRoles, NewAuditEvent, NewSession, RefreshPolicy, RefreshRotation, RoleName,
    Session, SessionId, User, UserId,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QueryTrait, TransactionTrait,
    sea_query::{Expr, ExprTrait, Query},
};

mod purge;

pub use purge::{PURGE_BATCH, PurgeReport};

use crate::{
    RepoError, SessionCache,
    audit::record_event,
    entity::{session, user},
    roles::roles_held_by,
};

/// Reads and writes login sessions.
#[derive(Debug, Clone)]
pub struct SessionRepository {
    db: DatabaseConnection,
    /// Answers [`find_with_user_cached`](Self::find_with_user_cached); kept in step with
    /// the revocations this repository makes.
    cache: SessionCache,
}

impl SessionRepository {
    /// A repository over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: SessionCache::off(),
        }
    }

    /// The same repository, answering from and keeping `cache` in step.
    pub fn with_session_cache(self, cache: SessionCache) -> Self {
        Self { cache, ..self }
    }

    /// [`create`](Self::create), recording `event` about the new session in the same
    /// transaction: a login's session and its `login.succeeded` exist together or not at
    /// all.
    pub async fn create_recorded(
        &self,
        new: NewSession,
        event: NewAuditEvent,
    ) -> Result<Session, RepoError> {
        let txn = self.db.begin().await?;
        let session = insert_session(&txn, new).await?;
        let recorded = record_event(&txn, &event.in_session(session.id)).await?;
        txn.commit().await?;
        recorded.committed();
        Ok(session)
    }

    /// Stores a session opened at login, at refresh generation 0.
    pub async fn create(&self, new: NewSession) -> Result<Session, RepoError> {
        insert_session(&self.db, new).await
    }

    /// The session with this id, revoked or not.
    pub async fn find(&self, id: SessionId) -> Result<Option<Session>, RepoError> {
        session::Entity::find_by_id(id.as_uuid())
            .all(&self.db)
            .await?
            .into_iter()
            .next()
            .map(to_domain)
            .transpose()
    }

    /// The session with this id, revoked or not, and its account: one query (a join), so
    /// an authenticated request costs one round trip to the database.
    pub async fn find_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Option<User>)>, RepoError> {
        // A unique key: `all()`, not `one()` (see the crate docs on `LIMIT`).
        let Some((row, user)) = session::Entity::find_by_id(id.as_uuid())
            .find_also_related(user::Entity)
            .all(&self.db)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        Ok(Some((
            to_domain(row)?,
            user.map(user::to_domain).transpose()?,
        )))
    }

    /// [`find_with_user`](Self::find_with_user) for checking a token: an active session
    /// and its account may come from the [`SessionCache`] (then the session's refresh
    /// bookkeeping — last use, generations — may be behind, and the account's password
    /// hash and the session's user agent and IP are left out: read them from the
    /// database). What the database answers is cached when the session is active and has
    /// an account.
    pub async fn find_with_user_cached(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Option<User>)>, RepoError> {
        if let Some((session, user)) = self.cache.lookup(id) {
            return Ok(Some((session, Some(user))));
        }
        let ticket = self.cache.ticket();
        let found = self.find_with_user(id).await?;
        if let Some((session, Some(user))) = &found
            && session.is_active_at(Utc::now())
        {
            self.cache.fill(ticket, session, user);
        }
        Ok(found)
    }

    /// The sessions of `user_id` that are neither revoked nor expired at `now`, newest
    /// first.
    pub async fn list_active_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepoError> {
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::Id)
            .all(&self.db)
            .await?;
        // Expiry is filtered here rather than in SQL: it keeps timestamp comparison out of
        // the backends' differing column types, and a user has few sessions.
        rows.into_iter()
            .map(to_domain)
            .filter(|session| session.as_ref().map_or(true, |s| s.is_active_at(now)))
            .collect()
    }

    /// Records the use of refresh generation `generation` and the issue of
    /// `generation + 1` if and only if `policy` accepts the token
    /// ([`Session::refresh_verdict`]'s rule, written as one conditional `UPDATE`), so two
    /// racing refreshes are judged one after the other on the row as it is: returns whether
    /// it applied. With rotation off, only the last use is noted.
    ///
    /// The statement also requires the session to belong to `user_id`, not to have expired,
    /// and the account to exist and be active, so that an accepted refresh needs no read
    /// before it: when this returns `true`, the refresh is good.
    pub async fn record_refresh(
        &self,
        id: SessionId,
        user_id: UserId,
        generation: u32,
        now: DateTime<Utc>,
        policy: RefreshPolicy,
    ) -> Result<bool, RepoError> {
        let update = refresh_update(id, user_id, generation, now, policy);
        Ok(update.exec(&self.db).await?.rows_affected == 1)
    }

    /// [`record_refresh`](Self::record_refresh), answering — when it applied — the roles
    /// the account holds now, which the refresh's access token carries. On Postgres that is
    /// one statement (the roles come back through its `RETURNING`: a refresh costs one round
    /// trip, as before roles); elsewhere they are read first, so that nothing is left to
    /// fail once the refresh is recorded.
    pub async fn record_refresh_with_roles(
        &self,
        id: SessionId,
        user_id: UserId,
        generation: u32,
        now: DateTime<Utc>,
        policy: RefreshPolicy,
    ) -> Result<Option<HeldRoles>, RepoError> {
        let update = refresh_update(id, user_id, generation, now, policy);
        if self.db.get_database_backend() != DbBackend::Postgres {
            let roles = roles_held_by(&self.db, user_id).await?;
            let applied = update.exec(&self.db).await?.rows_affected == 1;
            return Ok(applied.then_some(roles));
        }
        let mut statement = update.into_query();
        statement.returning(Query::returning().expr(Expr::cust(ROLES_OF_THE_UPDATED_SESSION)));
        let rows = self.db.query_all(&statement).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let joined: String = row.try_get_by_index(0)?;
        let names = joined
            .split(',')
            .filter(|name| !name.is_empty())
            .map(|name| RoleName::from_stored(name.to_owned()));
        Ok(Some(HeldRoles::new(names)))
    }

    /// Ends the session: no token of it is accepted any more. Returns whether it was
    /// active until now.
    pub async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        self.revoke_recorded(id, now, None).await
    }

    /// [`revoke`](Self::revoke), recording `event` (when the session was active until now)
    /// in the same transaction.
    pub async fn revoke_recorded(
        &self,
        id: SessionId,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<bool, RepoError> {
        let this_one = Condition::all().add(session::Column::Id.eq(id.as_uuid()));
        let revoked = self.revoke_where(this_one, None, now, event).await;
        self.cache.forget_session(id);
        revoked.map(|count| count == 1)
    }

    /// Ends session `id` if it belongs to `user_id`. `None` when the user has no such
    /// session (unknown, or someone else's); otherwise whether it was active until now.
    pub async fn revoke_own(
        &self,
        user_id: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>, RepoError> {
        self.revoke_own_recorded(user_id, id, now, None).await
    }

    /// [`revoke_own`](Self::revoke_own), recording `event` (when the session was active
    /// until now) in the same transaction.
    pub async fn revoke_own_recorded(
        &self,
        user_id: UserId,
        id: SessionId,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<Option<bool>, RepoError> {
        match self.find(id).await? {
            Some(session) if session.user_id == user_id => {
                let owned = Condition::all()
                    .add(session::Column::Id.eq(id.as_uuid()))
                    .add(session::Column::UserId.eq(user_id.as_uuid()));
                let revoked = self.revoke_where(owned, None, now, event).await;
                self.cache.forget_session(id);
                Ok(Some(revoked? == 1))
            }
            _ => Ok(None),
        }
    }

    /// Ends every active session of `user_id`. Returns how many there were.
    pub async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        self.revoke_all_recorded(user_id, now, None).await
    }

    /// [`revoke_all_for_user`](Self::revoke_all_for_user), recording `event` (with how many
    /// sessions ended, when any did) in the same transaction.
    pub async fn revoke_all_recorded(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<u64, RepoError> {
        let revoked = self
            .revoke_where(sessions_of(user_id, None), Some(user_id), now, event)
            .await;
        self.cache.forget_user(user_id);
        revoked
    }

    /// Ends every active session of `user_id` except `keep`. Returns how many there were.
    pub async fn revoke_all_for_user_except(
        &self,
        user_id: UserId,
        keep: SessionId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let revoked = self
            .revoke_where(sessions_of(user_id, Some(keep)), Some(user_id), now, None)
            .await;
        self.cache.forget_user(user_id);
        revoked
    }

    /// Ends the sessions `which` selects (and every grant of `grants_of`, when named) and,
    /// when any session ended, records `event` (with their number), in one transaction.
    async fn revoke_where(
        &self,
        which: Condition,
        grants_of: Option<UserId>,
        now: DateTime<Utc>,
        event: Option<&NewAuditEvent>,
    ) -> Result<u64, RepoError> {
        if event.is_none() && grants_of.is_none() {
            return revoke_sessions(&self.db, which, now).await;
        }
        let txn = self.db.begin().await?;
        let ended = revoke_sessions(&txn, which, now).await?;
        if let Some(user_id) = grants_of {
            crate::oauth_grants::end_grants_of(&txn, user_id, now).await?;
        }
        let recorded = match event {
            Some(event) if ended > 0 => {
                let event = event.clone().with("sessions_ended", ended.to_string());
                Some(record_event(&txn, &event).await?)
            }
            _ => None,
        };
        txn.commit().await?;
        if let Some(recorded) = recorded {
            recorded.committed();
        }
        Ok(ended)
    }
}

/// Inserts a session opened at login, on `db` (inside or outside a transaction).
async fn insert_session(db: &impl ConnectionTrait, new: NewSession) -> Result<Session, RepoError> {
    let row = session::ActiveModel {
        id: Set(new.id.as_uuid()),
        user_id: Set(new.user_id.as_uuid()),
        created_at: Set(new.created_at),
        last_used_at: Set(new.created_at),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        latest_refresh_generation: Set(0),
        highest_used_generation: Set(0),
        rotated_at: Set(None),
        user_agent: Set(new.user_agent.clone()),
        ip: Set(new.ip.clone()),
        aal: Set(new.assurance.aal().as_str().to_owned()),
        amr: Set(new.assurance.to_stored()),
    };
    session::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(Session {
        id: new.id,
        user_id: new.user_id,
        created_at: new.created_at,
        last_used_at: new.created_at,
        expires_at: new.expires_at,
        revoked_at: None,
        latest_refresh_generation: 0,
        highest_used_generation: 0,
        rotated_at: None,
        user_agent: new.user_agent,
        ip: new.ip,
        assurance: new.assurance,
    })
}

/// Ends the active sessions `which` selects, on `db` (inside or outside a transaction).
/// Returns how many there were. The caller forgets them in the session cache.
pub(crate) async fn revoke_sessions(
    db: &impl ConnectionTrait,
    which: Condition,
    now: DateTime<Utc>,
) -> Result<u64, RepoError> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(which)
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Ends every session of `user_id` (except `keep`) and, as they end with them, every grant
/// of the user's apps: signing out everywhere, a password change or reset, a change of
/// factors, a deactivation. Returns how many sessions ended.
pub(crate) async fn end_sessions_of(
    db: &impl ConnectionTrait,
    user_id: UserId,
    keep: Option<SessionId>,
    now: DateTime<Utc>,
) -> Result<u64, RepoError> {
    let ended = revoke_sessions(db, sessions_of(user_id, keep), now).await?;
    crate::oauth_grants::end_grants_of(db, user_id, now).await?;
    Ok(ended)
}

/// The sessions of `user_id`, except `keep` when there is one.
pub(crate) fn sessions_of(user_id: UserId, keep: Option<SessionId>) -> Condition {
    let mut which = Condition::all().add(session::Column::UserId.eq(user_id.as_uuid()));
    if let Some(keep) = keep {
        which = which.add(session::Column::Id.ne(keep.as_uuid()));
    }
    which
}

fn to_domain(row: session::Model) -> Result<Session, RepoError> {
    let generation = |value: i64| {
        u32::try_from(value)
            .map_err(|_| RepoError::Corrupt(format!("session {}: generation {value}", row.id)))
    };
    Ok(Session {
        id: SessionId::from_uuid(row.id),
        user_id: UserId::from_uuid(row.user_id),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        latest_refresh_generation: generation(row.latest_refresh_generation)?,
        highest_used_generation: generation(row.highest_used_generation)?,
        rotated_at: row.rotated_at,
        user_agent: row.user_agent.clone(),
        ip: row.ip.clone(),
        assurance: Assurance::from_stored(&row.amr)
            .ok_or_else(|| RepoError::Corrupt(format!("session {}: amr {:?}", row.id, row.amr)))?,
    })
}

/// The conditional `UPDATE` of a refresh (see [`SessionRepository::record_refresh`]).
fn refresh_update(
    id: SessionId,
    user_id: UserId,
    generation: u32,
    now: DateTime<Utc>,
    policy: RefreshPolicy,
) -> sea_orm::UpdateMany<session::Entity> {
    use session::Column as C;
    let presented = i64::from(generation);
    let next = presented + 1;
    let latest = || Expr::col(C::LatestRefreshGeneration);
    let highest_used = || Expr::col(C::HighestUsedGeneration);
    let newest = latest().eq(presented);
    let mut accepted = Condition::any().add(newest.clone()).add(
        Condition::all()
            .add(latest().eq(next))
            .add(C::RotatedAt.gte(now - policy.reuse_grace)),
    );
    if policy.rotation == RefreshRotation::Auto && generation == 0 {
        accepted = accepted.add(highest_used().eq(0));
    }
    let active_account = sea_orm::sea_query::Query::select()
        .expr(Expr::value(1))
        .from(user::Entity)
        .and_where(user::Column::Id.eq(user_id.as_uuid()))
        .and_where(user::Column::IsActive.eq(true))
        .to_owned();
    let mut update = session::Entity::update_many()
        .col_expr(C::LastUsedAt, Expr::value(now))
        .filter(C::Id.eq(id.as_uuid()))
        .filter(C::UserId.eq(user_id.as_uuid()))
        .filter(C::RevokedAt.is_null())
        .filter(C::ExpiresAt.gt(now))
        .filter(Expr::exists(active_account));
    if policy.rotation != RefreshRotation::Off {
        // MySQL evaluates assignments left to right, each seeing the ones before it:
        // `rotated_at` must read the generation before `latest_refresh_generation`
        // changes it.
        update = update
            .col_expr(
                C::RotatedAt,
                Expr::case(newest, Expr::value(now))
                    .finally(Expr::col(C::RotatedAt))
                    .into(),
            )
            .col_expr(
                C::LatestRefreshGeneration,
                Expr::case(latest().eq(presented), Expr::value(next))
                    .finally(latest())
                    .into(),
            )
            .col_expr(
                C::HighestUsedGeneration,
                Expr::case(highest_used().lt(presented), Expr::value(presented))
                    .finally(highest_used())
                    .into(),
            )
            .filter(accepted);
    }
    update
}

/// The roles of the refreshed session's account, comma-joined (role names hold no comma),
/// as the `RETURNING` of its `UPDATE` on Postgres.
const ROLES_OF_THE_UPDATED_SESSION: &str = r#"(SELECT COALESCE(string_agg("user_roles"."role_name", ','), '') FROM "user_roles" WHERE "user_roles"."user_id" = "sessions"."user_id")"#;
