//! The verifier against a running Gatehouse, and the example service built from
//! `examples/protected_service.rs`.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

mod example;
mod rotation;

use std::{collections::HashMap, path::PathBuf};

/// The server crate's test key pairs.
pub fn key_file(name: &str) -> String {
    format!(
        "{}/../server/tests/fixtures/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A Gatehouse on a free port with its own SQLite file, signing with EdDSA unless
/// `overrides` say otherwise. Returns its base URL.
pub async fn start_gatehouse(overrides: &[(&str, &str)]) -> String {
    start_gatehouse_with_settings(overrides).await.0
}

/// [`start_gatehouse`], with the settings it runs with (for its command line).
pub async fn start_gatehouse_with_settings(
    overrides: &[(&str, &str)],
) -> (String, gatehouse::Settings) {
    let dir = std::env::temp_dir().join("gatehouse-verifier-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join(format!("{}.db", rand_name()));
    let private = key_file("eddsa-private.pem");
    let public = key_file("eddsa-public.pem");
    let url = format!("sqlite://{}?mode=rwc", database.display());
    let mail_dir = dir.join(format!("{}-mail", rand_name()));
    let mail = format!("file:{}", mail_dir.display());
    let mut environment: HashMap<String, String> = [
        ("APP_PORT", "0"),
        ("APP_WORKERS", "1"),
        ("DATABASE_URL", url.as_str()),
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_PRIVATE_KEY_FILE", private.as_str()),
        ("JWT_PUBLIC_KEY_FILE", public.as_str()),
        ("ARGON2_MEMORY_KIB", "1024"),
        ("ARGON2_ITERATIONS", "1"),
        ("ARGON2_PARALLELISM", "1"),
        ("MAIL_TRANSPORT", mail.as_str()),
    ]
    .iter()
    .chain(overrides)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    environment.retain(|_, v| !v.is_empty());
    let settings = gatehouse::Settings::from_layers(HashMap::new(), environment).unwrap();
    let application = gatehouse::Application::build(settings.clone())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    mail_dirs()
        .lock()
        .unwrap()
        .insert(address.clone(), mail_dir);
    (address, settings)
}

/// Where each gatehouse started here writes its mails.
fn mail_dirs() -> &'static std::sync::Mutex<HashMap<String, PathBuf>> {
    static DIRS: std::sync::OnceLock<std::sync::Mutex<HashMap<String, PathBuf>>> =
        std::sync::OnceLock::new();
    DIRS.get_or_init(Default::default)
}

/// Verifies the address of `access`'s account as its owner does: asks for the mail, reads
/// its token, and sends it back (only a verified address may add a second factor).
async fn verify_by_mail(gatehouse: &str, client: &reqwest::Client, access: &str) {
    let asked = client
        .post(format!("{gatehouse}/auth/request-verify"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status().as_u16(), 202);
    let dir = mail_dirs().lock().unwrap()[gatehouse].clone();
    let mut token = None;
    for _ in 0..100 {
        let mails = std::fs::read_dir(&dir).into_iter().flatten().flatten();
        token = mails
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .find_map(|mail| {
                let text = mail.replace("=\r\n", "").replace("=\n", "");
                text.lines()
                    .find_map(|line| line.strip_prefix("Token: "))
                    .map(|token| token.trim().to_owned())
            });
        if token.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let verified = client
        .post(format!("{gatehouse}/auth/verify"))
        .json(&serde_json::json!({"token": token.expect("a verification mail")}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status().as_u16(), 200);
}

/// Registers and logs in a fresh account; returns its id and access token.
pub async fn access_token(gatehouse: &str) -> (String, String) {
    let client = reqwest::Client::new();
    let email = format!("{}@example.com", rand_name());
    let credentials = serde_json::json!({"email": email, "password": "YourStrongPassw0rd!"});
    let registered: serde_json::Value = client
        .post(format!("{gatehouse}/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tokens: serde_json::Value = client
        .post(format!("{gatehouse}/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        registered["id"].as_str().unwrap().to_owned(),
        tokens["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Registers a fresh account, turns TOTP on and logs in with both factors; returns an
/// aal1 access token (the enrolling login's) and an aal2 one.
pub async fn aal1_and_aal2_tokens(gatehouse: &str) -> (String, String) {
    let client = reqwest::Client::new();
    let aal1 = access_token_with(gatehouse, &client).await;
    verify_by_mail(gatehouse, &client, &aal1.1).await;
    let post = async |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut request = client.post(format!("{gatehouse}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    };
    let (_, setup) = post("/auth/mfa/totp/setup", Some(&aal1.1), serde_json::json!({})).await;
    let secret =
        gatehouse_auth::TotpSecret::from_base32(setup["secret"].as_str().unwrap()).unwrap();
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let (status, _) = post(
        "/auth/mfa/totp/confirm",
        Some(&aal1.1),
        serde_json::json!({"code": secret.code_at(now - 30)}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, challenge) = post("/auth/login", None, aal1.0.clone()).await;
    assert_eq!(status, 403, "{challenge}");
    let (status, tokens) = post(
        "/auth/mfa/verify",
        None,
        serde_json::json!({"mfa_token": challenge["mfa_token"], "code": secret.code_at(now)}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    (aal1.1, tokens["access_token"].as_str().unwrap().to_owned())
}

/// Registers and logs in a fresh account: its credentials and access token.
async fn access_token_with(
    gatehouse: &str,
    client: &reqwest::Client,
) -> (serde_json::Value, String) {
    let email = format!("{}@example.com", rand_name());
    let credentials = serde_json::json!({"email": email, "password": "YourStrongPassw0rd!"});
    client
        .post(format!("{gatehouse}/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    let tokens: serde_json::Value = client
        .post(format!("{gatehouse}/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        credentials,
        tokens["access_token"].as_str().unwrap().to_owned(),
    )
}

/// The token with one character in the middle of its payload changed.
pub fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let middle = parts[1].len() / 2;
    let flipped = if &parts[1][middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    parts[1].replace_range(middle..=middle, flipped);
    parts.join(".")
}

fn rand_name() -> String {
    format!(
        "t{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// `target/<profile>/examples/<name>`, built by `cargo test` before the tests run.
pub fn example_binary(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    deps.parent()
        .and_then(|dir| dir.parent())
        .unwrap()
        .join("examples")
        .join(name)
}
