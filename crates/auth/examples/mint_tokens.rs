//! Signs access and refresh tokens for sessions that already exist in a database made for
//! the at-scale load bench (`bench/scale.sh`): logging in 200,000 times there would
//! measure argon2, not `/users/me`. Reads `user_id session_id` lines on standard input
//! and the HS256 secret from `JWT_SECRET_KEY` (as the server does), and writes
//! `access refresh` lines: the access token as a password login gives it, the refresh
//! token of generation 0. It holds the secret, so it can do nothing its owner cannot.

use std::io::{BufRead, BufWriter, Write};

use chrono::{Duration, Utc};
use gatehouse_auth::{JwtCodec, JwtConfig, SigningKey};
use gatehouse_domain::{SessionId, UserId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("JWT_SECRET_KEY").map_err(|_| "JWT_SECRET_KEY is not set")?;
    let codec = JwtCodec::new(JwtConfig::new(SigningKey::hs256(secret.as_bytes())))?;
    let now = Utc::now();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut ids = line.split_whitespace();
        let (Some(user), Some(session)) = (ids.next(), ids.next()) else {
            return Err(format!("expected `user_id session_id`, got {line:?}").into());
        };
        let user = UserId::from_uuid(user.parse()?);
        let session = SessionId::from_uuid(session.parse()?);
        let access = codec.issue_access(user, session, false, now)?;
        let refresh = codec.issue_refresh(user, session, 0, now, now + Duration::days(7))?;
        writeln!(out, "{} {}", access.token, refresh.token)?;
    }
    out.flush()?;
    Ok(())
}
