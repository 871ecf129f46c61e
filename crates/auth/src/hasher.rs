//! Argon2 on a bounded blocking pool.
//!
//! Each hash costs `memory_kib` of RAM and tens to hundreds of milliseconds of CPU, so it
//! never runs on an async worker, and a semaphore caps how many run at once: a login flood
//! waits in line (bounded memory: a waiting request holds no argon2 buffer) while other
//! requests keep being served. Waiting is refused only when it would be long: from the
//! measured time of recent hashes and the queue ahead, a check that would wait longer
//! than [`HasherConfig::max_wait`] is answered [`AuthError::Busy`] at once. A burst is
//! served, not shed.
//!
//! A stored hash names its own cost, and an imported one could name any: `t=3000` held a
//! hashing slot for seconds at every login attempt, and a larger `m` would ask for
//! gigabytes. Stored hashes above [`MAX_STORED_MEMORY_KIB`], [`MAX_STORED_ITERATIONS`],
//! [`MAX_STORED_PARALLELISM`] or [`MAX_STORED_WORK_FACTOR`] times the default work (or
//! the configured cost, when that is higher) are refused without hashing.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc},
};
use gatehouse_domain::{Password, PasswordHash};
use tokio::sync::Semaphore;

use crate::AuthError;

/// The most memory a stored hash may ask for, KiB (256 MiB: four times the default), unless
/// the configured cost asks for more.
pub const MAX_STORED_MEMORY_KIB: u32 = 256 * 1024;
/// The most passes a stored hash may ask for, unless the configured cost asks for more.
pub const MAX_STORED_ITERATIONS: u32 = 10;
/// The most lanes a stored hash may ask for, unless the configured cost asks for more.
pub const MAX_STORED_PARALLELISM: u32 = 16;
/// The most work (`m × t`, KiB passes) a stored hash may ask for, as a multiple of the
/// default cost's (64 MiB × 3) or of the configured cost's, whichever is more. Each bound
/// above alone would still let `m` = 256 MiB and `t` = 10 together cost thirteen logins.
pub const MAX_STORED_WORK_FACTOR: u64 = 4;
/// The default cost's work, KiB passes (64 MiB × 3).
const DEFAULT_WORK: u64 = 65_536 * 3;

/// Argon2id cost and the concurrency bound.
///
/// The defaults are the Python starter's pwdlib parameters (RFC 9106's second recommended
/// setting), so accounts moved from it keep their strength and are not re-hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HasherConfig {
    /// Memory per hash, KiB (`m`).
    pub memory_kib: u32,
    /// Passes over memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
    /// How many hashes may run at once; the rest wait.
    pub max_concurrent: usize,
    /// The longest a job may expect to wait for a slot; one that would wait longer is
    /// refused at once with [`AuthError::Busy`].
    pub max_wait: Duration,
}

