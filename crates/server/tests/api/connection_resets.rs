//! Clients that send a login and reset the connection before the answer must not stack
//! argon2 jobs: each hash keeps its slot until it ends, so memory stays bounded by
//! `HASHING_CONCURRENCY` hashes, and the queue-length gauge returns to zero.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::{
    helpers::{PASSWORD, metric},
    process::GatehouseProcess,
};

const ARGON2_MEMORY_MIB: u64 = 64;
const HASHING_CONCURRENCY: u64 = 2;

/// Opens a connection, sends a complete login and resets the connection (RST, not FIN)
/// shortly after, while the request waits for or runs its hash.
async fn login_then_reset(address: &str, email: &str) {
    let body = format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#);
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    stream.set_zero_linger().unwrap();
    drop(stream);
}

async fn queue_length(server: &GatehouseProcess) -> f64 {
    let name = "gatehouse_password_hashing_queue_length";
    metric(&server.client, &server.url(""), name)
        .await
        .expect("the queue-length gauge is exported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_reset_mid_flight_keep_memory_bounded_and_the_gauge_honest() {
    let directory = std::env::temp_dir().join(format!(
        "gatehouse-resets-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&directory).unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        directory.join("db.sqlite").display()
    );
    let memory = (ARGON2_MEMORY_MIB * 1024).to_string();
    let concurrency = HASHING_CONCURRENCY.to_string();
    let server = GatehouseProcess::start(
        &url,
        &[
            ("ARGON2_MEMORY_KIB", memory.as_str()),
            ("ARGON2_ITERATIONS", "2"),
            ("HASHING_CONCURRENCY", concurrency.as_str()),
            ("RATE_LIMIT_ENABLED", "false"),
        ],
    )
    .await;
    let before = server.resident_kib("VmRSS");
    let email = "resets@example.com";
    assert_eq!(server.register(email).await.status(), StatusCode::CREATED);

    let address = server.url("").trim_start_matches("http://").to_owned();
    for _wave in 0..3 {
        let resets = (0..30).map(|_| login_then_reset(&address, email));
        futures_util::future::join_all(resets).await;
    }

    // Every abandoned request gives its queue place back; the hashes already running end.
    let started = Instant::now();
    while queue_length(&server).await != 0.0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the queue-length gauge stays above zero after every client left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // No slot leaked: a real login gets through.
    let login = server.login(email).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(queue_length(&server).await, 0.0);

    // Ninety abandoned logins cost no more memory than the slots allow (plus slack for
    // allocator and connection buffers); stacked jobs would need 64 MiB each.
    let peak = server.resident_kib("VmHWM");
    let allowed = before + HASHING_CONCURRENCY * ARGON2_MEMORY_MIB * 1024 + 48 * 1024;
    assert!(
        peak <= allowed,
        "peak resident memory {peak} KiB, allowed {allowed} KiB (started at {before} KiB)"
    );
    let _ = std::fs::remove_dir_all(&directory);
}
