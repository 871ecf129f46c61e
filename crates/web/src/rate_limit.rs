//! Rate limits for the routes an attacker hammers: per client IP on login, token,
//! register, refresh and forgot-password (one shared budget), and per account on login
//! (the back-off, in `gatehouse_app::signin::backoff`, stored in the database so every instance
//! sees it).
//!
//! The client IP is the peer address, or — when the peer is one of `TRUSTED_PROXIES` —
//! the `X-Forwarded-For` entry just before the first trusted hop, read from the right:
//! the entries a client writes itself sit further left and are never believed. Budgets
//! are per [`ClientNetwork`] (an IPv4 address, an IPv6 /64).

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use actix_web::HttpRequest;
use gatehouse_domain::ClientNetwork;
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use ipnet::IpNet;

/// How often the per-IP table forgets clients whose budget is full again.
const FORGET_INTERVAL: Duration = Duration::from_secs(60);
/// The longest a request waits for the shared store before this process decides alone.
/// Redis answers a GCRA script in well under a millisecond on a healthy network.
const STORE_TIMEOUT: Duration = Duration::from_millis(250);
/// After the shared store failed, how long requests skip it (so an outage costs one
/// timeout a second, not one per request).
const STORE_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Rate-limit settings.
#[derive(Debug, Clone)]
pub struct RateLimitOptions {
    /// `false` turns every limit off (tests, benchmarks).
    pub enabled: bool,
    /// Requests per minute and client IP on the credential routes (also the burst).
    pub per_minute: NonZeroU32,
    /// Failed password checks for one email from one client network before that
    /// network's back-off starts.
    pub failures_before_backoff: u32,
    /// Failed password checks for one email from all networks together before every
    /// network is held back.
    pub failures_account_wide: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Where the per-IP counters live.
    pub store: RateLimitStore,
}

/// Where per-IP counters live (`RATE_LIMIT_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitStore {
    /// In this process: each instance counts on its own.
    Memory,
    /// In Redis, shared by every instance using the same `key_prefix`.
    Redis {
        /// `redis://host:port[/db]`.
        url: String,
        /// Keys are `{key_prefix}{network}`.
        key_prefix: String,
    },
}

impl Default for RateLimitOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            per_minute: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            failures_before_backoff: 5,
            failures_account_wide: 50,
            trusted_proxies: Vec::new(),
            store: RateLimitStore::Memory,
        }
    }
}

/// The per-IP budget shared by the credential routes. Cheap to clone.
#[derive(Clone)]
pub struct IpRateLimiter {
    memory: Arc<DefaultKeyedRateLimiter<ClientNetwork>>,
    shared: Option<SharedLimiter>,
    /// One refusal a minute per network is recorded as an audit event; the rest are
    /// not, so a flood of refused requests cannot grow the audit log.
    refusals_to_record: Arc<DefaultKeyedRateLimiter<ClientNetwork>>,
}

impl std::fmt::Debug for IpRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpRateLimiter")
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

/// Why the shared store cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the rate-limit store")]
pub struct RateLimitStoreError(#[source] redis::RedisError);

/// GCRA in one atomic script: the key holds the theoretical arrival time (ms, by Redis'
/// clock, so instances' clocks do not matter). A request is allowed when it does not
/// arrive more than `burst` intervals early; else the answer is how long to wait (ms).
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local interval = tonumber(ARGV[1])
local burst_window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allowed_at = new_tat - burst_window
if now < allowed_at then return allowed_at - now end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, new_tat - now))
return 0
";

/// Counters in Redis, shared by every instance.
#[derive(Clone)]
struct SharedLimiter {
    connection: redis::aio::ConnectionManager,
    script: Arc<redis::Script>,
    key_prefix: String,
    interval_ms: u64,
    burst_window_ms: u64,
    /// Until when requests skip the store after it failed (`None`: use it).
    skip_until: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
}