impl Default for HasherConfig {
    fn default() -> Self {
        Self {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 4,
            max_concurrent: cores(),
            max_wait: Duration::from_secs(10),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Wrong password.
    Mismatch,
    /// Right password. `needs_rehash` is true when the stored hash uses another variant,
    /// version or cost than configured: store a fresh hash now, while the password is known.
    Match {
        /// Whether the stored hash should be replaced.
        needs_rehash: bool,
    },
}

impl PasswordCheck {
    /// Whether the password was right.
    pub fn is_match(self) -> bool {
        matches!(self, Self::Match { .. })
    }
}

/// Hashes and verifies passwords. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    waiting: AtomicUsize,
    max_wait: Duration,
    /// How long one hash took lately, µs (a moving average); 0 until one was measured.
    hash_micros: AtomicU64,
    /// A hash of a random password with the configured parameters. Logins for unknown
    /// emails verify against it so both failures cost the same time.
    dummy_hash: PasswordHash,
}

impl PasswordHasher {
    /// Validates the parameters and prepares the dummy hash.
    pub fn new(config: HasherConfig) -> Result<Self, AuthError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            Some(Params::DEFAULT_OUTPUT_LEN),
        )
        .map_err(|e| AuthError::HasherConfig(e.to_string()))?;
        if config.max_concurrent == 0 {
            return Err(AuthError::HasherConfig(
                "max_concurrent must be at least 1".into(),
            ));
        }
        let dummy_hash = unmatchable_hash(&params)?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Arc::new(Semaphore::new(config.max_concurrent)),
                max_concurrent: config.max_concurrent,
                waiting: AtomicUsize::new(0),
                max_wait: config.max_wait,
                hash_micros: AtomicU64::new(0),
                dummy_hash,
            }),
        })
    }

    /// Hashes `password` with the configured parameters and a fresh random salt.
    pub async fn hash(&self, password: Password) -> Result<PasswordHash, AuthError> {
        let params = self.inner.params.clone();
        self.run_bounded(move || hash_blocking(&params, password.expose_secret().as_bytes()))
            .await
    }

    /// Checks `password` against `stored`, whatever argon2 variant it was made with and
    /// whatever cost, within the limits of [`check_stored_cost`](Self::check_stored_cost)
    /// (past them: an error at once, no hashing).
    pub async fn verify(
        &self,
        password: Password,
        stored: PasswordHash,
    ) -> Result<PasswordCheck, AuthError> {
        self.check_stored_cost(&stored)?;
        let params = self.inner.params.clone();
        self.run_bounded(move || verify_blocking(&params, &password, &stored))
            .await
    }

    /// Whether verifying against `stored` stays within bounded work: its `m`, `t` and `p`
    /// at most [`MAX_STORED_MEMORY_KIB`], [`MAX_STORED_ITERATIONS`] and
    /// [`MAX_STORED_PARALLELISM`], or the configured values where those are higher, and
    /// `m × t` at most [`MAX_STORED_WORK_FACTOR`] times the default or configured work.
    /// Unreadable hashes are [`AuthError::MalformedHash`]; too costly ones
    /// [`AuthError::HashTooCostly`]. For checks before storing a hash from elsewhere.
    pub fn check_stored_cost(&self, stored: &PasswordHash) -> Result<(), AuthError> {
        let parsed = phc::PasswordHash::new(stored.as_str())
            .map_err(|e| AuthError::MalformedHash(e.to_string()))?;
        let Ok(cost) = Params::try_from(&parsed) else {
            // Not argon2 parameters argon2 accepts: verification will say what is wrong.
            return Ok(());
        };
        let configured = &self.inner.params;
        let work = |params: &Params| u64::from(params.m_cost()) * u64::from(params.t_cost());
        let bound = |configured: u32, fixed: u32| u64::from(configured.max(fixed));
        let limits = [
            (
                "m",
                cost.m_cost().into(),
                bound(configured.m_cost(), MAX_STORED_MEMORY_KIB),
            ),
            (
                "t",
                cost.t_cost().into(),
                bound(configured.t_cost(), MAX_STORED_ITERATIONS),
            ),
            (
                "p",
                cost.p_cost().into(),
                bound(configured.p_cost(), MAX_STORED_PARALLELISM),
            ),
            (
                "m×t",
                work(&cost),
                MAX_STORED_WORK_FACTOR * work(configured).max(DEFAULT_WORK),
            ),
        ];
        match limits.iter().find(|(_, value, limit)| value > limit) {
            Some((name, value, limit)) => Err(AuthError::HashTooCostly(format!(
                "{name}={value}, at most {limit}"
            ))),
            None => Ok(()),
        }
    }

    /// Spends the same time as [`verify`](Self::verify) and always answers "mismatch": for
    /// logins whose email matches no account.
    pub async fn verify_against_dummy(&self, password: Password) -> Result<(), AuthError> {
        let stored = self.inner.dummy_hash.clone();
        self.verify(password, stored).await.map(|_| ())
    }

    /// How many hashing jobs are waiting for a free slot right now.
    pub fn queue_len(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    async fn run_bounded<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let place = QueuePlace::take(&self.inner)?;
        // The semaphore is never closed, so acquiring cannot fail; treat it as a task
        // failure anyway rather than panicking.
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Hashing("hasher is shut down".into()))?;
        drop(place);
        // The permit moves into the job: if the request is dropped (client gone), the
        // hash still runs to its end and keeps its slot until then, so memory stays
        // bounded by `max_concurrent` hashes whatever clients do.
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let started = Instant::now();
            let result = job();
            inner.record_hash_time(started.elapsed());
            result
        })
        .await
        .map_err(AuthError::HashingTask)?
    }
}

impl Inner {
    /// Folds one hash's duration into the moving average (an eighth of it, so one odd
    /// hash moves the estimate little).
    fn record_hash_time(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        // Racing updates may lose one sample; the average does not need every one.
        let previous = self.hash_micros.load(Ordering::Relaxed);
        let average = if previous == 0 {
            sample
        } else {
            previous - previous / 8 + sample / 8
        };
        self.hash_micros.store(average, Ordering::Relaxed);
    }

