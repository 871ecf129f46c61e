use std::{collections::HashMap, path::PathBuf};

use gatehouse::{Application, Settings};
use gatehouse_auth::{JwtCodec, JwtConfig, SigningKey};
use gatehouse_domain::{Email, NewUser, PasswordHash, UserId};
use gatehouse_persistence::{
    DatabaseConfig, DatabaseConnection, SessionRepository, UserRepository, connect,
};
use reqwest::{Response, StatusCode, header};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::skips::{Needs, skipped};

pub const TEST_SECRET: &str = "integration-test-secret-of-at-least-32-bytes";
/// 32 bytes, base64: `MFA_ENCRYPTION_KEY` for tests that run in production mode.
pub const TEST_MFA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const PASSWORD: &str = "YourStrongPassw0rd!";
/// A second password that meets the rules, for changes and resets.
pub const NEW_PASSWORD: &str = "An0ther-Strong-One";
/// The `detail` of every token of an ended session.
pub const SESSION_ENDED: &str = "Session has ended";

/// Generates one test per database backend for each listed `async fn name(Backend)`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(backend) = $crate::helpers::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(backend) = $crate::helpers::Backend::mysql() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}

/// Which database a test runs against.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// Admin URL of a Postgres server (a fresh database is made on it per test).
    Postgres(String),
    /// Admin URL of a MySQL/MariaDB server.
    MySql(String),
}

impl Backend {
    pub fn postgres() -> Option<Self> {
        configured("GATEHOUSE_TEST_POSTGRES_URL", Needs::Postgres).map(Self::Postgres)
    }

    pub fn mysql() -> Option<Self> {
        configured("GATEHOUSE_TEST_MYSQL_URL", Needs::MariaDb).map(Self::MySql)
    }
}

/// The Redis for tests of the shared rate-limit store: `GATEHOUSE_TEST_REDIS_URL`
/// (`redis://127.0.0.1:6379/` in CI). Unset, those tests do nothing (and say so).
pub fn test_redis_url() -> Option<String> {
    configured("GATEHOUSE_TEST_REDIS_URL", Needs::Redis)
}

/// The variable's value; unset or blank, the caller's test is skipped (see `skips.rs`).
fn configured(variable: &'static str, needs: Needs) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            skipped(needs);
            None
        }
    }
}

/// A database made for one test and removed when the test ends.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Drop { admin_url: String, name: String },
}

impl TestDatabase {
    /// A fresh, empty database on `backend`, dropped when this value is.
    pub async fn create(backend: &Backend) -> Self {
        let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("gatehouse-tests");
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(format!("{name}.db"));
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: Cleanup::File(path),
                }
            }
            Backend::Postgres(admin_url) | Backend::MySql(admin_url) => {
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .unwrap_or_else(|e| {
                        panic!("test database server unreachable at {admin_url}: {e}")
                    });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                Self {
                    url: with_database(admin_url, &name),
                    cleanup: Cleanup::Drop {
                        admin_url: admin_url.clone(),
                        name,
                    },
                }
            }
        }
    }
}

/// `scheme://user@host:port/admin_db?x` → `scheme://user@host:port/name?x`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (scheme, rest) = admin_url.split_once("://").unwrap();
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Drop { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside async context: use a private runtime on its own thread.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async move {
                        let admin = Database::connect(admin_url.as_str()).await.unwrap();
                        let force = if admin_url.starts_with("postgres") {
                            " WITH (FORCE)"
                        } else {
                            ""
                        };
                        let _ = admin
                            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}{force}"))
                            .await;
                    });
                })
                .join();
            }
        }
    }
}

/// A running server with its own database, and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    /// Where the app's mails land (`MAIL_TRANSPORT=file:…`), one `.eml` file each.
    pub mail_dir: PathBuf,
    /// The metrics listener's base URL, when `METRICS_ADDR` is set.
    pub metrics_address: Option<String>,
    _database: TestDatabase,
}