impl SharedLimiter {
    async fn connect(url: &str) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
        let client = redis::Client::open(url)?;
        // The manager's defaults retry a lost connection for seconds inside a call; here
        // a request would wait for that, so fail fast and let `check` fall back.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_max_delay(STORE_TIMEOUT)
            .set_connection_timeout(Some(STORE_TIMEOUT))
            .set_response_timeout(Some(STORE_TIMEOUT));
        redis::aio::ConnectionManager::new_with_config(client, config).await
    }

    /// The store's verdict, or `None` when it is unavailable (failed now, or within the
    /// last [`STORE_RETRY_INTERVAL`]).
    async fn check(&self, network: ClientNetwork) -> Option<Result<(), Duration>> {
        let now = tokio::time::Instant::now();
        if let Ok(skip_until) = self.skip_until.lock()
            && skip_until.is_some_and(|until| now < until)
        {
            return None;
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{}{network}", self.key_prefix));
        invocation.arg(self.interval_ms).arg(self.burst_window_ms);
        let call = invocation.invoke_async::<u64>(&mut connection);
        let failure = match tokio::time::timeout(STORE_TIMEOUT, call).await {
            Ok(Ok(0)) => return Some(Ok(())),
            Ok(Ok(wait_ms)) => return Some(Err(Duration::from_millis(wait_ms))),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {STORE_TIMEOUT:?}"),
        };
        tracing::warn!(
            error = %failure,
            "rate-limit store unavailable; counting in this process"
        );
        if let Ok(mut skip_until) = self.skip_until.lock() {
            *skip_until = Some(now + STORE_RETRY_INTERVAL);
        }
        None
    }
}

impl IpRateLimiter {
    /// A limiter allowing `per_minute` requests a minute per IP, all at once at most,
    /// counted in `store`. Spawns the task that forgets idle clients of the in-process
    /// table (so call it inside a Tokio runtime).
    pub async fn start(options: &RateLimitOptions) -> Result<Self, RateLimitStoreError> {
        let memory = Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(
            options.per_minute,
        )));
        let refusals_to_record = Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(
            NonZeroU32::MIN,
        )));
        let forgetful = [Arc::clone(&memory), Arc::clone(&refusals_to_record)];
        tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(FORGET_INTERVAL);
            loop {
                every_minute.tick().await;
                for table in &forgetful {
                    table.retain_recent();
                    table.shrink_to_fit();
                }
            }
        });
        let shared = match &options.store {
            RateLimitStore::Memory => None,
            RateLimitStore::Redis { url, key_prefix } => {
                let connection = SharedLimiter::connect(url)
                    .await
                    .map_err(RateLimitStoreError)?;
                let interval_ms = 60_000 / u64::from(options.per_minute.get());
                Some(SharedLimiter {
                    connection,
                    script: Arc::new(redis::Script::new(GCRA)),
                    key_prefix: key_prefix.clone(),
                    interval_ms,
                    burst_window_ms: interval_ms * u64::from(options.per_minute.get()),
                    skip_until: Arc::default(),
                })
            }
        };
        Ok(Self {
            memory,
            shared,
            refusals_to_record,
        })
    }

    /// Spends one request of `network`'s budget; when it is spent, how long until the
    /// next. If the shared store fails, this process's own counters decide (logged), so an
    /// outage of Redis neither stops logins nor lifts the limits.
    pub async fn check(&self, network: ClientNetwork) -> Result<(), Duration> {
        if let Some(shared) = &self.shared
            && let Some(verdict) = shared.check(network).await
        {
            return verdict;
        }
        self.memory.check_key(&network).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }

    /// Whether a refusal of `network` now should be recorded in the audit log: the first
    /// in a minute is (per process), the rest are not.
    pub fn records_refusal(&self, network: ClientNetwork) -> bool {
        self.refusals_to_record.check_key(&network).is_ok()
    }
}

/// The client's IP address, as rate limits and sessions see it.
///
/// Behind trusted proxies, `X-Forwarded-For` is read from the right, skipping our own
/// proxies; entries may carry a port (`192.0.2.1:4711`, `[2001:db8::1]:443`). A hop that
/// still does not parse ends the walk: nothing left of it can be tied to a client, and
/// the entries there may be the client's own, so the nearest hop we trust stands for it.
pub fn client_ip(request: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    if !is_trusted(peer, trusted_proxies) {
        return Some(peer);
    }
    // Entries are decoded one by one: a client's own entry with a byte that is not text
    // must not hide what our proxy appended after it on the same line.
    let lines = request
        .headers()
        .get_all("x-forwarded-for")
        .collect::<Vec<_>>();
    let hops = lines
        .iter()
        .rev()
        .flat_map(|line| line.as_bytes().rsplit(|byte| *byte == b','));
    let mut nearest_trusted = peer;
    for hop in hops {
        let hop = std::str::from_utf8(hop).map(str::trim).unwrap_or("");
        match parse_hop(hop) {
            Some(ip) if is_trusted(ip, trusted_proxies) => nearest_trusted = ip,
            Some(ip) => return Some(ip),
            None => break,
        }
    }
    Some(nearest_trusted)
}

