//! Per-IP limits on the credential routes, the per-account back-off, and client IPs behind
//! trusted proxies.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, CuttableRelay, PASSWORD, TestApp, Tokens, assert_problem, spawn_app_with,
};

backend_tests!(
    the_credential_routes_share_a_per_ip_budget_and_answer_429_with_retry_after,
    behind_a_trusted_proxy_each_client_ip_has_its_own_budget,
    failed_logins_start_a_doubling_back_off_for_that_address_known_or_not,
    a_successful_login_resets_the_back_off,
);

async fn assert_429(response: Response) -> u64 {
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_problem(response, 429, None).await;
    retry_after
}

/// Back-offs end on a whole second (some databases drop fractions), so the announced
/// wait is the back-off or up to a second more.
fn within_a_second_over(wait: u64, back_off: u64) -> bool {
    (back_off..=back_off + 1).contains(&wait)
}

impl TestApp {
    async fn login_from(&self, forwarded_for: &str, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/auth/login"))
            .header("X-Forwarded-For", forwarded_for)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Ends every running back-off, as if its time had passed.
    async fn end_back_offs(&self) {
        use sea_orm::{
            ConnectionTrait,
            sea_query::{Alias, Query},
        };
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        let statement = Query::update()
            .table(Alias::new("login_throttles"))
            .value(Alias::new("blocked_until"), past)
            .to_owned();
        self.db.execute(&statement).await.unwrap();
    }
}

async fn the_credential_routes_share_a_per_ip_budget_and_answer_429_with_retry_after(
    backend: Backend,
) {
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await; // one of the three
    let response = app.login(&email, PASSWORD).await;
    let tokens = Tokens::from_json(&response.json().await.unwrap());
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    // The budget is spent: every credential route answers 429 now.
    assert!(assert_429(app.login(&email, PASSWORD).await).await <= 60);
    assert_429(app.register("another@example.com", PASSWORD).await).await;
    assert_429(app.refresh(&tokens.refresh).await).await;
    assert_429(
        app.post_json("/auth/forgot-password", &json!({"email": email}))
            .await,
    )
    .await;
    let token = app
        .client
        .post(app.url("/auth/token"))
        .form(&[("username", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_429(token).await;
    // Other routes are not limited.
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

async fn behind_a_trusted_proxy_each_client_ip_has_its_own_budget(backend: Backend) {
    let app = spawn_app_with(
        backend.clone(),
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "2"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "100"),
            ("TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await;
    // Registration spent one of 127.0.0.1's own two; the forwarded clients have theirs.
    for client in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..2 {
            assert_eq!(
                app.login_from(client, &email, PASSWORD).await.status(),
                StatusCode::OK,
                "{client}"
            );
        }
        assert_429(app.login_from(client, &email, PASSWORD).await).await;
    }
    // A client cannot escape by writing its own entry: only the hop before the proxy counts.
    let spoofed = app
        .login_from("203.0.113.50, 198.51.100.1", &email, PASSWORD)
        .await;
    assert_429(spoofed).await;
    // Sessions record the client's address, not the proxy's.
    let response = app.login_from("198.51.100.9", &email, PASSWORD).await;
    let tokens = Tokens::from_json(&response.json().await.unwrap());
    let sessions: Value = app
        .client
        .get(app.url("/auth/sessions"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let current = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["current"] == true)
        .unwrap();
    assert_eq!(current["ip"], "198.51.100.9");

    // Without TRUSTED_PROXIES the header is ignored: everyone shares the peer's budget.
    let untrusting = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "2"),
        ],
    )
    .await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        untrusting
            .login_from(client, "x@example.com", "whatever-pw")
            .await;
    }
    assert_429(
        untrusting
            .login_from("198.51.100.3", "x@example.com", "whatever-pw")
            .await,
    )
    .await;
}

async fn failed_logins_start_a_doubling_back_off_for_that_address_known_or_not(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "2"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await;
    for address in [email.as_str(), "nobody-here@example.com"] {
        for _ in 0..2 {
            assert_problem(app.login(address, "wrong-password").await, 401, None).await;
        }
        // The back-off refuses even the right password, so guessing on cannot find it.
        let wait = assert_429(app.login(address, PASSWORD).await).await;
        assert!(within_a_second_over(wait, 1), "{address}: {wait}");
    }
    // Each further failure doubles it: 2 s, then 4 s.
    for expected in [2, 4] {
        app.end_back_offs().await;
        assert_problem(app.login(&email, "wrong-password").await, 401, None).await;
        let wait = assert_429(app.login(&email, "wrong-password").await).await;
        assert!(
            within_a_second_over(wait, expected),
            "{wait} for {expected}"
        );
    }
    // Another address is not affected.
    let (other, _) = app.registered_user().await;
    assert_eq!(app.login(&other, PASSWORD).await.status(), StatusCode::OK);
}

async fn a_successful_login_resets_the_back_off(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "2"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await;
    for _ in 0..2 {
        app.login(&email, "wrong-password").await;
    }
    assert_429(app.login(&email, PASSWORD).await).await;
    app.end_back_offs().await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    // Counting starts again: one failure is no back-off.
    assert_problem(app.login(&email, "wrong-password").await, 401, None).await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

/// When Redis goes away, each instance counts on its own: logins neither stop nor hang,
/// and the limit still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_shared_store_fails_the_limit_is_counted_in_process() {
    let Some(redis_url) = crate::helpers::test_redis_url() else {
        return;
    };
    let upstream = redis_url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let relay = CuttableRelay::start(upstream).await;
    let store = format!("redis://{}/", relay.address);
    let app_name = format!("redis-outage-{}", uuid::Uuid::new_v4().simple());
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_STORE", store.as_str()),
            ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "100"),
            ("APP_NAME", app_name.as_str()),
        ],
    )
    .await;
    let attempt = async || app.login("nobody@example.com", PASSWORD).await;

    // Counted in Redis: the fourth login of the minute is refused.
    for _ in 0..3 {
        assert_eq!(attempt().await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_429(attempt().await).await;

    relay.cut();
    let started = std::time::Instant::now();
    // This process has counted nothing yet: three more pass, then its own limit holds.
    for _ in 0..3 {
        assert_eq!(attempt().await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_429(attempt().await).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answers wait for the failed store: {:?}",
        started.elapsed()
    );
}