/// Cheap argon2 so the suite stays fast; tests about hash parameters override these.
const TEST_DEFAULTS: &[(&str, &str)] = &[
    ("APP_PORT", "0"),
    ("APP_WORKERS", "1"),
    ("JWT_SECRET_KEY", TEST_SECRET),
    ("ARGON2_MEMORY_KIB", "1024"),
    ("ARGON2_ITERATIONS", "1"),
    ("ARGON2_PARALLELISM", "1"),
    ("HASHING_CONCURRENCY", "4"),
    ("DATABASE_MAX_CONNECTIONS", "8"),
    // One connection opened at start, as before the pool warmed up: the suite starts
    // hundreds of apps (`pool_warms_up` tests the default, all of them).
    ("DATABASE_MIN_CONNECTIONS", "1"),
    ("LOG_FORMAT", "text"),
    // Tests log in far more often than people do; the rate-limit tests turn it back on.
    ("RATE_LIMIT_ENABLED", "false"),
    // Housekeeping at start raced the tests that purge by hand and count what went (an
    // expired row could be gone before the test's own purge ran); they call it themselves.
    ("PURGE_INTERVAL_MIN", "0"),
];

/// A migrated database with no server in front, for repository-level tests.
pub async fn migrated_database(backend: Backend) -> (DatabaseConnection, TestDatabase) {
    use migration::{Migrator, MigratorTrait};
    let database = TestDatabase::create(&backend).await;
    let db = connect(DatabaseConfig {
        url: database.url.clone(),
        max_connections: 8,
        min_connections: 0,
        acquire_timeout: std::time::Duration::from_secs(5),
    })
    .await
    .unwrap();
    Migrator::up(&db, None).await.unwrap();
    (db, database)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

pub async fn spawn_app_with(backend: Backend, overrides: &[(&str, &str)]) -> TestApp {
    gatehouse::telemetry::init(gatehouse::settings::LogFormat::Text, false);
    let database = TestDatabase::create(&backend).await;
    let mut environment: HashMap<String, String> = TEST_DEFAULTS
        .iter()
        .chain(overrides)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    environment.insert("DATABASE_URL".into(), database.url.clone());
    let mail_dir = std::env::temp_dir()
        .join("gatehouse-test-mails")
        .join(uuid::Uuid::new_v4().simple().to_string());
    environment
        .entry("MAIL_TRANSPORT".into())
        .or_insert_with(|| format!("file:{}", mail_dir.display()));
    let settings = Settings::from_layers(HashMap::new(), environment).expect("test settings");
    let application = Application::build(settings.clone())
        .await
        .expect("app starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    let metrics_address = application
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(application.run_until_stopped());
    let db = connect(DatabaseConfig {
        max_connections: 2,
        ..settings.database.clone()
    })
    .await
    .unwrap();
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        mail_dir,
        metrics_address,
        _database: database,
    }
}

/// A server on `database_url` (migrated at start), configured like a test app with
/// `overrides`: its address, or why it did not start.
pub async fn start_instance(
    database_url: &str,
    overrides: &[(&str, &str)],
) -> Result<String, String> {
    let mut environment: HashMap<String, String> = TEST_DEFAULTS
        .iter()
        .chain(overrides)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    environment.insert("DATABASE_URL".into(), database_url.to_owned());
    environment.insert("MAIL_TRANSPORT".into(), "log".into());
    let settings = Settings::from_layers(HashMap::new(), environment).map_err(|e| e.to_string())?;
    let application = Application::build(settings)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    Ok(address)
}

/// The tokens of a successful login.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub fn from_json(body: &Value) -> Self {
        Self {
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        }
    }
}

impl TestApp {
    /// Removes the app's database from under it (Postgres only: `DROP … WITH (FORCE)` also
    /// ends the pool's open connections), to see how the app behaves in an outage.
    pub async fn drop_database_under_the_app(&self) {
        let Cleanup::Drop { admin_url, name } = &self._database.cleanup else {
            panic!("only for server databases");
        };
        let admin = Database::connect(admin_url.as_str()).await.unwrap();
        admin
            .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
    }

