//! Following the writable host of a replicated Postgres.
//!
//! A `DATABASE_URL` may name several hosts, as libpq's does —
//! `postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write` — which sqlx does not
//! understand. The pool is opened on the first host that suits `target_session_attrs`, and
//! a task checks that host every [`CHECK_EVERY`] on a connection of its own. When that
//! check fails (the connection broke, or the host now answers that it is read-only: a
//! failover), the hosts are tried again in order and the pool's connect options are turned
//! to the one that suits; connections opened before the switch are closed when next taken
//! from the pool. Requests that meet the old host in the meantime fail as "unavailable"
//! (503), including a write refused with SQLSTATE 25006 (see [`crate::error`]).

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::sqlx::{
    self, Connection, PgPool,
    postgres::{PgConnectOptions, PgConnection},
};

/// How often the chosen host is checked.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long a host may take to accept a connection and answer the check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// libpq's `target_session_attrs`, the values that give a host gatehouse can write to (or,
/// with `any`, the first that answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSessionAttrs {
    /// The first host that accepts a connection (libpq's default).
    Any,
    /// The first host whose sessions are not read-only (`SHOW transaction_read_only`).
    ReadWrite,
    /// The first host that is not in recovery (`pg_is_in_recovery()`).
    Primary,
}

impl TargetSessionAttrs {
    fn parse(value: &str) -> Result<Self, String> {
        match value {
            "any" => Ok(Self::Any),
            "read-write" => Ok(Self::ReadWrite),
            "primary" => Ok(Self::Primary),
            other => Err(format!(
                "target_session_attrs={other} is not supported: gatehouse writes, so \
                 read-write, primary or any"
            )),
        }
    }
}

/// One `host:port` of a URL's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Host {
    /// Without brackets, even for an IPv6 address.
    name: String,
    port: u16,
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.contains(':') {
            write!(f, "[{}]:{}", self.name, self.port)
        } else {
            write!(f, "{}:{}", self.name, self.port)
        }
    }
}

/// A Postgres URL taken apart around its host list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostList {
    /// `postgres://user:password@`
    before_hosts: String,
    /// `/database?the=other&parameters`
    after_hosts: String,
    hosts: Vec<Host>,
    target: TargetSessionAttrs,
}

impl HostList {
    /// The hosts of a Postgres URL; `Ok(None)` for one host and no
    /// `target_session_attrs`, which sqlx reads as it is.
    pub(crate) fn parse(url: &str) -> Result<Option<Self>, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(None);
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (user_info, host_list) = match authority.rsplit_once('@') {
            Some((user_info, hosts)) => (format!("{user_info}@"), hosts),
            None => (String::new(), authority),
        };
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let mut target = None;
        let mut kept = Vec::new();
        let mut names_a_host = false;
        for parameter in query.split('&').filter(|p| !p.is_empty()) {
            match parameter.split_once('=') {
                Some(("target_session_attrs", value)) => {
                    target = Some(TargetSessionAttrs::parse(value)?);
                }
                Some(("host" | "hostaddr" | "port", _)) => {
                    names_a_host = true;
                    kept.push(parameter);
                }
                _ => kept.push(parameter),
            }
        }
        // One host (or a Unix socket, `postgres://u@/db?host=/run/…`): sqlx's, as before.
        if !host_list.contains(',') && target.is_none() {
            return Ok(None);
        }
        if names_a_host {
            return Err(
                "with a host list, name the hosts and ports in it, not as host=, hostaddr= \
                 or port= parameters"
                    .into(),
            );
        }
        // No entry is quoted in an error: a password with an unescaped `/` or `?` would
        // have ended the host list inside itself, and would be printed.
        let hosts = host_list
            .split(',')
            .map(parse_host)
            .collect::<Result<Vec<_>, _>>()?;
        let after_hosts = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        Ok(Some(Self {
            before_hosts: format!("{scheme}://{user_info}"),
            after_hosts,
            hosts,
            target: target.unwrap_or(TargetSessionAttrs::Any),
        }))
    }

    /// Whether the list names several hosts but lets any of them do (`any`, the default):
    /// a standby would do, and take no writes.
    pub(crate) fn may_settle_on_a_standby(&self) -> bool {
        self.hosts.len() > 1 && self.target == TargetSessionAttrs::Any
    }

    /// What a host must be to suit.
    pub(crate) fn target(&self) -> TargetSessionAttrs {
        self.target
    }

    /// The list's first host.
    pub(crate) fn first(&self) -> &Host {
        &self.hosts[0]
    }

    /// The URL naming `host` alone, which sqlx can read.
    pub(crate) fn url_for(&self, host: &Host) -> String {
        format!("{}{host}{}", self.before_hosts, self.after_hosts)
    }

    /// The first host that suits, with the connection that showed it, trying each in
    /// order from `options` (the pool's, whatever host they name).
    pub(crate) async fn find(&self, options: &PgConnectOptions) -> Option<(Host, PgConnection)> {
        for host in &self.hosts {
            let candidate = options.clone().host(&host.name).port(host.port);
            let Ok(Ok(mut connection)) =
                tokio::time::timeout(CHECK_TIMEOUT, PgConnection::connect_with(&candidate)).await
            else {
                continue;
            };
            if suits(&mut connection, self.target).await {
                return Some((host.clone(), connection));
            }
        }
        None
    }

    /// Keeps `pool` on a host that suits, from now until the pool is closed (see the
    /// module's documentation). `chosen` is the host the pool was opened on.
    pub(crate) async fn follow(self, pool: PgPool, chosen: Host, switches: Arc<Switches>) {
        let mut current = chosen;
        let mut check: Option<PgConnection> = None;
        let mut none_suits = false;
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            if pool.is_closed() {
                return;
            }
            if let Some(connection) = check.as_mut()
                && suits(connection, self.target).await
            {
                continue;
            }
            check = None;
            let options = pool.connect_options();
            match self.find(&options).await {
                Some((host, connection)) => {
                    if host != current {
                        pool.set_connect_options(
                            options.as_ref().clone().host(&host.name).port(host.port),
                        );
                        switches.switched_now();
                        tracing::warn!(from = %current, to = %host, "database: switched hosts");
                        current = host;
                    } else if none_suits {
                        tracing::info!(host = %current, "database: the host suits again");
                    }
                    none_suits = false;
                    check = Some(connection);
                }
                None if !none_suits => {
                    none_suits = true;
                    tracing::warn!(
                        target_session_attrs = ?self.target,
                        "database: no host suits; requests answer 503 until one does"
                    );
                }
                None => {}
            }
        }
    }
}

