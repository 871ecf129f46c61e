//! `gatehouse healthcheck`: asks the running server for `/health`, for container health
//! checks on images without a shell or curl (distroless). Plain HTTP/1.0 over a TCP
//! socket with short timeouts: no client library, no async runtime.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream, ToSocketAddrs},
    time::Duration,
};

use anyhow::{Context, bail};

use crate::Settings;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Succeeds when `GET /health` on the configured port answers 200.
pub fn check(settings: &Settings) -> anyhow::Result<()> {
    // A wildcard listen address is reached through loopback.
    let host = match settings.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        host => host,
    };
    let address: SocketAddr = (host, settings.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut head = [0_u8; 64];
    let read = stream.read(&mut head).context("no answer")?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        bail!("/health answered {status:?}");
    }
    Ok(())
}
