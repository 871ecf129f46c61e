//! The sign-in flows without HTTP, against a real (in-memory SQLite) database: every way
//! in, and every way it ends.

use std::time::Duration;

use chrono::Utc;
use gatehouse_app::{
    AccountOptions, Client, LoginCounter, LoginOutcome, Services, SignIn, SignInError,
    federation::{ProviderReturn, account_for, finish_federation},
    signin::{Grant, SecondFactorProof, finish_second_step, passkey_sign_in, password_sign_in},
};
use gatehouse_auth::{
    HasherConfig, JwtCodec, JwtConfig, MfaKey, PasskeyConfig, Passkeys, PasswordHasher,
    SecretSealer, SigningKey, TotpSecret, VerifiedIdentity,
};
use gatehouse_domain::{
    Aal, AuditContext, AuditEventType, Email, NewAuditEvent, NewUser, Password, SessionId, User,
};
use gatehouse_mail::{MailConfig, MailTransport, Mailer};
use gatehouse_persistence::{AuditFilter, BackoffThresholds, DatabaseConfig, SessionCache};
use migration::{Migrator, MigratorTrait};

const PASSWORD: &str = "correct horse battery";

/// How a test's services are set up.
#[derive(Clone, Copy, Default)]
struct Policy {
    require_verified_email: bool,
    backoff: Option<BackoffThresholds>,
}

async fn services(policy: Policy) -> Services {
    let db = gatehouse_persistence::connect(DatabaseConfig {
        url: "sqlite::memory:".into(),
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(5),
    })
    .await
    .expect("in-memory SQLite");
    Migrator::up(&db, None).await.expect("migrations");
    let hasher = PasswordHasher::new(HasherConfig {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
        max_concurrent: 2,
        max_wait: Duration::from_secs(10),
    })
    .expect("hasher");
    let jwt = JwtCodec::new(JwtConfig::new(SigningKey::hs256(
        b"a test secret of at least thirty-two bytes",
    )))
    .expect("codec");
    let mailer = Mailer::start(MailConfig {
        transport: MailTransport::Log,
        from: "gatehouse@example.com".into(),
        queue_capacity: 16,
    })
    .expect("mailer");
    let webauthn = Passkeys::new(&PasskeyConfig {
        rp_id: "localhost".into(),
        rp_name: "Gatehouse".into(),
        origins: vec!["http://localhost:8000".into()],
    })
    .expect("relying party");
    let accounts = AccountOptions {
        require_verified_email: policy.require_verified_email,
        ..AccountOptions::default()
    };
    Services::new(
        db,
        SessionCache::off(),
        hasher,
        jwt,
        mailer,
        SecretSealer::new(MfaKey::new([7; 32])),
        webauthn,
        accounts,
        policy.backoff,
        LoginCounter::new("test").expect("counter"),
    )
}

fn client() -> Client {
    Client {
        audit: AuditContext {
            ip: Some("192.0.2.7".into()),
            user_agent: Some("flows test".into()),
            ..AuditContext::default()
        },
        network: None,
    }
}

fn email(address: &str) -> Email {
    Email::parse(address).expect("an address")
}

fn password(text: &str) -> Password {
    Password::presented(text)
}

/// An account with [`PASSWORD`], verified or not.
async fn account(services: &Services, address: &str, verified: bool) -> User {
    let hash = services
        .hasher
        .hash(password(PASSWORD))
        .await
        .expect("hash");
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::UserRegistered, None, &client().audit, now);
    let user = services
        .users
        .create_recorded(NewUser::new(email(address), hash), now, event)
        .await
        .expect("account");
    if verified {
        let event = NewAuditEvent::new(
            AuditEventType::EmailVerified,
            Some(user.id),
            &client().audit,
            now,
        );
        services
            .users
            .verify_recorded(user.id, now, &event)
            .await
            .expect("verified");
    }
    services
        .users
        .find_by_id(user.id)
        .await
        .expect("read")
        .expect("stored")
}