/// The client's network (see [`ClientNetwork`]), as limits and back-offs count it.
pub fn client_network(request: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<ClientNetwork> {
    client_ip(request, trusted_proxies).map(ClientNetwork::of)
}

/// An address as proxies write it in `X-Forwarded-For`: bare, `ip:port` or `[v6]:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(bracketed) = hop.strip_prefix('[') {
        let (v6, rest) = bracketed.split_once(']')?;
        let port_ok = rest.is_empty() || rest.strip_prefix(':')?.parse::<u16>().is_ok();
        return port_ok.then(|| v6.parse().ok()).flatten();
    }
    hop.parse::<std::net::SocketAddrV4>()
        .ok()
        .map(|address| IpAddr::V4(*address.ip()))
}

fn is_trusted(ip: IpAddr, trusted_proxies: &[IpNet]) -> bool {
    trusted_proxies.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(format!("{peer}:1234").parse().unwrap());
        if let Some(forwarded) = forwarded {
            request = request.insert_header(("X-Forwarded-For", forwarded));
        }
        request.to_http_request()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // A client writing its own header directly: ignored.
        assert_eq!(
            client_ip(&request("203.0.113.9", Some("1.2.3.4")), &proxies),
            Some(ip("203.0.113.9"))
        );
        // Through our proxy: the entry before it. A spoofed entry further left is ignored.
        assert_eq!(
            client_ip(
                &request("10.0.0.2", Some("1.2.3.4, 198.51.100.7")),
                &proxies
            ),
            Some(ip("198.51.100.7"))
        );
        // Through two of our proxies.
        assert_eq!(
            client_ip(
                &request("10.0.0.2", Some("198.51.100.7, 10.0.0.3")),
                &proxies
            ),
            Some(ip("198.51.100.7"))
        );
        // Trusted peer without the header: the peer itself.
        assert_eq!(
            client_ip(&request("10.0.0.2", None), &proxies),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            client_ip(&request("10.0.0.2", Some("garbage")), &proxies),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn forwarded_hops_with_ports_are_read_and_an_unreadable_one_ends_the_walk() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let seen = |forwarded: &str| client_ip(&request("10.0.0.2", Some(forwarded)), &proxies);
        assert_eq!(seen("1.2.3.4, 198.51.100.7:5555"), Some(ip("198.51.100.7")));
        assert_eq!(
            seen("1.2.3.4, [2001:db8::7]:443, 10.0.0.3:80"),
            Some(ip("2001:db8::7"))
        );
        assert_eq!(seen("1.2.3.4, [2001:db8::8]"), Some(ip("2001:db8::8")));
        // A hop we cannot read: the client is not known past it, so the nearest hop we
        // trust stands for it (never an entry the client may have written itself).
        assert_eq!(seen("1.2.3.4, unknown"), Some(ip("10.0.0.2")));
        // A byte that is not text in the client's own entry hides nothing to its right.
        let mut request = TestRequest::default().peer_addr("10.0.0.2:1234".parse().unwrap());
        request = request.insert_header((
            "X-Forwarded-For",
            actix_web::http::header::HeaderValue::from_bytes(b"1.2.3.\xff, 198.51.100.7").unwrap(),
        ));
        assert_eq!(
            client_ip(&request.to_http_request(), &proxies),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(seen("1.2.3.4, _hidden, 10.0.0.3"), Some(ip("10.0.0.3")));
    }

    #[tokio::test]
    async fn ipv6_clients_share_the_budget_of_their_64() {
        let options = RateLimitOptions {
            per_minute: NonZeroU32::MIN,
            ..RateLimitOptions::default()
        };
        let limiter = IpRateLimiter::start(&options).await.unwrap();
        let network = |s: &str| ClientNetwork::of(s.parse().unwrap());
        assert!(limiter.check(network("2001:db8:1:2::1")).await.is_ok());
        assert!(
            limiter
                .check(network("2001:db8:1:2:ffff::9"))
                .await
                .is_err()
        );
        assert!(limiter.check(network("2001:db8:1:3::1")).await.is_ok());
    }
}
