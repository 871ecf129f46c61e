//! Per-IP limits on the credential routes, the per-account back-off, and client IPs behind
//! trusted proxies.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, CuttableRelay, NEW_PASSWORD, PASSWORD, TestApp, Tokens, assert_problem, spawn_app_with,
};

backend_tests!(
    the_credential_routes_share_a_per_ip_budget_and_answer_429_with_retry_after,
    behind_a_trusted_proxy_each_client_ip_has_its_own_budget,
    failed_logins_start_a_doubling_back_off_for_that_address_known_or_not,
    a_successful_login_resets_the_back_off,
    change_password_obeys_the_per_ip_limit_and_the_account_back_off,
    a_strangers_failures_hold_back_only_the_strangers_network,
    past_the_account_wide_threshold_every_network_is_held_back,
    a_password_reset_clears_the_accounts_back_off,
    mail_routes_send_at_most_one_mail_per_address_a_minute,
    ipv6_clients_share_a_budget_per_64,
    forwarded_hops_with_ports_are_read_and_an_unreadable_hop_ends_the_walk,
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

    /// `path` with a JSON body (and a bearer token), as if forwarded for `client`.
    async fn post_from(
        &self,
        client: &str,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("X-Forwarded-For", client)
            .json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
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
    assert_429(app.token(&email, PASSWORD).await).await;
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

/// An app with every limit on, trusting loopback as its proxy (so tests choose client
/// addresses with `X-Forwarded-For`), with `settings` on top.
async fn throttled_app(backend: Backend, settings: &[(&str, &str)]) -> TestApp {
    let mut all = vec![
        ("RATE_LIMIT_ENABLED", "true"),
        ("TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
    ];
    all.extend_from_slice(settings);
    spawn_app_with(backend, &all).await
}

/// A token straight from login on `client`'s network (fresh: change-password takes it).
async fn fresh_login_from(app: &TestApp, client: &str, email: &str) -> Tokens {
    let response = app.login_from(client, email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_json(&response.json().await.unwrap())
}

fn change(current: &str) -> Value {
    json!({"current_password": current, "new_password": NEW_PASSWORD})
}

/// Someone holding a stolen fresh token must not guess the password at hashing speed.
async fn change_password_obeys_the_per_ip_limit_and_the_account_back_off(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "3"),
        ],
    )
    .await;
    let thief = "198.51.100.66";
    let (email, _) = app.registered_user().await;
    let tokens = fresh_login_from(&app, thief, &email).await;
    let guess = async |current: &str| {
        app.post_from(
            thief,
            "/auth/change-password",
            Some(&tokens.access),
            &change(current),
        )
        .await
    };
    for _ in 0..3 {
        assert_problem(
            guess("wrong-password").await,
            401,
            Some("Invalid credentials"),
        )
        .await;
    }
    // Backed off: even the right password is refused, and nothing changes.
    assert_429(guess(PASSWORD).await).await;
    assert_429(app.login_from(thief, &email, PASSWORD).await).await;
    app.end_back_offs().await;
    assert_eq!(
        app.login_from(thief, &email, PASSWORD).await.status(),
        StatusCode::OK,
        "the password is unchanged"
    );

    // The per-IP budget counts change-password like login.
    let limited = throttled_app(
        Backend::Sqlite,
        &[
            ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "100"),
        ],
    )
    .await;
    let (email, _) = limited.registered_user().await;
    let tokens = fresh_login_from(&limited, thief, &email).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = limited
            .post_from(
                thief,
                "/auth/change-password",
                Some(&tokens.access),
                &change("wrong-password"),
            )
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
}

/// Knowing an email is not enough to keep its owner out: the back-off holds the network
/// the failures came from (an IPv4 address, an IPv6 /64), not the account everywhere.
async fn a_strangers_failures_hold_back_only_the_strangers_network(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "3"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await;
    for stranger in ["198.51.100.66", "2001:db8:66:1::1"] {
        for _ in 0..3 {
            let response = app.login_from(stranger, &email, "wrong-password").await;
            assert_problem(response, 401, None).await;
        }
        assert_429(app.login_from(stranger, &email, PASSWORD).await).await;
    }
    // Another address of the stranger's IPv6 /64 is the same network.
    assert_429(app.login_from("2001:db8:66:1::2", &email, PASSWORD).await).await;
    // The owner, elsewhere, signs in.
    for owner in ["203.0.113.5", "2001:db8:77::1", "2001:db8:66:2::1"] {
        assert_eq!(
            app.login_from(owner, &email, PASSWORD).await.status(),
            StatusCode::OK,
            "{owner}"
        );
    }
}