fn parse_host(entry: &str) -> Result<Host, String> {
    let (name, port) = match entry.strip_prefix('[') {
        Some(bracketed) => {
            let (name, after) = bracketed
                .split_once(']')
                .ok_or("an IPv6 address in the host list lacks its closing ]")?;
            match after {
                "" => (name, None),
                _ => (
                    name,
                    Some(after.strip_prefix(':').ok_or(
                        "an IPv6 address in the host list is followed by something else than :port",
                    )?),
                ),
            }
        }
        None => match entry.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (entry, None),
        },
    };
    if name.is_empty() {
        return Err("a host in the list is empty (Unix sockets are not supported here)".into());
    }
    let port = match port {
        None | Some("") => 5432,
        Some(port) => port
            .parse()
            .map_err(|_| "a port in the host list is not a number")?,
    };
    Ok(Host {
        name: name.to_owned(),
        port,
    })
}

/// Whether the host `connection` reaches suits `target`; `false` when it does not answer
/// in time. For `read-write` and `primary`, it must also commit a transaction in time: an
/// old primary cut off from its synchronous standby still says it takes writes, but holds
/// every commit (and serves stale reads) until it is fenced.
async fn suits(connection: &mut PgConnection, target: TargetSessionAttrs) -> bool {
    let answer = async {
        if !seems_to_suit(connection, target).await? {
            return Ok(false);
        }
        if target == TargetSessionAttrs::Any {
            return Ok(true);
        }
        // An id makes the transaction commit for real (a commit record, replicated).
        sqlx::query("SELECT txid_current()")
            .execute(&mut *connection)
            .await
            .map(|_| true)
    };
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, answer).await,
        Ok(Ok(true))
    )
}

/// The check of every new pooled connection: one query (no commit), `false` when the host
/// does not suit or does not answer in time.
pub(crate) async fn new_connection_suits(
    connection: &mut PgConnection,
    target: TargetSessionAttrs,
) -> bool {
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, seems_to_suit(connection, target)).await,
        Ok(Ok(true))
    )
}

/// Whether the host says it suits `target`.
async fn seems_to_suit(
    connection: &mut PgConnection,
    target: TargetSessionAttrs,
) -> Result<bool, sqlx::Error> {
    {
        match target {
            TargetSessionAttrs::Any => connection.ping().await.map(|()| true),
            TargetSessionAttrs::ReadWrite => {
                sqlx::query_scalar::<_, String>("SHOW transaction_read_only")
                    .fetch_one(&mut *connection)
                    .await
                    .map(|read_only| read_only == "off")
            }
            TargetSessionAttrs::Primary => {
                sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut *connection)
                    .await
                    .map(|in_recovery| !in_recovery)
            }
        }
    }
}

