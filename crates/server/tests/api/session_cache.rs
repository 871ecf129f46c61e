//! The session cache (Postgres): token checks answered without the database, and the
//! guarantees that make that safe — a revocation is refused on the instance that made it
//! before the revoking request returns, on every other instance within a second, and the
//! cache is not used while its invalidation channel is down.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{
        Backend, CuttableRelay, PASSWORD, TestApp, Tokens, metric, spawn_app, spawn_app_with,
    },
    process::GatehouseProcess,
};

/// How long another instance may keep accepting a revoked session.
const ELSEWHERE_WITHIN: Duration = Duration::from_secs(1);

/// Waits until the server's cache reports its channel working (the first heartbeat).
pub(crate) async fn wait_until_usable(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while metric(client, base, "gatehouse_session_cache_usable").await != Some(1.0) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the session cache never became usable"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn hits(client: &reqwest::Client, base: &str) -> f64 {
    metric(client, base, "gatehouse_session_cache_hits_total")
        .await
        .expect("the hit counter is exported")
}

async fn tokens_of(response: reqwest::Response) -> Tokens {
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_json(&response.json().await.unwrap())
}

impl TestApp {
    /// `/users/me` answered from the cache: asked twice (the first fills it), and the hit
    /// counter moved.
    async fn assert_cached(&self, access: &str) {
        assert_eq!(self.me(access).await.status(), StatusCode::OK);
        let before = hits(&self.client, &self.address).await;
        assert_eq!(self.me(access).await.status(), StatusCode::OK);
        assert!(
            hits(&self.client, &self.address).await > before,
            "the second check was not answered by the cache"
        );
    }

