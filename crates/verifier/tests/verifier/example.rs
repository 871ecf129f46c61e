//! The example service, as a separate process, against a running Gatehouse.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use crate::{aal1_and_aal2_tokens, access_token, example_binary, start_gatehouse, tampered};

/// The example service, killed when dropped.
struct Service {
    child: Child,
    address: String,
}

impl Service {
    fn start(env: &[(&str, &str)]) -> Self {
        let binary = example_binary("protected_service");
        assert!(
            binary.exists(),
            "{} missing: run through `cargo test`, which builds the examples",
            binary.display()
        );
        let mut child = Command::new(binary)
            .env("LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "off")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        let address = first_line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
            .to_owned();
        Self { child, address }
    }

    async fn hello(&self, token: Option<&str>) -> (u16, String, serde_json::Value) {
        self.get("/hello", token).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String, serde_json::Value) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, challenge, response.json().await.unwrap())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_accepts_gatehouse_tokens_from_its_jwks_and_rejects_tampered_ones() {
    let gatehouse = start_gatehouse(&[]).await;
    let (user_id, token) = access_token(&gatehouse).await;
    let jwks_url = format!("{gatehouse}/.well-known/jwks.json");
    let service = Service::start(&[("GATEHOUSE_JWKS_URL", &jwks_url)]);

    let (status, _, body) = service.hello(Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], user_id);

    let (status, challenge, body) = service.hello(Some(&tampered(&token))).await;
    assert_eq!(
        (status, challenge.as_str()),
        (401, r#"Bearer error="invalid_token""#)
    );
    assert_eq!(body["detail"], "Invalid token");

    let (status, challenge, body) = service.hello(None).await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"));
    assert_eq!(body["detail"], "Not authenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_accepts_hs256_tokens_with_the_shared_secret() {
    let secret = "a-shared-secret-of-at-least-32-bytes!!";
    let gatehouse = start_gatehouse(&[
        ("JWT_ALGORITHM", "HS256"),
        ("JWT_PRIVATE_KEY_FILE", ""),
        ("JWT_PUBLIC_KEY_FILE", ""),
        ("JWT_SECRET_KEY", secret),
    ])
    .await;
    let (user_id, token) = access_token(&gatehouse).await;
    let service = Service::start(&[("GATEHOUSE_JWT_SECRET", secret)]);
    let (status, _, body) = service.hello(Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], user_id);
    let wrong = Service::start(&[(
        "GATEHOUSE_JWT_SECRET",
        "another-secret-of-32-bytes-or-more!!",
    )]);
    assert_eq!(wrong.hello(Some(&token)).await.0, 401);
}

/// Another service can require two factors on its own routes: an aal2 token passes
/// `Aal2Token`, an aal1 token of the same account gets 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_requires_aal2_where_it_says_so() {
    let gatehouse = start_gatehouse(&[]).await;
    let (aal1, aal2) = aal1_and_aal2_tokens(&gatehouse).await;
    let jwks_url = format!("{gatehouse}/.well-known/jwks.json");
    let service = Service::start(&[("GATEHOUSE_JWKS_URL", &jwks_url)]);
    let (status, _, body) = service.get("/sensitive", Some(&aal2)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    let (status, _, body) = service.get("/sensitive", Some(&aal1)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["detail"], "Stronger authentication required");
    assert_eq!(
        service.hello(Some(&aal1)).await.0,
        200,
        "aal1 is enough for /hello"
    );
}
