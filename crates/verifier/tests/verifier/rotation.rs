//! The JWKS client fetches the set again when a token names an unknown key, but not more
//! than once per interval.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::Utc;
use gatehouse_auth::{JwtCodec, JwtConfig, SigningAlgorithm, SigningKey, TokenError};
use gatehouse_domain::{SessionId, UserId};
use gatehouse_verifier::{JwksVerifier, VerifierConfig};

use crate::key_file;

fn codec(algorithm: SigningAlgorithm, prefix: &str) -> JwtCodec {
    let key = SigningKey::from_pem(
        algorithm,
        &std::fs::read(key_file(&format!("{prefix}-private.pem"))).unwrap(),
        &std::fs::read(key_file(&format!("{prefix}-public.pem"))).unwrap(),
    )
    .unwrap();
    JwtCodec::new(JwtConfig::new(key)).unwrap()
}

/// Serves whatever JWK set is in `published`, counting requests.
pub(crate) async fn key_server(published: Arc<Mutex<String>>, fetches: Arc<AtomicUsize>) -> String {
    let server = HttpServer::new(move || {
        let published = published.clone();
        let fetches = fetches.clone();
        App::new().route(
            "/.well-known/jwks.json",
            web::get().to(move || {
                fetches.fetch_add(1, Ordering::SeqCst);
                let body = published.lock().unwrap().clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = format!("http://{}/.well-known/jwks.json", server.addrs()[0]);
    tokio::spawn(server.run());
    address
}

fn token(codec: &JwtCodec) -> String {
    codec
        .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
        .unwrap()
        .token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_signing_key_is_fetched_when_a_token_names_it() {
    let old = codec(SigningAlgorithm::RS256, "rs256");
    let new = codec(SigningAlgorithm::EdDSA, "eddsa");
    let published = Arc::new(Mutex::new(serde_json::to_string(&old.jwks()).unwrap()));
    let fetches = Arc::new(AtomicUsize::new(0));
    let url = key_server(published.clone(), fetches.clone()).await;
    let verifier = JwksVerifier::fetch(url, VerifierConfig::default())
        .await
        .unwrap()
        .with_min_refetch_interval(Duration::ZERO);
    assert!(verifier.verify_access(&token(&old)).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // The issuer rotates to a new key; the first token naming it makes the client fetch.
    *published.lock().unwrap() = serde_json::to_string(&new.jwks()).unwrap();
    assert!(verifier.verify_access(&token(&new)).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert!(verifier.verify_access(&token(&new)).await.is_ok());
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "known keys cost no fetch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_ids_cannot_make_the_client_fetch_more_than_once_per_interval() {
    let old = codec(SigningAlgorithm::RS256, "rs256");
    let new = codec(SigningAlgorithm::EdDSA, "eddsa");
    let published = Arc::new(Mutex::new(serde_json::to_string(&old.jwks()).unwrap()));
    let fetches = Arc::new(AtomicUsize::new(0));
    let url = key_server(published.clone(), fetches.clone()).await;
    let verifier = JwksVerifier::fetch(url, VerifierConfig::default())
        .await
        .unwrap();
    *published.lock().unwrap() = serde_json::to_string(&new.jwks()).unwrap();
    for _ in 0..5 {
        assert_eq!(
            verifier.verify_access(&token(&new)).await,
            Err(TokenError::Invalid)
        );
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "only the first fetch");
}

/// Keys fetched over plain HTTP can be swapped by anyone on the path, who then signs
/// tokens of their own: only loopback, or an explicit opt-in, may use `http://`.
#[tokio::test]
async fn a_key_set_url_over_plain_http_is_refused_unless_loopback_or_opted_in() {
    for url in [
        "http://auth.example.com/.well-known/jwks.json",
        "HTTP://10.0.0.5:8000/.well-known/jwks.json",
    ] {
        let refused = JwksVerifier::fetch(url, VerifierConfig::default())
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("https"), "{url}: {refused}");
    }
    // Opted in, the fetch is attempted (and fails here only because nothing answers).
    let attempted = JwksVerifier::fetch_over_plain_http(
        "http://nothing-here.invalid/.well-known/jwks.json",
        VerifierConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(
        attempted.to_string().contains("cannot fetch"),
        "{attempted}"
    );
}

/// Nor may a redirect from an allowed URL lead to plain http elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_plain_http_is_not_followed() {
    let server = HttpServer::new(|| {
        App::new().route(
            "/.well-known/jwks.json",
            web::get().to(|| async {
                HttpResponse::Found()
                    .insert_header(("Location", "http://keys.example.com/jwks.json"))
                    .finish()
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/.well-known/jwks.json", server.addrs()[0]);
    tokio::spawn(server.run());
    let refused = JwksVerifier::fetch(url, VerifierConfig::default())
        .await
        .unwrap_err();
    let mut chain = refused.to_string();
    let mut source = std::error::Error::source(&refused);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(chain.contains("redirected to plain http"), "{chain}");
}