    async fn bearer_post(
        &self,
        path: &str,
        access: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

async fn postgres_app() -> Option<TestApp> {
    postgres_app_with(&[]).await
}

async fn postgres_app_with(settings: &[(&str, &str)]) -> Option<TestApp> {
    let backend @ Backend::Postgres(_) = Backend::postgres()? else {
        return None;
    };
    let app = spawn_app_with(backend, settings).await;
    wait_until_usable(&app.client, &app.address).await;
    Some(app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_are_refused_here_before_the_revoking_request_returns() {
    let Some(app) = postgres_app().await else {
        return;
    };
    let (email, _) = app.registered_user().await;

    // Logout.
    let tokens = tokens_of(app.login(&email, PASSWORD).await).await;
    app.assert_cached(&tokens.access).await;
    let logout = app
        .bearer_post("/auth/logout", &tokens.access, json!({}))
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Password change: the other sessions end.
    let other = tokens_of(app.login(&email, PASSWORD).await).await;
    let current = tokens_of(app.login(&email, PASSWORD).await).await;
    app.assert_cached(&other.access).await;
    let changed = app
        .bearer_post(
            "/auth/change-password",
            &current.access,
            json!({"current_password": PASSWORD, "new_password": "an0ther-Passphrase!"}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.me(&other.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me(&current.access).await.status(), StatusCode::OK);

    // Refresh-token reuse revokes the session.
    let stolen = tokens_of(app.login(&email, "an0ther-Passphrase!").await).await;
    app.assert_cached(&stolen.access).await;
    let first = tokens_of(app.refresh(&stolen.refresh).await).await;
    tokens_of(app.refresh(&first.refresh).await).await;
    assert_eq!(
        app.refresh(&stolen.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.me(&stolen.access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Deactivation, through the repository the admin routes and the `users` command use.
    let live = tokens_of(app.login(&email, "an0ther-Passphrase!").await).await;
    app.assert_cached(&live.access).await;
    let user_id = app.codec().verify_access(&live.access).unwrap().user_id;
    assert!(
        app.users()
            .set_active(user_id, false, chrono::Utc::now())
            .await
            .unwrap()
    );
    // The repository above is the test's own (another cache): what this server hears is
    // the notification, so this is the "elsewhere" case, allowed up to a second.
    assert_refused_within(ELSEWHERE_WITHIN, || async {
        app.me(&live.access).await.status()
    })
    .await;
}

/// Polls `check` until it answers something other than 200, and fails if a check started
/// more than `limit` after the call was still accepted. (A check that is merely late to
/// start, on a busy machine, is no failure: what matters is that none after the limit
/// passes.)
async fn assert_refused_within<F, Fut>(limit: Duration, check: F) -> StatusCode
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let started = Instant::now();
    loop {
        let asked_at = started.elapsed();
        let status = check().await;
        if status != StatusCode::OK {
            return status;
        }
        assert!(
            asked_at <= limit,
            "still accepted {asked_at:?} after the revocation (allowed {limit:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_refuses_a_revocation_within_a_second() {
    let Some(backend @ Backend::Postgres(_)) = Backend::postgres() else {
        return;
    };
    // The in-process app creates and migrates the database; a and b are real processes.
    let app = spawn_app(backend).await;
    let a = GatehouseProcess::start(app.database_url(), &[]).await;
    let b = GatehouseProcess::start(app.database_url(), &[]).await;
    wait_until_usable(&b.client, &b.url("")).await;
    let email = format!("elsewhere-{}@example.com", uuid::Uuid::new_v4().simple());
    assert_eq!(a.register(&email).await.status(), StatusCode::CREATED);

    let cached_on_b = async |tokens: &Tokens| {
        assert_eq!(b.me(&tokens.access).await, StatusCode::OK);
        let before = hits(&b.client, &b.url("")).await;
        assert_eq!(b.me(&tokens.access).await, StatusCode::OK);
        assert!(hits(&b.client, &b.url("")).await > before);
    };

    // A logout on a.
    let tokens = tokens_of(a.login(&email).await).await;
    cached_on_b(&tokens).await;
    let logout = a.post("/auth/logout", Some(&tokens.access), None).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let status = assert_refused_within(ELSEWHERE_WITHIN, || b.me(&tokens.access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A deactivation by the `users` command, a third process (which also ends the
    // sessions).
    let tokens = tokens_of(a.login(&email).await).await;
    cached_on_b(&tokens).await;
    let output = app.users_command(&["deactivate", "--email", &email], "");
    assert!(output.status.success(), "{output:?}");
    let status = assert_refused_within(ELSEWHERE_WITHIN, || b.me(&tokens.access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A server whose every connection to Postgres (queries and notifications alike) passes
/// through a relay the test controls, with a session it has answered from its cache.
struct Relayed {
    app: TestApp,
    relay: CuttableRelay,
    server: GatehouseProcess,
    tokens: Tokens,
}

async fn behind_a_relay() -> Option<Relayed> {
    let backend @ Backend::Postgres(_) = Backend::postgres()? else {
        return None;
    };
    let app = spawn_app(backend).await;
    let url = reqwest::Url::parse(app.database_url()).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = CuttableRelay::start(upstream).await;
    let mut relayed = url.clone();
    relayed.set_host(Some("127.0.0.1")).unwrap();
    relayed.set_port(Some(relay.address.port())).unwrap();
    let server =
        GatehouseProcess::start(relayed.as_str(), &[("DATABASE_ACQUIRE_TIMEOUT_S", "1")]).await;
    wait_until_usable(&server.client, &server.url("")).await;
    let email = format!("relayed-{}@example.com", uuid::Uuid::new_v4().simple());
    assert_eq!(server.register(&email).await.status(), StatusCode::CREATED);
    let tokens = tokens_of(server.login(&email).await).await;
    assert_eq!(server.me(&tokens.access).await, StatusCode::OK);
    let before = hits(&server.client, &server.url("")).await;
    assert_eq!(server.me(&tokens.access).await, StatusCode::OK);
    assert!(hits(&server.client, &server.url("")).await > before);
    Some(Relayed {
        app,
        relay,
        server,
        tokens,
    })
}

impl Relayed {
    /// Ends the session behind the server's back (nothing it can hear).
    async fn revoke_directly(&self) {
        let user_id = self
            .app
            .codec()
            .verify_access(&self.tokens.access)
            .unwrap()
            .user_id;
        self.app
            .sessions()
            .revoke_all_for_user(user_id, chrono::Utc::now())
            .await
            .unwrap();
    }

    /// `/users/me` with the session's token; a request that gets no answer in time counts
    /// as refused (the server is waiting for a database it cannot reach).
    async fn me(&self) -> StatusCode {
        let request = self
            .server
            .client
            .get(self.server.url("/users/me"))
            .bearer_auth(&self.tokens.access)
            .timeout(Duration::from_millis(1500));
        match request.send().await {
            Ok(response) => response.status(),
            Err(error) if error.is_timeout() => StatusCode::GATEWAY_TIMEOUT,
            Err(error) => panic!("{error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_its_channel_breaks_the_cache_is_not_used() {
    let Some(relayed) = behind_a_relay().await else {
        return;
    };
    // With the cache still in use, the server would go on accepting the token; without
    // it, it asks the database, which it cannot reach.
    relayed.relay.cut();
    relayed.revoke_directly().await;
    let status = assert_refused_within(ELSEWHERE_WITHIN, || relayed.me()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let base = relayed.server.url("");
    let usable = metric(
        &relayed.server.client,
        &base,
        "gatehouse_session_cache_usable",
    )
    .await;
    assert_eq!(usable, Some(0.0));
}

/// A channel that goes silent without an error (packets dropped, no reset) is noticed by
/// the missing heartbeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_its_channel_falls_silent_the_cache_is_not_used() {
    let Some(relayed) = behind_a_relay().await else {
        return;
    };
    relayed.relay.freeze();
    relayed.revoke_directly().await;
    assert_refused_within(ELSEWHERE_WITHIN, || relayed.me()).await;
}

/// After its listening connection is killed, a server listens again by itself and hears
/// changes as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_comes_back_after_its_connection_is_killed() {
    let Some(app) = postgres_app().await else {
        return;
    };
    let (_, _, tokens) = app.logged_in_user().await;
    // The listener's application_name (crates/persistence/src/invalidation.rs).
    let killed = sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'gatehouse-invalidation' AND datname = current_database()",
    )
    .await
    .unwrap();
    assert!(killed.rows_affected() >= 1, "no listener connection found");
    // Lost: usable again only once a new connection hears a heartbeat.
    tokio::time::sleep(Duration::from_millis(50)).await;
    wait_until_usable(&app.client, &app.address).await;
    app.assert_cached(&tokens.access).await;
    let user_id = app.codec().verify_access(&tokens.access).unwrap().user_id;
    app.sessions()
        .revoke_all_for_user(user_id, chrono::Utc::now())
        .await
        .unwrap();
    assert_refused_within(ELSEWHERE_WITHIN, || async {
        app.me(&tokens.access).await.status()
    })
    .await;
}

/// The cache's heartbeats do not wait for the server's pool: with every pooled connection
/// busy, cached sessions are still answered (and the cache does not turn itself off to
/// send more work to the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_does_not_turn_the_cache_off() {
    let Some(app) = postgres_app_with(&[
        ("DATABASE_MAX_CONNECTIONS", "1"),
        ("DATABASE_ACQUIRE_TIMEOUT_S", "1"),
    ])
    .await
    else {
        return;
    };
    let (_, _, cached) = app.logged_in_user().await;
    app.assert_cached(&cached.access).await;
    let (_, blocked_user, blocked) = app.logged_in_user().await;

    // Another account's logout-all waits on row locks the test holds, with the pool's only
    // connection.
    let locks = sea_orm::TransactionTrait::begin(&app.db).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &locks,
        &format!("SELECT id FROM sessions WHERE user_id = '{blocked_user}' FOR UPDATE"),
    )
    .await
    .unwrap();
    let waiting = {
        let request = app
            .client
            .post(app.url("/auth/logout-all"))
            .bearer_auth(&blocked.access)
            .send();
        tokio::spawn(request)
    };
    // Until the logout is seen waiting for a lock (or, if it does not wait, is done).
    let asked = Instant::now();
    while !waiting.is_finished() && !waits_for_a_lock(&app.db).await {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the logout never reached the locks"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !waiting.is_finished(),
        "the logout did not wait on the locks"
    );

    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert_eq!(
            app.me(&cached.access).await.status(),
            StatusCode::OK,
            "{:?} into the busy pool",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    locks.rollback().await.unwrap();
    let logout = waiting.await.unwrap().unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
}

/// Whether a statement of this test's Postgres database is waiting for a lock.
async fn waits_for_a_lock(db: &sea_orm::DatabaseConnection) -> bool {
    use sea_orm::{ConnectionTrait, Statement};
    let waiting = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock') AS waiting",
        ))
        .await
        .unwrap()
        .unwrap();
    waiting.try_get::<bool>("", "waiting").unwrap()
}

/// `TRUNCATE` fires no row trigger: it must still empty every cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncating_sessions_or_users_empties_the_cache() {
    let Some(app) = postgres_app().await else {
        return;
    };
    for table in ["sessions", "users"] {
        let (_, _, tokens) = app.logged_in_user().await;
        app.assert_cached(&tokens.access).await;
        sea_orm::ConnectionTrait::execute_unprepared(&app.db, &format!("TRUNCATE {table} CASCADE"))
            .await
            .unwrap();
        let status = assert_refused_within(ELSEWHERE_WITHIN, || async {
            app.me(&tokens.access).await.status()
        })
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{table}");
    }
}

/// A session deleted by hand while still open is announced (the purge's deletes of
/// sessions long expired are not: migration 16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_open_session_by_hand_empties_it_from_the_cache() {
    let Some(app) = postgres_app().await else {
        return;
    };
    let (_, _, tokens) = app.logged_in_user().await;
    app.assert_cached(&tokens.access).await;
    let session = app.session_of(&tokens.refresh);
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!("DELETE FROM sessions WHERE id = '{session}'"),
    )
    .await
    .unwrap();
    let status = assert_refused_within(ELSEWHERE_WITHIN, || async {
        app.me(&tokens.access).await.status()
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// An instance whose link to the database is slow hears everyone's news late, heartbeats
/// included: it must judge the channel by its own heartbeats' send times, so a logout on
/// another instance is still refused there within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_database_link_does_not_stretch_the_second() {
    let Some(relayed) = behind_a_relay().await else {
        return;
    };
    relayed.relay.slow_down(Duration::from_secs(2));
    // Long enough for delayed heartbeats to arrive in a steady stream again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The in-process app is the other instance, with a fast link.
    let logout = relayed
        .app
        .client
        .post(relayed.app.url("/auth/logout"))
        .bearer_auth(&relayed.tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_refused_within(ELSEWHERE_WITHIN, || relayed.me()).await;
}

#[tokio::test]
async fn sqlite_has_no_channel_and_no_cache() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, _, tokens) = app.logged_in_user().await;
    for _ in 0..3 {
        assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    }
    assert_eq!(
        metric(&app.client, &app.address, "gatehouse_session_cache_usable").await,
        Some(0.0)
    );
    assert_eq!(hits(&app.client, &app.address).await, 0.0);
}
