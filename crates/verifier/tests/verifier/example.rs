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

/// The example service as an app gatehouse signs users in to: its `ClientToken` route
/// takes access tokens gatehouse's provider issued to its client id (and nothing else), its
/// `ScopedToken` route only those with the scope `email`. The provider's signer, its key
/// published by a key server, stands in for gatehouse here; the next test uses a real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_takes_client_tokens_for_its_client_id_and_requires_a_scope() {
    use gatehouse_auth::{ProviderTokens, SigningKey};
    use gatehouse_domain::{ClientId, Scopes};

    let signer = ProviderTokens::new(
        SigningKey::generate_es256().unwrap(),
        "https://id.example.test".into(),
        chrono::Duration::minutes(5),
    )
    .unwrap();
    let set = serde_json::to_string(&signer.jwks()).unwrap();
    let url = crate::rotation::key_server(
        std::sync::Arc::new(std::sync::Mutex::new(set)),
        std::sync::Arc::default(),
    )
    .await;
    let wiki = ClientId::parse("0123456789abcdef0123456789abcdef").unwrap();
    let other = ClientId::parse("fedcba9876543210fedcba9876543210").unwrap();
    let service = Service::start(&[
        ("GATEHOUSE_JWKS_URL", &url),
        ("GATEHOUSE_CLIENT_ID", wiki.as_str()),
    ]);
    let token = |client: &ClientId, scope: &str| {
        signer
            .issue_access(
                "user-1",
                client,
                &Scopes::parse(scope).unwrap(),
                ("grant.1".into(), None, None),
                chrono::Utc::now(),
            )
            .unwrap()
            .token
    };

    let with_email = token(&wiki, "openid email");
    let (status, _, body) = service.get("/contact", Some(&with_email)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "user-1");
    let (status, _, body) = service.get("/app", Some(&with_email)).await;
    assert_eq!(
        (status, body["client_id"].as_str()),
        (200, Some(wiki.as_str()))
    );

    let without = token(&wiki, "openid");
    let (status, challenge, body) = service.get("/contact", Some(&without)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["detail"], "Missing scope");
    assert_eq!(
        challenge,
        r#"Bearer error="insufficient_scope", scope="email""#
    );

    let (status, _, _) = service.get("/app", Some(&token(&other, "email"))).await;
    assert_eq!(status, 401, "another client's token");
    let (status, _, _) = service.hello(Some(&with_email)).await;
    assert_eq!(status, 401, "a client token is no gatehouse access token");
}

/// A real gatehouse's own access token opens none of the client-token routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gatehouse_access_token_is_no_client_token() {
    let gatehouse = start_gatehouse(&[]).await;
    let (_, token) = access_token(&gatehouse).await;
    let jwks_url = format!("{gatehouse}/.well-known/jwks.json");
    let service = Service::start(&[
        ("GATEHOUSE_JWKS_URL", &jwks_url),
        ("GATEHOUSE_CLIENT_ID", "0123456789abcdef0123456789abcdef"),
    ]);
    assert_eq!(service.hello(Some(&token)).await.0, 200);
    let (status, _, body) = service.get("/app", Some(&token)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["detail"], "Wrong token type");
    assert_eq!(service.get("/contact", Some(&token)).await.0, 401);
}

/// A route that requires a role, against a real gatehouse whose operator grants and
/// revokes it at the command line: 403 `Missing role` without it, 200 from the refresh
/// after the grant, 403 again from the refresh after the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_requires_a_role_granted_in_gatehouse() {
    use gatehouse::cli::{RolesAction, UsersAction};

    let (gatehouse, settings) = crate::start_gatehouse_with_settings(&[]).await;
    let client = reqwest::Client::new();
    let email = format!("{}@example.com", crate::rand_name());
    let credentials = serde_json::json!({"email": email, "password": "YourStrongPassw0rd!"});
    let post = async |path: &str, body: &serde_json::Value| -> serde_json::Value {
        let response = client
            .post(format!("{gatehouse}{path}"))
            .json(body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    };
    post("/auth/register", &credentials).await;
    let tokens = post("/auth/login", &credentials).await;
    let refresh = async |refresh: &str| -> serde_json::Value {
        let response = client
            .post(format!("{gatehouse}/auth/refresh"))
            .bearer_auth(refresh)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    };
    let jwks_url = format!("{gatehouse}/.well-known/jwks.json");
    let service = Service::start(&[("GATEHOUSE_JWKS_URL", &jwks_url)]);

    let access = tokens["access_token"].as_str().unwrap();
    let (status, challenge, body) = service.get("/staff", Some(access)).await;
    assert_eq!((status, challenge.as_str()), (403, ""), "{body}");
    assert_eq!(body["detail"], "Missing role");

    let create = RolesAction::Create {
        name: "staff".into(),
        description: None,
    };
    gatehouse::roles_cli::run(create, &settings).await.unwrap();
    let grant = UsersAction::Grant {
        email: email.clone(),
        role: "staff".into(),
    };
    gatehouse::users_cli::run(grant, &settings).await.unwrap();
    assert_eq!(
        service.get("/staff", Some(access)).await.0,
        403,
        "issued before"
    );
    let granted = refresh(tokens["refresh_token"].as_str().unwrap()).await;
    let (status, _, body) = service
        .get("/staff", granted["access_token"].as_str())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roles"], serde_json::json!(["staff"]));

    let revoke = UsersAction::Revoke {
        email,
        role: "staff".into(),
    };
    gatehouse::users_cli::run(revoke, &settings).await.unwrap();
    let revoked = refresh(granted["refresh_token"].as_str().unwrap()).await;
    let (status, _, body) = service
        .get("/staff", revoked["access_token"].as_str())
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["detail"], "Missing role");
}
