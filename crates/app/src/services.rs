//! What the flows stand on: the repositories, the hasher, the token codec, the sealer,
//! the WebAuthn relying party, the providers ([`Providers`]), the account mails and the
//! login counter.

use std::sync::Arc;

use gatehouse_auth::{
    JwtCodec, OidcProvider, Passkeys, PasswordHasher, ProviderTokens, SecretSealer, SigningKey,
};
use gatehouse_mail::Mailer;
use gatehouse_persistence::{
    AuditRepository, BackoffThresholds, DatabaseConnection, IdentityRepository,
    LoginThrottleRepository, MailCooldownRepository, MfaRepository, OauthClientRepository,
    OauthGrantRepository, OneTimeTokenRepository, PasskeyRepository, RoleRepository, SessionCache,
    SessionRepository, UserRepository,
};

use crate::logins::LoginCounter;
use crate::mails::{AccountMails, AccountOptions};

/// The rules every way in follows.
#[derive(Debug, Clone)]
pub struct SignInPolicy {
    /// Whether an account whose address is not verified is refused (`Email not verified`).
    pub require_verified_email: bool,
    /// The per-account back-off's thresholds; `None` when rate limits are off.
    pub backoff: Option<BackoffThresholds>,
}

/// What every flow shares. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// Accounts.
    pub users: UserRepository,
    /// Login sessions.
    pub sessions: SessionRepository,
    /// Single-use tokens of reset and verification mails.
    pub one_time_tokens: OneTimeTokenRepository,
    /// Prepares and sends account mails off the request path.
    pub account_mails: AccountMails,
    /// Failed logins per address, for the back-off.
    pub login_throttles: LoginThrottleRepository,
    /// The audit log.
    pub audit: AuditRepository,
    /// Second factors and logins waiting for their second step.
    pub mfa: MfaRepository,
    /// Seals and opens TOTP secrets (`MFA_ENCRYPTION_KEY`).
    pub sealer: SecretSealer,
    /// Passkeys and their unfinished ceremonies.
    pub passkeys: PasskeyRepository,
    /// The relying party's WebAuthn ceremonies (`WEBAUTHN_RP_ID`, `WEBAUTHN_ORIGINS`).
    pub webauthn: Passkeys,
    /// The apps gatehouse is the OpenID Provider for.
    pub oauth_clients: OauthClientRepository,
    /// What the OpenID Provider handed out: consents, codes, grants.
    pub oauth_grants: OauthGrantRepository,
    /// Roles and who holds them.
    pub roles: RoleRepository,
    /// Identities at other providers, and sign-ins sent to one.
    pub identities: IdentityRepository,
    /// The configured OpenID Providers (`OIDC_PROVIDERS`); none until
    /// [`with_providers`](Self::with_providers).
    pub providers: Providers,
    /// Argon2 on its own bounded threads.
    pub hasher: PasswordHasher,
    /// Token issue and verification.
    pub jwt: JwtCodec,
    /// The pool, for readiness checks.
    pub db: DatabaseConnection,
    /// Sign-in outcomes, counted.
    pub logins: LoginCounter,
    /// What signs gatehouse's tokens as an OpenID Provider for other apps; `None` when
    /// there is no key (the provider's routes are then not served). None until
    /// [`with_provider`](Self::with_provider).
    pub provider: Option<ProviderTokens>,
    /// The rules every way in follows.
    pub policy: SignInPolicy,
}

impl Services {
    /// Wires repositories over `db` (sharing `session_cache`, which they keep in step with
    /// their changes) with the hasher, codec, mailer and sealer, and starts the
    /// account-mail task (so: call it inside a Tokio runtime).
    #[allow(
        clippy::too_many_arguments,
        reason = "one value per service the flows stand on"
    )]
    pub fn new(
        db: DatabaseConnection,
        session_cache: SessionCache,
        hasher: PasswordHasher,
        jwt: JwtCodec,
        mailer: Mailer,
        sealer: SecretSealer,
        webauthn: Passkeys,
        accounts: AccountOptions,
        backoff: Option<BackoffThresholds>,
        logins: LoginCounter,
    ) -> Self {
        let users = UserRepository::new(db.clone()).with_session_cache(session_cache.clone());
        let one_time_tokens = OneTimeTokenRepository::new(db.clone());
        let audit = AuditRepository::new(db.clone());
        let policy = SignInPolicy {
            require_verified_email: accounts.require_verified_email,
            backoff,
        };
        let account_mails = AccountMails::start(
            users.clone(),
            one_time_tokens.clone(),
            MailCooldownRepository::new(db.clone()),
            audit.clone(),
            mailer,
            accounts,
        );
        Self {
            login_throttles: LoginThrottleRepository::new(db.clone()),
            audit,
            mfa: MfaRepository::new(db.clone()).with_session_cache(session_cache.clone()),
            sealer,
            passkeys: PasskeyRepository::new(db.clone()).with_session_cache(session_cache.clone()),
            webauthn,
            oauth_clients: OauthClientRepository::new(db.clone()),
            oauth_grants: OauthGrantRepository::new(db.clone()),
            roles: RoleRepository::new(db.clone()),
            identities: IdentityRepository::new(db.clone())
                .with_session_cache(session_cache.clone()),
            providers: Providers::default(),
            users,
            sessions: SessionRepository::new(db.clone()).with_session_cache(session_cache),
            one_time_tokens,
            account_mails,
            hasher,
            jwt,
            db,
            logins,
            policy,
            provider: None,
        }
    }

    /// The same services as the OpenID Provider `issuer` (`PUBLIC_URL` without a trailing
    /// slash), signing with `key` (asymmetric); its access tokens live as long as
    /// gatehouse's own.
    pub fn with_provider(
        self,
        key: Option<SigningKey>,
        issuer: &str,
    ) -> Result<Self, gatehouse_auth::AuthError> {
        let provider = key
            .map(|key| {
                ProviderTokens::new(
                    key,
                    issuer.trim_end_matches('/').to_owned(),
                    self.jwt.access_ttl(),
                )
            })
            .transpose()?;
        Ok(Self { provider, ..self })
    }

    /// The same services as an OpenID Provider whose tokens are signed with the keys of
    /// `ring` (managed keys: the ring gatehouse's own tokens use, rotating with them).
    pub fn with_provider_ring(
        self,
        ring: gatehouse_auth::KeyRing,
        issuer: &str,
    ) -> Result<Self, gatehouse_auth::AuthError> {
        let provider = ProviderTokens::on_ring(
            ring,
            issuer.trim_end_matches('/').to_owned(),
            self.jwt.access_ttl(),
        )?;
        Ok(Self {
            provider: Some(provider),
            ..self
        })
    }

    /// The same services with `providers` to sign in with.
    pub fn with_providers(self, providers: Providers) -> Self {
        Self { providers, ..self }
    }
}

/// The configured providers, in `OIDC_PROVIDERS` order.
#[derive(Clone, Default)]
pub struct Providers(Arc<Vec<OidcProvider>>);

impl Providers {
    /// These providers.
    pub fn new(providers: Vec<OidcProvider>) -> Self {
        Self(Arc::new(providers))
    }

    /// The provider named `name`.
    pub fn find(&self, name: &str) -> Option<&OidcProvider> {
        self.0
            .iter()
            .find(|provider| provider.config().name == name)
    }

    /// Every provider, in order.
    pub fn iter(&self) -> impl Iterator<Item = &OidcProvider> {
        self.0.iter()
    }
}
