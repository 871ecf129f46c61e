//! What a test needs that a machine may lack, and how a run says it went without.
//!
//! A test whose database, Redis, browser or OpenID Provider is missing returns having
//! checked nothing. So that a green local run does not pass for a full one, the first
//! such skip of each kind writes one line to the terminal (past the harness's capture):
//! what was skipped, how many tests that is where it can be counted, and the variable to
//! set. With `GATEHOUSE_TEST_REQUIRE_ALL` set (`.ci/run` sets it) a skip fails the test
//! instead: CI must never pass a test it meant to run.

use std::{io::Write, sync::Once};

/// Something a test may go without.
#[derive(Debug, Clone, Copy)]
pub enum Needs {
    /// `GATEHOUSE_TEST_POSTGRES_URL`.
    Postgres,
    /// `GATEHOUSE_TEST_MYSQL_URL`.
    MariaDb,
    /// `GATEHOUSE_TEST_REDIS_URL`.
    Redis,
    /// A chromedriver (`GATEHOUSE_TEST_CHROMEDRIVER`, or one on `PATH`).
    Chromium,
    /// Node.js and `npm ci` in `tests/oidc-provider` (`GATEHOUSE_TEST_OIDC_PROVIDER`).
    OidcProvider,
    /// A replicated Postgres and the command that fails it over
    /// (`GATEHOUSE_TEST_FAILOVER_URL`, `GATEHOUSE_TEST_FAILOVER_COMMAND`).
    Failover,
}

impl Needs {
    const ALL: [Self; 6] = [
        Self::Postgres,
        Self::MariaDb,
        Self::Redis,
        Self::Chromium,
        Self::OidcProvider,
        Self::Failover,
    ];

    fn what(self) -> &'static str {
        match self {
            Self::Postgres => "Postgres: GATEHOUSE_TEST_POSTGRES_URL is not set",
            Self::MariaDb => "MariaDB: GATEHOUSE_TEST_MYSQL_URL is not set",
            Self::Redis => "Redis: GATEHOUSE_TEST_REDIS_URL is not set",
            Self::Chromium => "the browser: no chromedriver (set GATEHOUSE_TEST_CHROMEDRIVER)",
            Self::OidcProvider => {
                "the OpenID Provider: no node, or no `npm ci` in crates/server/tests/oidc-provider"
            }
            Self::Failover => {
                "a replicated Postgres: GATEHOUSE_TEST_FAILOVER_URL and \
                 GATEHOUSE_TEST_FAILOVER_COMMAND are not set (.ci/run sets up pg_auto_failover)"
            }
        }
    }

    /// The module of `backend_tests!` copies that need it, where there is one.
    fn copies(self) -> Option<&'static str> {
        match self {
            Self::Postgres => Some("::postgres::"),
            Self::MariaDb => Some("::mysql::"),
            _ => None,
        }
    }
}

/// The test calling this goes without `needs`: a failure when CI requires every test,
/// else a note the first time for its kind.
pub fn skipped(needs: Needs) {
    if std::env::var_os("GATEHOUSE_TEST_REQUIRE_ALL").is_some() {
        panic!(
            "skipped, but GATEHOUSE_TEST_REQUIRE_ALL requires every test to run: {}",
            needs.what()
        );
    }
    static NOTES: [Once; Needs::ALL.len()] = [const { Once::new() }; Needs::ALL.len()];
    NOTES[needs as usize].call_once(|| {
        let counted = needs
            .copies()
            .and_then(|module| Some((module, listed_tests()?)))
            .map(|(module, tests)| tests.iter().filter(|name| name.contains(module)).count());
        let line = match counted {
            Some(count) => format!(
                "skipped: {count} backend tests, and any other test that needs {}",
                needs.what()
            ),
            None => format!("skipped: the tests that need {}", needs.what()),
        };
        // Straight to the terminal: the harness captures `eprintln!` of passing tests.
        let _ = writeln!(std::io::stderr(), "{line}");
    });
}

/// Every test of this binary, as `--list` names them.
fn listed_tests() -> Option<Vec<String>> {
    let listing = std::process::Command::new(std::env::current_exe().ok()?)
        .args(["--list", "--format", "terse"])
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&listing.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}