    /// Moves the time the session's newest refresh generation was issued `seconds` into
    /// the past, so a test can step past the reuse grace period without sleeping.
    pub async fn backdate_rotation(&self, session: gatehouse_domain::SessionId, seconds: i64) {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        let rotated_at = chrono::Utc::now() - chrono::Duration::seconds(seconds);
        let statement = Query::update()
            .table(Alias::new("sessions"))
            .value(Alias::new("rotated_at"), rotated_at)
            .and_where(Expr::col(Alias::new("id")).eq(session.as_uuid()))
            .to_owned();
        let done = self.db.execute(&statement).await.unwrap();
        assert_eq!(done.rows_affected(), 1);
    }

    /// The session id (`sid`) of one of the app's tokens.
    pub fn session_of(&self, refresh_token: &str) -> gatehouse_domain::SessionId {
        self.codec()
            .verify_refresh(refresh_token)
            .unwrap()
            .session_id
    }

    /// The mails sent to `to` so far (RFC 5322 text, in no particular order).
    /// The mails to `to` that carry a token (reset, verification).
    pub fn mails_to(&self, to: &str) -> Vec<String> {
        self.all_mails_to(to)
            .into_iter()
            .filter(|text| carries_token(text))
            .collect()
    }

    /// The security notices to `to` (mails without a token).
    pub fn notices_to(&self, to: &str) -> Vec<String> {
        self.all_mails_to(to)
            .into_iter()
            .filter(|text| !carries_token(text))
            .collect()
    }

