//! Hashing, verifying (Python-made hashes included), the bounds on work and waiting.

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
const PYTHON_VECTORS: &str = include_str!("../../tests/fixtures/argon2-vectors.txt");

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
