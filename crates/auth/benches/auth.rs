//! Cost of the operations every request pays: password hashing/verification with the
//! production parameters, and token issue/verification. Run: `cargo bench -p gatehouse-auth`.

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_auth::{HasherConfig, JwtCodec, JwtConfig, PasswordHasher, SigningKey};
use gatehouse_domain::{Password, SessionId, UserId};

fn hashing(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let hasher = PasswordHasher::new(HasherConfig::default()).expect("hasher");
    let password = || Password::presented("YourStrongPassw0rd!");
    let stored = runtime.block_on(hasher.hash(password())).expect("hash");
    let mut group = c.benchmark_group("argon2id m=65536 t=3 p=4");
    group.sample_size(10);
    group.bench_function("hash", |b| {
        b.iter(|| runtime.block_on(hasher.hash(black_box(password()))))
    });
    group.bench_function("verify", |b| {
        b.iter(|| runtime.block_on(hasher.verify(black_box(password()), stored.clone())))
    });
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let codec = JwtCodec::new(JwtConfig::new(SigningKey::hs256(
        b"benchmark-secret-of-at-least-32-bytes!!",
    )))
    .expect("codec");
    let (user, session) = (UserId::new(), SessionId::new());
    let token = codec
        .issue_access(user, session, true, Utc::now())
        .expect("token")
        .token;
    let mut group = c.benchmark_group("jwt HS256");
    group.bench_function("issue access token", |b| {
        b.iter(|| codec.issue_access(black_box(user), session, true, Utc::now()))
    });
    group.bench_function("verify access token", |b| {
        b.iter(|| codec.verify_access(black_box(&token)))
    });
    group.finish();
}

criterion_group!(benches, hashing, tokens);
criterion_main!(benches);