    /// How long a job that finds `ahead` others waiting would wait for a slot: every slot
    /// frees once per hash time, `max_concurrent` at a time.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let hash = Duration::from_micros(self.hash_micros.load(Ordering::Relaxed));
        let rounds = u32::try_from(ahead / self.max_concurrent.max(1) + 1).unwrap_or(u32::MAX);
        hash.saturating_mul(rounds)
    }
}

/// A place in the hashing queue, given back when dropped: on acquiring a slot, or when the
/// waiting request is abandoned. So the queue length never drifts.
struct QueuePlace<'a> {
    waiting: &'a AtomicUsize,
}

impl<'a> QueuePlace<'a> {
    /// Joins the queue, unless every slot is busy and the wait would be longer than
    /// allowed.
    fn take(inner: &'a Inner) -> Result<Self, AuthError> {
        let ahead = inner.waiting.fetch_add(1, Ordering::Relaxed);
        let place = Self {
            waiting: &inner.waiting,
        };
        if inner.permits.available_permits() == 0 {
            let expected_wait = inner.expected_wait(ahead);
            if expected_wait > inner.max_wait {
                return Err(AuthError::Busy { expected_wait });
            }
        }
        Ok(place)
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A hash with the configured parameters, a random salt and a random output: verifying any
/// password against it costs exactly what a real hash costs, and none matches (the output
/// is 256 random bits no password was hashed to). Made without hashing, so start-up does
/// not spend an argon2 run (about 150 ms at the default cost) on it.
fn unmatchable_hash(params: &Params) -> Result<PasswordHash, AuthError> {
    let malformed = |e: phc::Error| AuthError::HasherConfig(e.to_string());
    let salt = phc::Salt::new(&rand::random::<[u8; 16]>()).map_err(malformed)?;
    let output = phc::Output::new(&rand::random::<[u8; 32]>()).map_err(malformed)?;
    let version = u32::from(Version::V0x13);
    Ok(PasswordHash::new(format!(
        "${}$v={version}${params}${salt}${output}",
        Algorithm::Argon2id.as_str()
    )))
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<PasswordHash, AuthError> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash = argon2
        .hash_password(password)
        .map_err(|e| AuthError::Hashing(e.to_string()))?;
    Ok(PasswordHash::new(hash.to_string()))
}

fn verify_blocking(
    configured: &Params,
    password: &Password,
    stored: &PasswordHash,
) -> Result<PasswordCheck, AuthError> {
    let parsed = phc::PasswordHash::new(stored.as_str())
        .map_err(|e| AuthError::MalformedHash(e.to_string()))?;
    // The verifier takes variant, version and cost from the stored hash, not from here.
    let verifier = Argon2::new(Algorithm::Argon2id, Version::V0x13, configured.clone());
    match verifier.verify_password(password.expose_secret().as_bytes(), &parsed) {
        Ok(()) => Ok(PasswordCheck::Match {
            needs_rehash: needs_rehash(&parsed, configured),
        }),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(PasswordCheck::Mismatch),
        Err(e) => Err(AuthError::MalformedHash(e.to_string())),
    }
}

/// A stored hash is replaced when it differs from the configuration, but never by a
/// weaker one: lowering `ARGON2_MEMORY_KIB` or `ARGON2_ITERATIONS` must not quietly
/// weaken the hashes of everyone who logs in afterwards.
fn needs_rehash(stored: &phc::PasswordHash, configured: &Params) -> bool {
    if matches_configuration(stored, configured) {
        return false;
    }
    Params::try_from(stored).map_or(true, |stored| {
        configured.m_cost() >= stored.m_cost() && configured.t_cost() >= stored.t_cost()
    })
}

fn matches_configuration(stored: &phc::PasswordHash, configured: &Params) -> bool {
    let same_variant = stored.algorithm.as_str() == Algorithm::Argon2id.as_str();
    let same_version = stored.version == Some(Version::V0x13.into());
    let same_cost = Params::try_from(stored).is_ok_and(|p| {
        p.m_cost() == configured.m_cost()
            && p.t_cost() == configured.t_cost()
            && p.p_cost() == configured.p_cost()
            && p.output_len() == configured.output_len()
    });
    same_variant && same_version && same_cost
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> HasherConfig {
        HasherConfig {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
            max_wait: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_real_hash_costs_and_matches_nothing() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let dummy = phc::PasswordHash::new(hasher.inner.dummy_hash.as_str()).unwrap();
        let real = hasher.hash(Password::presented("anything")).await.unwrap();
        let real = phc::PasswordHash::new(real.as_str()).unwrap();
        // Same variant, version, parameters and lengths: the same argon2 work to verify.
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.salt.map(|s| s.len()), real.salt.map(|s| s.len()));
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
        let check = hasher
            .verify(Password::presented(""), hasher.inner.dummy_hash.clone())
            .await
            .unwrap();
        assert_eq!(check, PasswordCheck::Mismatch);
        // A new hasher, a new random dummy.
        let other = PasswordHasher::new(cheap()).unwrap();
        assert_ne!(other.inner.dummy_hash, hasher.inner.dummy_hash);
    }

    /// Hashes made by Python's pwdlib / argon2-cffi: `password<TAB>hash` lines.
    const PYTHON_VECTORS: &str = include_str!("../tests/fixtures/argon2-vectors.txt");

    fn python_vectors() -> impl Iterator<Item = (&'static str, &'static str)> {
        PYTHON_VECTORS
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| line.split_once('\t').unwrap())
    }

    #[tokio::test]
    async fn python_hashes_verify_and_only_foreign_parameters_need_a_rehash() {
        let hasher = PasswordHasher::new(HasherConfig::default()).unwrap();
        assert_eq!(python_vectors().count(), 6);
        for (password, hash) in python_vectors() {
            let check = hasher
                .verify(Password::presented(password), PasswordHash::new(hash))
                .await
                .unwrap();
            // The defaults are pwdlib's, so only other parameters or variants need work.
            let needs_rehash = !hash.starts_with("$argon2id$v=19$m=65536,t=3,p=4$");
            assert_eq!(check, PasswordCheck::Match { needs_rehash }, "{hash}");
            let wrong = hasher
                .verify(
                    Password::presented("not the password"),
                    PasswordHash::new(hash),
                )
                .await
                .unwrap();
            assert_eq!(wrong, PasswordCheck::Mismatch);
        }
    }

    #[tokio::test]
    async fn a_fresh_hash_verifies_and_needs_no_rehash() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let hash = hasher
            .hash(Password::presented("s3cret-enough"))
            .await
            .unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        let check = hasher
            .verify(Password::presented("s3cret-enough"), hash)
            .await
            .unwrap();
        assert_eq!(
            check,
            PasswordCheck::Match {
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn a_stronger_stored_hash_is_never_rehashed_down_to_weaker_parameters() {
        // OWASP's floor (m=19 MiB, t=2): weaker than the starter's m=64 MiB, t=3 hashes.
        let weaker = PasswordHasher::new(HasherConfig {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 1,
            max_wait: Duration::from_secs(10),
        })
        .unwrap();
        for (password, hash) in python_vectors().filter(|(_, h)| h.contains("m=65536,t=3")) {
            let check = weaker
                .verify(Password::presented(password), PasswordHash::new(hash))
                .await
                .unwrap();
            assert_eq!(
                check,
                PasswordCheck::Match {
                    needs_rehash: false
                },
                "{hash}"
            );
        }
        // Weaker stored hashes are still brought up to the configuration.
        let (password, old) = python_vectors()
            .find(|(_, h)| h.contains("m=8192,t=1"))
            .unwrap();
        let check = weaker
            .verify(Password::presented(password), PasswordHash::new(old))
            .await
            .unwrap();
        assert_eq!(check, PasswordCheck::Match { needs_rehash: true });
    }

    /// A stored hash names its own cost; read without a bound, an imported
    /// `t=3000` hash held a hashing slot for seconds at every login attempt.
    #[tokio::test]
    async fn a_stored_hash_costlier_than_the_limits_is_refused_without_hashing() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let salt_and_output = "c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        for cost in [
            "m=8,t=3000,p=1",
            "m=262145,t=1,p=1",
            "m=136,t=1,p=17",
            "m=262144,t=4,p=1",
        ] {
            let stored = PasswordHash::new(format!("$argon2id$v=19${cost}${salt_and_output}"));
            let err = hasher
                .verify(Password::presented("x"), stored)
                .await
                .unwrap_err();
            assert!(
                err.to_string().contains("cost above the limit"),
                "{cost}: {err}"
            );
        }
        // At the limits, and at a configured cost above them, hashes are still checked.
        for cost in ["m=8,t=10,p=1", "m=128,t=1,p=16", "m=65536,t=10,p=1"] {
            let stored = PasswordHash::new(format!("$argon2id$v=19${cost}${salt_and_output}"));
            let check = hasher.verify(Password::presented("x"), stored).await;
            assert_eq!(check.unwrap(), PasswordCheck::Mismatch, "{cost}");
        }
        let slow = PasswordHasher::new(HasherConfig {
            iterations: 12,
            ..cheap()
        })
        .unwrap();
        let stored = PasswordHash::new(format!("$argon2id$v=19$m=8,t=12,p=1${salt_and_output}"));
        let check = slow.verify(Password::presented("x"), stored).await;
        assert_eq!(check.unwrap(), PasswordCheck::Mismatch);
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error_not_a_match() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let err = hasher
            .verify(Password::presented("x"), PasswordHash::new("plaintext"))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::MalformedHash(_)));
    }

    /// One slot, and a hash slow enough to observe (~0.1 s+).
    fn slow_single_slot(max_wait: Duration) -> PasswordHasher {
        PasswordHasher::new(HasherConfig {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 1,
            max_concurrent: 1,
            max_wait,
        })
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_request_keeps_its_slot_until_its_hash_is_done() {
        // Checked on the slot itself, not by timing two hashes against each other: that
        // comparison failed on a busy machine.
        let hasher = slow_single_slot(Duration::from_secs(60));
        // A request whose client went away: its future is dropped while hashing (a 64 MiB,
        // t=3 hash takes far longer than 20 ms).
        let abandoned = hasher.hash(Password::presented("pw"));
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), abandoned)
                .await
                .is_err(),
            "still hashing"
        );
        // The abandoned job still runs and keeps the only slot, so the next request waits
        // for it instead of running beside it (two argon2 buffers where the bound says one).
        assert_eq!(hasher.inner.permits.available_permits(), 0);
        // When the hash ends, the slot comes back.
        let started = std::time::Instant::now();
        while hasher.inner.permits.available_permits() == 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the slot never came back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        hasher.hash(Password::presented("pw")).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_queue_length_does_not_drift_when_queued_requests_are_dropped() {
        let hasher = slow_single_slot(Duration::from_secs(60));
        let running = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(Password::presented("pw")).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        for _ in 0..3 {
            let queued = hasher.verify(
                Password::presented("pw"),
                PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"),
            );
            let _ = tokio::time::timeout(std::time::Duration::from_millis(5), queued).await;
        }
        assert_eq!(hasher.queue_len(), 0);
        running.await.unwrap().unwrap();
        assert_eq!(hasher.queue_len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_within_the_wait_bound_is_served_in_turn() {
        let hasher = slow_single_slot(Duration::from_secs(60));
        let jobs = (0..6).map(|_| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(Password::presented("pw")).await })
        });
        for result in futures_util::future::join_all(jobs).await {
            result.unwrap().unwrap();
        }
        assert_eq!(hasher.queue_len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_would_wait_too_long_is_refused_at_once() {
        // Far less than one hash: with the only slot busy, any wait is too long.
        let hasher = slow_single_slot(Duration::from_millis(5));
        // Nothing measured yet: the first jobs are never refused for a guess.
        hasher.hash(Password::presented("pw")).await.unwrap();
        let running = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(Password::presented("pw")).await }
        });
        while hasher.inner.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let jobs = (0..3).map(|_| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(Password::presented("pw")).await })
        });
        for result in futures_util::future::join_all(jobs).await {
            let refused = result.unwrap().unwrap_err();
            let AuthError::Busy { expected_wait } = refused else {
                panic!("{refused}");
            };
            assert!(
                expected_wait > Duration::from_millis(5),
                "{expected_wait:?}"
            );
        }
        // Refused at once: the running hash is not even done.
        assert!(!running.is_finished());
        running.await.unwrap().unwrap();
        assert_eq!(hasher.queue_len(), 0);
    }

    #[test]
    fn impossible_parameters_are_refused_at_construction() {
        let config = HasherConfig {
            memory_kib: 1,
            ..cheap()
        };
        assert!(matches!(
            PasswordHasher::new(config),
            Err(AuthError::HasherConfig(_))
        ));
    }
}
