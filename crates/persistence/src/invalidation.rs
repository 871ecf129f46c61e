//! The invalidation channel of the [`SessionCache`]: Postgres `LISTEN`/`NOTIFY`.
//!
//! Triggers on `users` (any update or delete) and `sessions` (revocation, delete) send the
//! row's id on [`CHANNEL`] when the changing transaction commits, whoever wrote it, and
//! `*` when either table is truncated. Every instance listens on a connection of its own
//! and, from another, sends a heartbeat stamped with its instance id and send time
//! through the same channel every [`HEARTBEAT_INTERVAL`]; the cache only answers while its
//! own recent heartbeats come back (see [`crate::session_cache`]).

use std::{sync::Weak, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, SqlxPostgresConnector,
    sqlx::{
        self, PgPool,
        postgres::{PgConnectOptions, PgListener, PgPoolOptions},
    },
};

use crate::{
    primary::same_host,
    session_cache::{HEARTBEAT_INTERVAL, SessionCache, Shared},
};

/// The notification channel the triggers and heartbeats use.
const CHANNEL: &str = "gatehouse_invalidation";

// Payloads: `h:<instance>:<ms>` heartbeats, `u:<user id>` and `s:<session id>` changes,
// `*` for "forget everything" (a truncated table; see migration 10).

/// With heartbeats every 200 ms, this long without any notification means the listening
/// connection is dead without having said so: open a new one.
const RECONNECT_AFTER_SILENCE: Duration = Duration::from_secs(3);

/// The `application_name` of the listening connection, to find it in `pg_stat_activity`
/// (as an operator would, or `pg_terminate_backend` it).
const LISTENER_APPLICATION_NAME: &str = "gatehouse-invalidation";

/// The `application_name` of the connection heartbeats are sent on.
const HEARTBEAT_APPLICATION_NAME: &str = "gatehouse-heartbeat";

/// The session cache for `db`: on Postgres, one of up to `capacity` sessions, with the
/// tasks that keep it in step (listening, heartbeats) started; elsewhere, and with
/// `capacity` 0, one that is off. The tasks end once every clone of the cache is dropped.
/// Call inside a Tokio runtime.
pub fn session_cache_for(db: &DatabaseConnection, capacity: usize) -> SessionCache {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return SessionCache::off();
    }
    let cache = SessionCache::new(capacity);
    if let Some(shared) = cache.downgrade() {
        let pool = db.get_postgres_connection_pool();
        tokio::spawn(send_heartbeats(pool.clone(), shared.clone()));
        tokio::spawn(listen(pool.clone(), shared));
    }
    cache
}

/// The server pool's connection options, named `application_name`.
fn connect_options(pool: &PgPool, application_name: &str) -> PgConnectOptions {
    pool.connect_options()
        .as_ref()
        .clone()
        .application_name(application_name)
}

/// A pool of one for heartbeats, on the host `server` now connects to.
///
/// Heartbeats have a connection of their own: on the server's pool, a pool busy with
/// requests would delay them, turn the cache off and send even more requests to the
/// database just when it has the most to do.
fn heartbeat_pool(server: &PgPool) -> (DatabaseConnection, PgConnectOptions) {
    let options = connect_options(server, HEARTBEAT_APPLICATION_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(RECONNECT_AFTER_SILENCE)
        .connect_lazy_with(options.clone());
    (
        SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
        options,
    )
}

async fn send_heartbeats(server: PgPool, cache: Weak<Shared>) {
    let (mut db, mut options) = heartbeat_pool(&server);
    let mut ticks = tokio::time::interval(HEARTBEAT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // After a failover the server's pool connects elsewhere (see `crate::primary`);
        // heartbeats must go where the listener now listens.
        if !same_host(&server.connect_options(), &options) {
            // Closed aside: closing waits for the connection, which may hang on the old host.
            let old = std::mem::replace(&mut db, {
                let (new, new_options) = heartbeat_pool(&server);
                options = new_options;
                new
            });
            tokio::spawn(async move {
                let _ = tokio::time::timeout(RECONNECT_AFTER_SILENCE, old.close()).await;
            });
        }
        // Stamped just before it leaves: its send time is what freshness is judged by.
        let Some(payload) = SessionCache::upgrade(&cache).and_then(|c| c.heartbeat_payload())
        else {
            return;
        };
        // The payload is hex digits, `h` and colons: safe to write into the statement.
        let heartbeat = format!("SELECT pg_notify('{CHANNEL}', '{payload}')");
        // A failure needs no handling: the missing heartbeat turns the cache off.
        let _ =
            tokio::time::timeout(HEARTBEAT_INTERVAL * 2, db.execute_unprepared(&heartbeat)).await;
    }
}

async fn listen(pool: PgPool, cache: Weak<Shared>) {
    let mut in_outage = false;
    loop {
        let outcome = listen_until_lost(&pool, &cache).await;
        let Some(live) = SessionCache::upgrade(&cache) else {
            return;
        };
        live.channel_lost();
        match outcome {
            Ok(heard) => {
                if in_outage && heard {
                    tracing::info!("session cache: invalidation channel back");
                    in_outage = false;
                }
                tracing::debug!("session cache: invalidation channel lost; reconnecting");
            }
            Err(error) if !in_outage => {
                in_outage = true;
                tracing::warn!(%error, "session cache off: cannot listen for invalidations");
            }
            Err(_) => {}
        }
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
    }
}

/// Listens on a new connection until it is lost or falls silent (`Ok`: whether anything was
/// heard) or cannot be set up (`Err`).
async fn listen_until_lost(pool: &PgPool, cache: &Weak<Shared>) -> Result<bool, sqlx::Error> {
    // A pool of one per attempt: a connection that died silently is not handed back.
    let options = connect_options(pool, LISTENER_APPLICATION_NAME);
    let own = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(RECONNECT_AFTER_SILENCE)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&own).await?;
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    // Whatever changed before LISTEN took effect was not heard.
    if let Some(live) = SessionCache::upgrade(cache) {
        live.forget_all();
    }
    tracing::debug!("session cache: listening for invalidations");
    let mut heard = false;
    loop {
        let notification =
            match tokio::time::timeout(RECONNECT_AFTER_SILENCE, listener.try_recv()).await {
                Err(_) | Ok(Ok(None)) => return Ok(heard),
                Ok(Ok(Some(notification))) => notification,
                Ok(Err(error)) => return Err(error),
            };
        heard = true;
        let Some(live) = SessionCache::upgrade(cache) else {
            return Ok(heard);
        };
        apply(&live, notification.payload());
        // The server's pool switched hosts (a failover): listen where it now writes, even
        // if this host still talks (other instances' heartbeats may still arrive here).
        if !same_host(&pool.connect_options(), &options) {
            return Ok(heard);
        }
    }
}

fn apply(cache: &SessionCache, payload: &str) {
    let id = |raw: &str| uuid::Uuid::parse_str(raw).ok();
    match payload.split_once(':') {
        Some(("h", stamp)) => cache.heard_heartbeat(stamp),
        // An older version's unstamped heartbeat: it proves nothing about this instance.
        None if payload == "h" => {}
        Some(("u", raw)) => match id(raw) {
            Some(user) => cache.forget_user(gatehouse_domain::UserId::from_uuid(user)),
            None => cache.forget_all(),
        },
        Some(("s", raw)) => match id(raw) {
            Some(session) => cache.forget_session(gatehouse_domain::SessionId::from_uuid(session)),
            None => cache.forget_all(),
        },
        // `*` (a truncated table), or not ours to understand (a newer version's message?):
        // the safe reading is "all".
        _ => cache.forget_all(),
    }
}