/// Whether two connect options reach the same host and port: a listener compares its
/// own with the server pool's, which change at a switch.
pub(crate) fn same_host(a: &PgConnectOptions, b: &PgConnectOptions) -> bool {
    (a.get_host(), a.get_port()) == (b.get_host(), b.get_port())
}

/// When the pool last switched hosts: a pooled connection opened before is closed when
/// next taken (it may reach the old host).
#[derive(Debug)]
pub(crate) struct Switches {
    epoch: Instant,
    /// Milliseconds from `epoch` to the last switch; 0 before any.
    last_ms: AtomicU64,
}

impl Switches {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn switched_now(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now.max(1), Ordering::Release);
    }

    /// Whether a pooled connection of this age was opened after the last switch.
    pub(crate) fn admits(&self, connection_age: Duration) -> bool {
        let last = self.last_ms.load(Ordering::Acquire);
        if last == 0 {
            return true;
        }
        let since_switch = self
            .epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(last));
        connection_age <= since_switch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_host_without_target_attributes_is_left_to_sqlx() {
        assert_eq!(HostList::parse("postgres://u:p@db:5432/app"), Ok(None));
        assert_eq!(
            HostList::parse("postgres://db/app?sslmode=require"),
            Ok(None)
        );
        // A Unix socket, as sqlx takes it.
        assert_eq!(
            HostList::parse("postgres://u:p@/app?host=/cloudsql/project:region:db"),
            Ok(None)
        );
    }

    #[test]
    fn hosts_ports_and_the_other_parameters_are_kept_apart() {
        let list = HostList::parse(
            "postgres://u:p%40ss@h1:5433,h2,[::1]:6000/app?sslmode=disable&target_session_attrs=read-write&application_name=x",
        )
        .unwrap()
        .unwrap();
        assert_eq!(list.target, TargetSessionAttrs::ReadWrite);
        let urls: Vec<String> = list.hosts.iter().map(|h| list.url_for(h)).collect();
        assert_eq!(
            urls,
            [
                "postgres://u:p%40ss@h1:5433/app?sslmode=disable&application_name=x",
                "postgres://u:p%40ss@h2:5432/app?sslmode=disable&application_name=x",
                "postgres://u:p%40ss@[::1]:6000/app?sslmode=disable&application_name=x",
            ]
        );
        assert_eq!(list.hosts[2].name, "::1");
    }

    #[test]
    fn one_host_with_target_attributes_is_followed_and_the_default_is_any() {
        let list = HostList::parse("postgres://db/app?target_session_attrs=primary")
            .unwrap()
            .unwrap();
        assert_eq!(list.target, TargetSessionAttrs::Primary);
        assert_eq!(list.url_for(&list.hosts[0]), "postgres://db:5432/app");
        let list = HostList::parse("postgres://h1,h2/app").unwrap().unwrap();
        assert_eq!(list.target, TargetSessionAttrs::Any);
    }

    #[test]
    fn lists_gatehouse_cannot_use_are_refused_with_the_reason() {
        for (url, reason) in [
            (
                "postgres://h1,h2/app?target_session_attrs=standby",
                "not supported",
            ),
            ("postgres://h1,,h2/app", "empty"),
            ("postgres://h1:x,h2/app", "not a number"),
            ("postgres://[::1,h2/app", "closing ]"),
            ("postgres://[::1]junk,h2/app", ":port"),
            ("postgres://h1,h2/app?port=5433", "not as host="),
            (
                "postgres://u:se/cret@h1,h2/app?target_session_attrs=any",
                "not a number",
            ),
        ] {
            let error = HostList::parse(url).unwrap_err();
            assert!(error.contains(reason), "{url}: {error}");
            assert!(
                !error.contains("se/cret") && !error.contains("u:se"),
                "{error}"
            );
        }
    }

    #[test]
    fn only_connections_opened_after_the_last_switch_are_admitted() {
        let switches = Switches::new();
        let aged = Duration::from_secs;
        assert!(switches.admits(aged(3600)), "no switch yet");
        switches.switched_now();
        assert!(!switches.admits(aged(1)), "opened before the switch");
        assert!(switches.admits(aged(0)), "opened at or after it");
    }
}
