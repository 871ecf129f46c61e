//! Every way in: a password ([`password`]) and its second step ([`second_step`]), a
//! passkey ([`passkey`]), another provider (`crate::federation`). Each proves who the
//! client is, then passes the one [`admit`] gate, then either opens a session or, for an
//! account with a second factor, a challenge.

use chrono::Utc;
use gatehouse_domain::{
    Assurance, AuditEventType, NewAuditEvent, NewSession, Session, SessionId, User, UserId,
};

use crate::client::Client;
use crate::error::AppError;
use crate::logins::LoginOutcome;
use crate::refusals::SignInError;
use crate::services::Services;

pub mod backoff;
pub mod passkey;
pub mod password;
pub mod second_step;

pub use passkey::passkey_sign_in;
pub use password::{Grant, password_matches, password_sign_in, register};
pub use second_step::{SecondFactorProof, finish_second_step};

/// How a proof that held ends.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: the session just opened.
    Session(Session),
    /// The account has a second factor: it is still to come.
    SecondStep(SecondStep),
}

/// A second step to take: the challenge's single-use token and what may answer it.
pub struct SecondStep {
    /// What finishes the sign-in (`mfa_token`); only its hash is stored.
    pub mfa_token: String,
    /// What the second step accepts, a subset of `totp`, `passkey`, `recovery_code`.
    pub methods: Vec<&'static str>,
}

impl std::fmt::Debug for SecondStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondStep")
            .field("mfa_token", &"[REDACTED]")
            .field("methods", &self.methods)
            .finish()
    }
}

impl SecondStep {
    /// Whether a passkey may answer it.
    pub fn offers_passkey(&self) -> bool {
        self.methods.contains(&"passkey")
    }
}

/// The gate every way in passes once its proof held: an inactive account is refused, then
/// (when sign-ins need it) one whose address nobody proved; each refusal is counted and
/// recorded as `login.failed` with its reason.
pub async fn admit(services: &Services, client: &Client, user: &User) -> Result<(), SignInError> {
    let (refusal, outcome, reason) = if !user.is_active {
        (SignInError::Inactive, LoginOutcome::Inactive, "inactive")
    } else if services.policy.require_verified_email && !user.is_verified {
        (
            SignInError::Unverified,
            LoginOutcome::Unverified,
            "unverified",
        )
    } else {
        return Ok(());
    };
    services.logins.record(outcome);
    record_failed_login(services, client, Some(user.id), reason).await?;
    Err(refusal)
}

/// Records a failed login: `reason` is `unknown_email`, `wrong_password`, `inactive`,
/// `unverified`, `backoff`, a passkey's or a provider's. Nothing the client typed is
/// stored: an unknown address may be a password typed into the wrong field.
pub async fn record_failed_login(
    services: &Services,
    client: &Client,
    user_id: Option<UserId>,
    reason: &str,
) -> Result<(), AppError> {
    let event = NewAuditEvent::new(
        AuditEventType::LoginFailed,
        user_id,
        &client.audit,
        Utc::now(),
    )
    .with("reason", reason);
    services.audit.record(&event).await?;
    Ok(())
}

/// Opens a session for `user` and records its `login.succeeded` (with the `provider`
/// that vouched, when one did), in one transaction.
pub async fn open_session(
    services: &Services,
    client: &Client,
    user: &User,
    assurance: Assurance,
    provider: Option<&str>,
) -> Result<Session, AppError> {
    let now = Utc::now();
    let session = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        created_at: now,
        expires_at: now + services.jwt.refresh_ttl(),
        user_agent: client.session_agent(),
        ip: client.audit.ip.clone(),
        assurance,
    };
    let mut event = NewAuditEvent::new(
        AuditEventType::LoginSucceeded,
        Some(user.id),
        &client.audit,
        now,
    );
    if let Some(provider) = provider {
        event = event.with("provider", provider);
    }
    Ok(services.sessions.create_recorded(session, event).await?)
}
