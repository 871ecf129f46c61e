//! Argon2 on threads of its own, bounded.
//!
//! Each hash costs `memory_kib` of RAM and tens to hundreds of milliseconds of CPU, so it
//! never runs on an async worker: one thread per slot runs hashes at a low OS priority
//! (niceness 10, so requests waiting for a core go first), and a semaphore caps how many run
//! at once: a login flood
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

/// A hash to run on one of the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' priority on thread-priority's 0–99 scale: 22 is niceness 10 on
/// Linux. Low enough that a request waiting for a core goes first (a nice-10 thread gets
/// about a tenth of a core that a normal one also wants), not so low that other busy
/// processes on the host could starve logins (nice 19 would get about 1.5%).
const HASHING_PRIORITY: u8 = 22;

/// Starts `count` threads that run [`Job`]s, at a low OS priority: argon2 mostly gets the
/// CPU time that requests waiting for a core do not want, so a login flood slows logins
/// down (and past the wait bound, refuses them) rather than every other request.
/// The threads end once every sender is dropped.
fn start_hashing_threads(count: usize) -> Result<std::sync::mpsc::Sender<Job>, AuthError> {
    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
    let queue = Arc::new(std::sync::Mutex::new(queue));
    for n in 0..count {
        let queue = Arc::clone(&queue);
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                // Best effort: where the OS refuses, hashes run at the normal priority.
                if let Ok(lower) = thread_priority::ThreadPriorityValue::try_from(HASHING_PRIORITY)
                {
                    let _ = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Crossplatform(lower),
                    );
                }
                loop {
                    // The lock is held only while waiting; a poisoned one still works.
                    let next = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok(job) = next else { return };
                    // A panicking job loses its answer (its caller gets an error) but not
                    // the thread; its slot is given back as the job unwinds.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .map_err(|e| AuthError::HasherConfig(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(jobs)
}

struct Inner {
    /// Where hashes are sent to run: one thread per slot.
    threads: std::sync::mpsc::Sender<Job>,
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
        let threads = start_hashing_threads(config.max_concurrent)?;
        Ok(Self {
            inner: Arc::new(Inner {
                threads,
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
        let (done, outcome) = tokio::sync::oneshot::channel();
        let work: Job = Box::new(move || {
            let started = Instant::now();
            let result = job();
            inner.record_hash_time(started.elapsed());
            // The slot is free before the answer goes out: a caller that has its answer
            // finds the slot it used free again.
            drop(permit);
            // The caller may have gone; the hash was still done, and its slot held.
            let _ = done.send(result);
        });
        self.inner
            .threads
            .send(work)
            .map_err(|_| AuthError::Hashing("the hashing threads have stopped".into()))?;
        outcome
            .await
            .map_err(|_| AuthError::Hashing("a hashing job failed".into()))?
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
mod tests;