    /// Waits (up to 10 s) until a notice to `to` whose text contains `subject` arrived.
    pub async fn wait_for_notice(&self, to: &str, subject: &str) -> String {
        for _ in 0..200 {
            if let Some(notice) = self
                .notices_to(to)
                .into_iter()
                .find(|text| text.contains(subject))
            {
                return notice;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no notice {subject:?} to {to} in 10 s: {:#?}",
            self.notices_to(to)
        );
    }

    fn all_mails_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .filter(|text| {
                text.lines()
                    .any(|line| line.starts_with("To:") && line.contains(to))
            })
            .collect()
    }

    /// Waits (up to 10 s) until `count` mails to `to` have arrived; returns them.
    pub async fn wait_for_mails(&self, to: &str, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let mails = self.mails_to(to);
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{count} mail(s) to {to} did not arrive in 10 s");
    }

    /// The app's own database, for running the binary's commands against it.
    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    /// Another instance of the server on this app's database, configured like a test app
    /// with `overrides`: its address, or why it did not start.
    pub async fn another_instance(&self, overrides: &[(&str, &str)]) -> Result<String, String> {
        start_instance(self.database_url(), overrides).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .post(self.url(path))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `method path` with `token` as Bearer and `body` as JSON.
    pub async fn bearer(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Turns TOTP on for the account of `access` (a fresh token; aal2 once the account has
    /// a factor), confirming with the previous step's code so that the current one is
    /// still unused: the authenticator.
    pub async fn enrol_totp(&self, access: &str) -> gatehouse_auth::TotpSecret {
        self.verify_holder(access).await;
        let setup: Value = self
            .bearer(reqwest::Method::POST, "/auth/mfa/totp/setup", access, None)
            .await
            .json()
            .await
            .unwrap();
        let secret =
            gatehouse_auth::TotpSecret::from_base32(setup["secret"].as_str().unwrap()).unwrap();
        let now = clear_of_a_step_end().await;
        let confirmed = self
            .bearer(
                reqwest::Method::POST,
                "/auth/mfa/totp/confirm",
                access,
                Some(json!({"code": secret.code_at(now - 30)})),
            )
            .await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        secret
    }

    /// Marks verified the address of the account whose token this is, as its owner's
    /// click on the verification mail would: only such an account may add a way in.
    pub async fn verify_holder(&self, token: &str) {
        let payload = token.split('.').nth(1).expect("a JWT");
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .expect("base64url"),
        )
        .expect("JSON claims");
        let id = user_id(claims["sub"].as_str().expect("sub"));
        self.users()
            .set_verified(id, true, chrono::Utc::now())
            .await
            .unwrap();
    }

    /// Marks `email`'s address verified, as its owner's click on the verification mail
    /// would.
    pub async fn verify_address(&self, email: &str) {
        mark_verified(&self.users(), email).await;
    }

    /// A password login of an account with a second factor: the `mfa_token`.
    pub async fn first_step(&self, email: &str) -> String {
        let response = self.login(email, PASSWORD).await;
        let body = assert_problem(response, 403, Some("Second factor required")).await;
        body["mfa_token"].as_str().unwrap().to_owned()
    }

    /// `/auth/mfa/verify` with `mfa_token` and `proof` (a code, a recovery code, or a
    /// passkey's `challenge_id` and `credential`).
    pub async fn second_step(&self, mfa_token: &str, proof: Value) -> Response {
        let mut body = proof;
        body["mfa_token"] = json!(mfa_token);
        self.post_json("/auth/mfa/verify", &body).await
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/auth/register",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// `/auth/token` with `form`: the OAuth2 password grant.
    pub async fn token_grant(&self, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url("/auth/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// `/auth/token` with these credentials.
    pub async fn token(&self, email: &str, password: &str) -> Response {
        self.token_grant(&[("username", email), ("password", password)])
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.client
            .post(self.url("/auth/refresh"))
            .bearer_auth(refresh_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn me(&self, access_token: &str) -> Response {
        self.client
            .get(self.url("/users/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// Registers a fresh account; returns its email and id.
    pub async fn registered_user(&self) -> (String, String) {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self.register(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        (email, body["id"].as_str().unwrap().to_owned())
    }

    /// Registers and logs in a fresh account.
    pub async fn logged_in_user(&self) -> (String, String, Tokens) {
        let (email, id) = self.registered_user().await;
        let response = self.login(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let tokens = Tokens::from_json(&response.json().await.unwrap());
        (email, id, tokens)
    }

    pub fn users(&self) -> UserRepository {
        UserRepository::new(self.db.clone())
    }

    pub fn sessions(&self) -> SessionRepository {
        SessionRepository::new(self.db.clone())
    }

    /// Stores an account directly with a given hash (e.g. one made by Python).
    pub async fn insert_user_with_hash(&self, email: &str, hash: &str) -> UserId {
        let user = NewUser::new(Email::parse(email).unwrap(), PasswordHash::new(hash));
        let id = user.id;
        self.users().create(user, chrono::Utc::now()).await.unwrap();
        id
    }

    /// A codec with the server's secret, for minting tokens the server will trust.
    pub fn codec(&self) -> JwtCodec {
        JwtCodec::new(JwtConfig::new(SigningKey::hs256(TEST_SECRET.as_bytes()))).unwrap()
    }
}

/// Marks `email`'s address verified in the database at `database_url` (for servers run
/// as processes).
pub async fn verify_address_in(database_url: &str, email: &str) {
    let db = connect(DatabaseConfig {
        url: database_url.to_owned(),
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: std::time::Duration::from_secs(5),
    })
    .await
    .unwrap();
    mark_verified(&UserRepository::new(db), email).await;
}

async fn mark_verified(users: &UserRepository, email: &str) {
    let user = users
        .find_by_email(&Email::parse(email).unwrap())
        .await
        .unwrap()
        .expect("the account exists");
    users
        .set_verified(user.id, true, chrono::Utc::now())
        .await
        .unwrap();
}

pub fn user_id(raw: &str) -> UserId {
    UserId::parse(raw).unwrap()
}

/// Asserts a problem document with `status` (and `detail`, when given); returns the body.
pub async fn assert_problem(response: Response, status: u16, detail: Option<&str>) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert!(
        response.headers().contains_key("x-request-id"),
        "x-request-id header"
    );
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string());
    assert!(body["detail"].is_string());
    if let Some(detail) = detail {
        assert_eq!(body["detail"], detail, "{body}");
    }
    body
}

/// Asserts a 401 with a Bearer challenge; `rejected` expects `error="invalid_token"`.
pub async fn assert_unauthorized(
    response: Response,
    rejected: bool,
    detail: Option<&str>,
) -> Value {
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    if rejected {
        assert_eq!(challenge, r#"Bearer error="invalid_token""#);
    } else {
        assert_eq!(challenge, "Bearer");
    }
    assert_problem(response, 401, detail).await
}

/// Asserts the 401 a token of an ended session gets: `Session has ended`.
pub async fn assert_session_ended(response: Response) -> Value {
    assert_unauthorized(response, true, Some(SESSION_ENDED)).await
}

/// The field names of a 422 problem's `errors`.
pub fn error_fields(body: &Value) -> Vec<String> {
    let mut fields: Vec<String> = body["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    fields.sort();
    fields
}

/// The `Token: …` line of a mail (quoted-printable soft breaks undone).
/// A reset or verification mail (a security notice may carry a token too: the "this
/// wasn't me" link's).
fn carries_token(mail: &str) -> bool {
    let text = mail.replace("=\r\n", "").replace("=\n", "");
    text.contains("/reset-password?token=") || text.contains("/verify?token=")
}

pub fn token_in(mail: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("=\n", "");
    text.lines()
        .find_map(|line| line.strip_prefix("Token: "))
        .expect("a Token: line")
        .trim()
        .to_owned()
}

/// A TCP relay in front of a service (Redis, Postgres) that a test can cut: to the server
/// behind it, an outage of that service.
pub struct CuttableRelay {
    pub address: std::net::SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CuttableRelay {
    pub async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections: std::sync::Arc<std::sync::Mutex<Vec<_>>> = std::sync::Arc::default();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let delay_ms = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let tracked = std::sync::Arc::clone(&connections);
        let held = std::sync::Arc::clone(&frozen);
        let slowed = std::sync::Arc::clone(&delay_ms);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let held = std::sync::Arc::clone(&held);
                let slowed = std::sync::Arc::clone(&slowed);
                let relay = tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(upstream).await {
                        let (client_in, client_out) = client.into_split();
                        let (server_in, server_out) = server.into_split();
                        tokio::join!(
                            pump(client_in, server_out, &held, &slowed),
                            pump(server_in, client_out, &held, &slowed)
                        );
                    }
                });
                tracked.lock().unwrap().push(relay);
            }
        });
        Self {
            address,
            accept,
            connections,
            frozen,
            delay_ms,
        }
    }

    /// Delays every byte by `latency` in each direction from now on: a slow network link.
    pub fn slow_down(&self, latency: std::time::Duration) {
        let millis = u64::try_from(latency.as_millis()).unwrap();
        self.delay_ms
            .store(millis, std::sync::atomic::Ordering::SeqCst);
    }

    /// Closes every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.accept.abort();
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Stops passing bytes on, without closing anything: a network that silently drops
    /// everything, which neither side notices until a timeout.
    pub fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, passing each chunk on `delay` milliseconds after it was read
/// (in order), and holding what it reads while `frozen`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: &std::sync::atomic::AtomicBool,
    delay: &std::sync::atomic::AtomicU64,
) {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (chunks, mut pending) = tokio::sync::mpsc::unbounded_channel();
    let reading = async move {
        let mut buffer = vec![0; 16 * 1024];
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let due =
                tokio::time::Instant::now() + std::time::Duration::from_millis(delay.load(SeqCst));
            if chunks.send((due, buffer[..read].to_vec())).is_err() {
                return;
            }
        }
    };
    let writing = async move {
        while let Some((due, chunk)) = pending.recv().await {
            tokio::time::sleep_until(due).await;
            while frozen.load(SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(reading, writing);
}

/// The `/metrics` text of the server at `base`.
pub async fn metrics_text(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the unlabelled metric `name` of the server at `base`, `None` when it is
/// not exported (so a missing gauge never reads as 0).
pub async fn metric(client: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    metrics_text(client, base).await.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Now, in seconds, at least 4 seconds before the current 30-second TOTP step ends
/// (waiting out the step's last seconds when needed): a code of the step before is then
/// still within the server's one-step window when the request arrives. Enrolment confirms
/// with that code, so the second step's "now" code is a step not used yet.
pub async fn clear_of_a_step_end() -> u64 {
    let now = || u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let into_step = now() % 30;
    if into_step >= 26 {
        tokio::time::sleep(std::time::Duration::from_secs(30 - into_step)).await;
    }
    now()
}