/// Turns TOTP on for `user`: the secret, to make codes with.
async fn with_totp(services: &Services, user: &User) -> TotpSecret {
    let secret = TotpSecret::generate();
    let sealed = services.sealer.seal(user.id, &secret);
    let now = Utc::now();
    services
        .mfa
        .start_totp_setup(user.id, &sealed.key_id, &sealed.sealed, now)
        .await
        .expect("setup");
    let event = NewAuditEvent::new(
        AuditEventType::TotpEnabled,
        Some(user.id),
        &client().audit,
        now,
    );
    services
        .mfa
        .confirm_totp(user.id, 1, &[], SessionId::new(), now, &event)
        .await
        .expect("confirmed")
        .expect("a setup in progress");
    secret
}

fn code_now(secret: &TotpSecret) -> String {
    secret.code_at(u64::try_from(Utc::now().timestamp()).expect("after 1970"))
}

async fn sign_in(
    services: &Services,
    address: &str,
    typed: &str,
    grant: Grant,
) -> Result<SignIn, SignInError> {
    password_sign_in(services, &client(), &email(address), password(typed), grant).await
}

/// The `reason` of every `login.failed` recorded, oldest first.
async fn failure_reasons(services: &Services) -> Vec<String> {
    let filter = AuditFilter {
        event_type: Some(AuditEventType::LoginFailed),
        ..AuditFilter::default()
    };
    let (events, _) = services
        .audit
        .list(&filter, None, 100)
        .await
        .expect("audit");
    events
        .into_iter()
        .rev()
        .map(|event| {
            event
                .event
                .details
                .get("reason")
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn the_right_password_opens_a_password_session() {
    let services = services(Policy::default()).await;
    let user = account(&services, "ada@example.com", false).await;
    let outcome = sign_in(&services, "ada@example.com", PASSWORD, Grant::Login).await;
    let Ok(SignIn::Session(session)) = outcome else {
        panic!("expected a session, got {outcome:?}");
    };
    assert_eq!(session.user_id, user.id);
    assert_eq!(session.assurance.aal(), Aal::Aal1);
    assert_eq!(session.user_agent.as_deref(), Some("flows test"));
    assert_eq!(services.logins.count(LoginOutcome::Success), 1);
    assert!(
        services
            .sessions
            .find(session.id)
            .await
            .expect("read")
            .is_some()
    );
}

#[tokio::test]
async fn an_unknown_address_and_a_wrong_password_are_the_same_refusal() {
    let services = services(Policy::default()).await;
    account(&services, "ada@example.com", false).await;
    for (address, typed) in [
        ("nobody@example.com", PASSWORD),
        ("ada@example.com", "wrong horse battery"),
    ] {
        let outcome = sign_in(&services, address, typed, Grant::Login).await;
        assert!(
            matches!(outcome, Err(SignInError::InvalidCredentials)),
            "{outcome:?}"
        );
    }
    assert_eq!(services.logins.count(LoginOutcome::InvalidCredentials), 2);
    assert_eq!(
        failure_reasons(&services).await,
        ["unknown_email", "wrong_password"]
    );
}

#[tokio::test]
async fn an_inactive_account_is_refused_after_its_right_password() {
    let services = services(Policy::default()).await;
    let user = account(&services, "ada@example.com", true).await;
    services
        .users
        .set_active(user.id, false, Utc::now())
        .await
        .expect("deactivated");
    let outcome = sign_in(&services, "ada@example.com", PASSWORD, Grant::Login).await;
    assert!(matches!(outcome, Err(SignInError::Inactive)), "{outcome:?}");
    assert_eq!(services.logins.count(LoginOutcome::Inactive), 1);
    assert_eq!(failure_reasons(&services).await, ["inactive"]);
}

#[tokio::test]
async fn an_unproved_address_is_refused_only_when_the_policy_says_so() {
    let strict = services(Policy {
        require_verified_email: true,
        ..Policy::default()
    })
    .await;
    account(&strict, "ada@example.com", false).await;
    let outcome = sign_in(&strict, "ada@example.com", PASSWORD, Grant::Login).await;
    assert!(
        matches!(outcome, Err(SignInError::Unverified)),
        "{outcome:?}"
    );
    assert_eq!(strict.logins.count(LoginOutcome::Unverified), 1);

    let lenient = services(Policy::default()).await;
    account(&lenient, "ada@example.com", false).await;
    let outcome = sign_in(&lenient, "ada@example.com", PASSWORD, Grant::Login).await;
    assert!(matches!(outcome, Ok(SignIn::Session(_))), "{outcome:?}");
}

#[tokio::test]
async fn a_backed_off_address_refuses_even_the_right_password() {
    let services = services(Policy {
        backoff: Some(BackoffThresholds {
            per_network: 2,
            account_wide: 10,
        }),
        ..Policy::default()
    })
    .await;
    account(&services, "ada@example.com", false).await;
    for _ in 0..2 {
        let outcome = sign_in(
            &services,
            "ada@example.com",
            "wrong horse battery",
            Grant::Login,
        )
        .await;
        assert!(
            matches!(outcome, Err(SignInError::InvalidCredentials)),
            "{outcome:?}"
        );
    }
    let outcome = sign_in(&services, "ada@example.com", PASSWORD, Grant::Login).await;
    let Err(SignInError::BackedOff { retry_after }) = outcome else {
        panic!("expected a back-off, got {outcome:?}");
    };
    assert!(retry_after > Duration::ZERO);
    assert_eq!(services.logins.count(LoginOutcome::Throttled), 1);
    assert_eq!(
        failure_reasons(&services).await,
        ["wrong_password", "wrong_password", "backoff"]
    );
}

#[tokio::test]
async fn a_second_factor_turns_the_password_into_a_challenge() {
    let services = services(Policy::default()).await;
    let user = account(&services, "ada@example.com", true).await;
    with_totp(&services, &user).await;
    let outcome = sign_in(&services, "ada@example.com", PASSWORD, Grant::Login).await;
    let Ok(SignIn::SecondStep(step)) = outcome else {
        panic!("expected a second step, got {outcome:?}");
    };
    // (No recovery codes were stored with this authenticator.)
    assert_eq!(step.methods, ["totp"]);
    assert!(!step.offers_passkey());
    assert_eq!(services.logins.count(LoginOutcome::Success), 0);
    // `/auth/token` has no second step: the same account is refused there.
    let outcome = sign_in(&services, "ada@example.com", PASSWORD, Grant::Token).await;
    assert!(
        matches!(outcome, Err(SignInError::SecondStepUnsupported)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_second_step_opens_an_aal2_session_once() {
    let services = services(Policy::default()).await;
    let user = account(&services, "ada@example.com", true).await;
    let secret = with_totp(&services, &user).await;
    let Ok(SignIn::SecondStep(step)) =
        sign_in(&services, "ada@example.com", PASSWORD, Grant::Login).await
    else {
        panic!("expected a second step");
    };
    let wrong = finish_second_step(
        &services,
        &client(),
        &step.mfa_token,
        SecondFactorProof::Totp("000000".into()),
    )
    .await;
    // (A wrong code that happens to be right is one chance in a million.)
    assert!(matches!(wrong, Err(SignInError::InvalidCode)), "{wrong:?}");
    let proof = SecondFactorProof::Totp(code_now(&secret));
    let outcome = finish_second_step(&services, &client(), &step.mfa_token, proof).await;
    let Ok(SignIn::Session(session)) = outcome else {
        panic!("expected a session, got {outcome:?}");
    };
    assert_eq!(session.assurance.aal(), Aal::Aal2);
    assert_eq!(services.logins.count(LoginOutcome::Success), 1);
    let again = finish_second_step(
        &services,
        &client(),
        &step.mfa_token,
        SecondFactorProof::Totp(code_now(&secret)),
    )
    .await;
    assert!(
        matches!(again, Err(SignInError::InvalidMfaToken)),
        "{again:?}"
    );
}

#[tokio::test]
async fn an_unknown_mfa_token_is_refused() {
    let services = services(Policy::default()).await;
    let outcome = finish_second_step(
        &services,
        &client(),
        "no such token",
        SecondFactorProof::Totp("123456".into()),
    )
    .await;
    assert!(
        matches!(outcome, Err(SignInError::InvalidMfaToken)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_second_step_passes_the_same_gate_as_the_first() {
    let services = services(Policy::default()).await;
    let user = account(&services, "ada@example.com", true).await;
    let secret = with_totp(&services, &user).await;
    let Ok(SignIn::SecondStep(step)) =
        sign_in(&services, "ada@example.com", PASSWORD, Grant::Login).await
    else {
        panic!("expected a second step");
    };
    // Deactivated between the two steps.
    services
        .users
        .set_active(user.id, false, Utc::now())
        .await
        .expect("deactivated");
    let proof = SecondFactorProof::Totp(code_now(&secret));
    let outcome = finish_second_step(&services, &client(), &step.mfa_token, proof).await;
    assert!(matches!(outcome, Err(SignInError::Inactive)), "{outcome:?}");
    assert_eq!(services.logins.count(LoginOutcome::Inactive), 1);
    assert_eq!(failure_reasons(&services).await, ["inactive"]);
}

#[tokio::test]
async fn a_passkey_sign_in_needs_a_live_ceremony() {
    let services = services(Policy::default()).await;
    let credential = serde_json::json!({"id": "x"});
    let outcome = passkey_sign_in(&services, &client(), None, credential.clone()).await;
    assert!(
        matches!(outcome, Err(SignInError::InvalidCeremony)),
        "{outcome:?}"
    );
    let ceremony = services.webauthn.start_discoverable().expect("options");
    let (id, _) = gatehouse_app::passkeys::open_ceremony(
        &services,
        gatehouse_domain::CeremonyPurpose::SignIn,
        None,
        ceremony,
    )
    .await
    .expect("stored");
    let outcome = passkey_sign_in(&services, &client(), Some(id), credential.clone()).await;
    assert!(
        matches!(outcome, Err(SignInError::MalformedCredential(_))),
        "{outcome:?}"
    );
    // The ceremony was taken by that try: it serves once.
    let outcome = passkey_sign_in(&services, &client(), Some(id), credential).await;
    assert!(
        matches!(outcome, Err(SignInError::InvalidCeremony)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_return_from_an_unknown_provider_signs_nobody_in() {
    let services = services(Policy::default()).await;
    let returned = ProviderReturn {
        state: Some("state"),
        code: Some("code"),
        ..ProviderReturn::default()
    };
    let outcome = finish_federation(&services, &client(), "corp", returned).await;
    assert!(
        matches!(outcome, Err(SignInError::UnknownProvider)),
        "{outcome:?}"
    );
}

fn identity(subject: &str, address: &str, email_verified: bool) -> VerifiedIdentity {
    VerifiedIdentity {
        issuer: "https://id.example.com".into(),
        subject: subject.into(),
        email: Some(address.into()),
        email_verified,
    }
}

#[tokio::test]
async fn a_new_identity_with_a_new_address_creates_an_account_without_a_password() {
    let services = services(Policy::default()).await;
    let made = account_for(
        &services,
        &client(),
        "corp",
        &identity("1", "new@example.com", true),
    )
    .await
    .expect("an account");
    assert_eq!(made.email.as_str(), "new@example.com");
    assert!(made.is_verified);
    assert!(!made.password_hash.is_set());
    // The same identity comes back to the same account.
    let again = account_for(
        &services,
        &client(),
        "corp",
        &identity("1", "changed@example.com", true),
    )
    .await
    .expect("the account");
    assert_eq!(again.id, made.id);
}

#[tokio::test]
async fn an_identity_joins_an_account_only_when_both_vouch_for_the_address() {
    let services = services(Policy::default()).await;
    account(&services, "ada@example.com", false).await;
    let outcome = account_for(
        &services,
        &client(),
        "corp",
        &identity("1", "ada@example.com", true),
    )
    .await;
    assert!(
        matches!(outcome, Err(SignInError::AddressTaken)),
        "{outcome:?}"
    );
    let proved = account(&services, "bob@example.com", true).await;
    let outcome = account_for(
        &services,
        &client(),
        "corp",
        &identity("2", "bob@example.com", false),
    )
    .await;
    assert!(
        matches!(outcome, Err(SignInError::AddressTaken)),
        "{outcome:?}"
    );
    let joined = account_for(
        &services,
        &client(),
        "corp",
        &identity("3", "bob@example.com", true),
    )
    .await
    .expect("joined");
    assert_eq!(joined.id, proved.id);
    assert_eq!(
        failure_reasons(&services).await,
        ["identity_not_linked", "identity_not_linked"]
    );
    assert!(
        services
            .identities
            .find("https://id.example.com", "1")
            .await
            .expect("read")
            .is_none()
    );
}