/// An attack spread over many networks still meets a back-off: past the account-wide
/// threshold it holds every network back, the owner's too.
async fn past_the_account_wide_threshold_every_network_is_held_back(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "3"),
            ("LOGIN_FAILURES_ACCOUNT_WIDE", "4"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await;
    for n in 1..=3 {
        let stranger = format!("198.51.100.{n}");
        let response = app.login_from(&stranger, &email, "wrong-password").await;
        assert_problem(response, 401, None).await;
    }
    // Three failures from three networks: below both thresholds, nobody is held back.
    assert_eq!(
        app.login_from("203.0.113.5", &email, PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // A success from one network does not reset the account-wide count.
    let response = app
        .login_from("198.51.100.4", &email, "wrong-password")
        .await;
    assert_problem(response, 401, None).await;
    // The fourth failure reached the account-wide threshold: every network waits.
    for anyone in ["203.0.113.5", "192.0.2.200", "2001:db8::5"] {
        assert_429(app.login_from(anyone, &email, PASSWORD).await).await;
    }
    // Other accounts are not affected.
    let (other, _) = app.registered_user().await;
    assert_eq!(
        app.login_from("203.0.113.5", &other, PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

/// The owner can always get back in through their mailbox.
async fn a_password_reset_clears_the_accounts_back_off(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "2"),
            ("LOGIN_FAILURES_ACCOUNT_WIDE", "2"),
        ],
    )
    .await;
    let (email, _) = app.registered_user().await;
    for _ in 0..2 {
        app.login_from("198.51.100.66", &email, "wrong-password")
            .await;
    }
    assert_429(app.login_from("203.0.113.5", &email, PASSWORD).await).await;
    let forgot = app
        .post_from(
            "203.0.113.5",
            "/auth/forgot-password",
            None,
            &json!({"email": email}),
        )
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let token = crate::helpers::token_in(&app.wait_for_mails(&email, 1).await[0]);
    let reset = app
        .post_from(
            "203.0.113.5",
            "/auth/reset-password",
            None,
            &json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    for anyone in ["203.0.113.5", "198.51.100.66"] {
        let response = app.login_from(anyone, &email, NEW_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "{anyone}");
    }
}

/// Nobody can flood an address with mail: one per address a minute, whatever asks, with
/// the same answer as before.
async fn mail_routes_send_at_most_one_mail_per_address_a_minute(backend: Backend) {
    let app = throttled_app(backend, &[("RATE_LIMIT_LOGIN_PER_MIN", "1000")]).await;
    let (email, _, tokens) = app.logged_in_user().await;
    for n in 0..6 {
        let response = app
            .post_from(
                &format!("198.51.100.{n}"),
                "/auth/request-verify",
                Some(&tokens.access),
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let response = app
            .post_from(
                &format!("203.0.113.{n}"),
                "/auth/forgot-password",
                None,
                &json!({"email": email}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    app.wait_for_mails(&email, 1).await;
    // Another address has its own minute. Its mail is also the barrier: the mail task
    // and the mailer each work in order, so once it is written every job asked for
    // before it is done, and a second mail to `email` would be written already.
    let (other, _) = app.registered_user().await;
    let response = app
        .post_json("/auth/forgot-password", &json!({"email": other}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.wait_for_mails(&other, 1).await;
    assert_eq!(app.mails_to(&email).len(), 1);

    // request-verify spends the per-IP budget too.
    let limited = spawn_app_with(
        Backend::Sqlite,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
        ],
    )
    .await;
    let (_, _, tokens) = limited.logged_in_user().await; // two of the three
    let ask = async || {
        limited
            .client
            .post(limited.url("/auth/request-verify"))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(ask().await.status(), StatusCode::ACCEPTED);
    assert_429(ask().await).await;
}

async fn ipv6_clients_share_a_budget_per_64(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("RATE_LIMIT_LOGIN_PER_MIN", "2"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "100"),
        ],
    )
    .await;
    // One /64 hands its hosts 2^64 addresses: each new one must not be a new budget.
    for host in ["2001:db8:5:5::1", "2001:db8:5:5::2"] {
        let response = app.login_from(host, "x@example.com", "whatever-pw").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_429(
        app.login_from("2001:db8:5:5:ffff::3", "x@example.com", "whatever-pw")
            .await,
    )
    .await;
    let neighbour = app
        .login_from("2001:db8:5:6::1", "x@example.com", "whatever-pw")
        .await;
    assert_eq!(neighbour.status(), StatusCode::UNAUTHORIZED);
}

/// Proxies that write `ip:port` or `[v6]:port` must not let the entries a client wrote
/// itself be believed instead.
async fn forwarded_hops_with_ports_are_read_and_an_unreadable_hop_ends_the_walk(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("RATE_LIMIT_LOGIN_PER_MIN", "2"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "100"),
        ],
    )
    .await;
    for client in ["198.51.100.7:51234", "[2001:db8:7::1]:443", "unknown"] {
        let mut statuses = Vec::new();
        // A fresh spoofed entry each time, left of what our proxy wrote.
        for n in 0..3 {
            let forwarded = format!("203.0.113.{n}, {client}");
            let response = app
                .login_from(&forwarded, "x@example.com", "whatever-pw")
                .await;
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses.last(), Some(&429), "{client}: {statuses:?}");
    }
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
