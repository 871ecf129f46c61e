//! Two gatehouse processes on one Postgres database and one Redis: what one decides, the
//! other knows at once.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    helpers::{Backend, Tokens, spawn_app, test_redis_url},
    process::GatehouseProcess,
};

/// An instance sharing per-IP counters through Redis under `app_name`.
async fn instance(database_url: &str, app_name: &str, per_minute: u32) -> GatehouseProcess {
    let redis_url = test_redis_url().expect("checked by the test");
    GatehouseProcess::start(
        database_url,
        &[
            ("APP_NAME", app_name),
            ("RATE_LIMIT_STORE", redis_url.as_str()),
            ("RATE_LIMIT_LOGIN_PER_MIN", per_minute.to_string().as_str()),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "100"),
        ],
    )
    .await
}

async fn tokens(response: reqwest::Response) -> Tokens {
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_json(&response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_and_redis_act_as_one() {
    let (Some(backend @ Backend::Postgres(_)), Some(_)) = (Backend::postgres(), test_redis_url())
    else {
        return;
    };
    // The in-process app only creates and migrates the shared database.
    let app = spawn_app(backend).await;
    let app_name = format!("two-instances-{}", uuid::Uuid::new_v4().simple());
    let a = instance(app.database_url(), &app_name, 1000).await;
    let b = instance(app.database_url(), &app_name, 1000).await;

    let email = format!("both-{}@example.com", uuid::Uuid::new_v4().simple());
    let registered = a.register(&email).await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    // A token from one instance works on the other; a logout on one is refused on the
    // other at once.
    let first = tokens(a.login(&email).await).await;
    assert_eq!(b.me(&first.access).await, StatusCode::OK);
    let logout = b.post("/auth/logout", Some(&first.refresh), None).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(a.me(&first.access).await, StatusCode::UNAUTHORIZED);

    // A refresh-token replay across instances is detected.
    let login = tokens(b.login(&email).await).await;
    let next = tokens(a.post("/auth/refresh", Some(&login.refresh), None).await).await;
    tokens(b.post("/auth/refresh", Some(&next.refresh), None).await).await;
    let replay = b.post("/auth/refresh", Some(&login.refresh), None).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(
        body["detail"],
        "Refresh token reuse detected; session revoked"
    );
    assert_eq!(a.me(&next.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_per_ip_budget_through_redis() {
    let (Some(backend @ Backend::Postgres(_)), Some(_)) = (Backend::postgres(), test_redis_url())
    else {
        return;
    };
    let app = spawn_app(backend).await;
    // A name of its own, so no other test's counters are shared.
    let app_name = format!("shared-budget-{}", uuid::Uuid::new_v4().simple());
    let a = instance(app.database_url(), &app_name, 4).await;
    let b = instance(app.database_url(), &app_name, 4).await;
    // Alternate until both refuse. Counted per process, each would let 4 through (8 in
    // all); shared, 4 pass in all (5 if a slot refills during the run: one per 15 s).
    let mut passed = 0;
    let mut refused = [false, false];
    for attempt in 0..20 {
        let (index, instance) = if attempt % 2 == 0 { (0, &a) } else { (1, &b) };
        let response = instance.login("nobody@example.com").await;
        match response.status() {
            StatusCode::UNAUTHORIZED => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                refused[index] = true;
            }
            other => panic!("unexpected {other}"),
        }
        if refused == [true, true] {
            break;
        }
    }
    assert_eq!(refused, [true, true]);
    assert!((4..=5).contains(&passed), "{passed} passed");
}
