//! A sign-in's second step. A proof that held for an account with a second factor opens
//! a challenge instead of a session: a single-use `mfa_token` (5 minutes; only its hash is
//! stored) that a TOTP code, a recovery code or a passkey exchanges for the session. Wrong
//! codes and refused passkeys count toward the account's back-off, and the fifth kills the
//! token; a TOTP step is accepted once per account, a recovery code once.

use chrono::{DateTime, Duration, Utc};
use gatehouse_auth::SealedSecret;
use gatehouse_auth::{OneTimeToken, TotpSecret, hash_one_time_token};
use gatehouse_domain::{
    Assurance, AuditEventType, AuthMethod, CeremonyId, CeremonyPurpose, NewAuditEvent,
    SecondFactors, User, UserId, parse_totp_code,
};
use gatehouse_mail::SecurityNotice;
use gatehouse_persistence::StoredTotp;

use super::{SecondStep, SignIn, admit, backoff::PasswordAttempt, open_session};
use crate::client::Client;
use crate::error::AppError;
use crate::logins::LoginOutcome;
use crate::passkeys::{take_ceremony, verify_assertion};
use crate::refusals::SignInError;
use crate::services::Services;

/// How long an `mfa_token` lives.
const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Wrong codes that kill a challenge.
pub const MAX_WRONG_CODES: u32 = 5;

/// What the second step was given.
pub enum SecondFactorProof {
    /// A TOTP code as typed.
    Totp(String),
    /// A recovery code as typed.
    RecoveryCode(String),
    /// A passkey's assertion for a ceremony (`None`: an id that is no id).
    Passkey {
        /// The ceremony it answers.
        challenge: Option<CeremonyId>,
        /// The credential as the browser wrote it.
        credential: serde_json::Value,
    },
}

impl SecondFactorProof {
    /// The `method` its audit events name.
    fn method(&self) -> &'static str {
        match self {
            Self::Totp(_) => "totp",
            Self::RecoveryCode(_) => "recovery_code",
            Self::Passkey { .. } => "passkey",
        }
    }
}

/// The first step (`first`: the password, or another provider) held and `user` has
/// `factors`: opens a challenge and records `mfa.challenged`.
pub(crate) async fn challenge(
    services: &Services,
    client: &Client,
    user: &User,
    first: AuthMethod,
    factors: SecondFactors,
) -> Result<SecondStep, AppError> {
    let token = OneTimeToken::generate();
    let now = Utc::now();
    let event = NewAuditEvent::new(
        AuditEventType::MfaChallenged,
        Some(user.id),
        &client.audit,
        now,
    );
    services
        .mfa
        .open_challenge(
            user.id,
            first,
            &token.hash,
            now + CHALLENGE_TTL,
            now,
            &event,
        )
        .await?;
    Ok(SecondStep {
        mfa_token: token.secret,
        methods: factors.methods(),
    })
}

/// The account of live challenge `mfa_token`, if it is one.
pub async fn challenged_account(
    services: &Services,
    mfa_token: &str,
) -> Result<Option<UserId>, AppError> {
    Ok(services
        .mfa
        .live_challenge(&hash_one_time_token(mfa_token), Utc::now(), MAX_WRONG_CODES)
        .await?
        .map(|challenge| challenge.user_id))
}

/// Checks the second step's `proof` against challenge `mfa_token`, admits the account,
/// and opens the session (`aal2`).
pub async fn finish_second_step(
    services: &Services,
    client: &Client,
    mfa_token: &str,
    proof: SecondFactorProof,
) -> Result<SignIn, SignInError> {
    let now = Utc::now();
    let token_hash = hash_one_time_token(mfa_token);
    let live = services
        .mfa
        .live_challenge(&token_hash, now, MAX_WRONG_CODES)
        .await?
        .ok_or(SignInError::InvalidMfaToken)?;
    let user = services
        .users
        .find_by_id(live.user_id)
        .await?
        .ok_or(SignInError::InvalidMfaToken)?;
    // A passkey's ceremony is taken first: one that is gone (used, expired, replaced by a
    // newer one) is not a guess, and counts against neither the challenge nor the back-off.
    let ceremony = match &proof {
        SecondFactorProof::Passkey { challenge, .. } => Some(
            take_ceremony(
                services,
                *challenge,
                CeremonyPurpose::SecondStep,
                Some(user.id),
            )
            .await?,
        ),
        _ => None,
    };
    // The challenge counts this code before it is judged: of any number of concurrent
    // codes, at most its allowed failures are judged; the rest find it dead.
    let challenge = services
        .mfa
        .reserve_attempt(&token_hash, now, MAX_WRONG_CODES)
        .await?
        .filter(|reserved| reserved.id == live.id)
        .ok_or(SignInError::InvalidMfaToken)?;
    // Codes are guessed like passwords: the same back-off holds them back, and counts
    // this one before it is judged too.
    let attempt = PasswordAttempt::begin(services, &user.email, client).await?;
    let event = |kind| NewAuditEvent::new(kind, Some(user.id), &client.audit, now);
    let method = proof.method();
    let (second, refusal) = match &proof {
        SecondFactorProof::Passkey { .. } => (AuthMethod::HardwareKey, SignInError::PasskeyFailed),
        _ => (AuthMethod::OneTimeCode, SignInError::InvalidCode),
    };
    let accepted = match proof {
        SecondFactorProof::Passkey { credential, .. } => {
            // Taken above for every passkey proof.
            let ceremony = ceremony.unwrap_or_default();
            match verify_assertion(services, credential, &ceremony, Some(user.id)).await {
                Ok(_) => true,
                Err(refused) if matches!(refused.error, SignInError::PasskeyFailed) => false,
                Err(refused) => return Err(refused.error),
            }
        }
        SecondFactorProof::Totp(typed) => totp_accepted(services, &user, &typed, now).await?,
        SecondFactorProof::RecoveryCode(typed) => {
            let left = services
                .mfa
                .use_recovery_code(user.id, &services.sealer.recovery_code_hashes(&typed), now)
                .await?;
            if let Some(left) = left {
                let used = event(AuditEventType::RecoveryCodeUsed).with("left", left.to_string());
                services.audit.record(&used).await?;
                services
                    .account_mails
                    .notify(user.id, SecurityNotice::RecoveryCodeUsed { left });
            }
            left.is_some()
        }
    };
    if !accepted {
        services.logins.record(LoginOutcome::InvalidCredentials);
        attempt.failed();
        let failed = event(AuditEventType::MfaFailed).with("method", method);
        services.audit.record(&failed).await?;
        return Err(refusal);
    }
    // Exactly one request finishes a challenge, however many bring good codes at once.
    if !services.mfa.finish_challenge(challenge.id, now).await? {
        attempt.passed().await?;
        return Err(SignInError::InvalidMfaToken);
    }
    if let Err(refused) = admit(services, client, &user).await {
        attempt.passed().await?;
        return Err(refused);
    }
    attempt.completed().await?;
    let succeeded = event(AuditEventType::MfaSucceeded).with("method", method);
    services.audit.record(&succeeded).await?;
    services.logins.record(LoginOutcome::Success);
    let assurance = Assurance::first_and(challenge.first, second);
    let session = open_session(services, client, &user, assurance, None).await?;
    Ok(SignIn::Session(session))
}

/// Whether `typed` is a code of `user`'s TOTP for now (± one step) whose step was not
/// accepted before; accepting it uses the step up.
async fn totp_accepted(
    services: &Services,
    user: &User,
    typed: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(stored) = services
        .mfa
        .totp(user.id)
        .await?
        .filter(|totp| totp.confirmed)
    else {
        return Ok(false);
    };
    let secret = unseal(services, user.id, stored)?;
    let Some(step) =
        parse_totp_code(typed).and_then(|code| secret.matching_step(&code, unix_seconds(now)))
    else {
        return Ok(false);
    };
    Ok(services.mfa.accept_totp_step(user.id, step).await?)
}

/// `owner`'s stored TOTP secret, opened.
pub fn unseal(
    services: &Services,
    owner: UserId,
    stored: StoredTotp,
) -> Result<TotpSecret, AppError> {
    let sealed = SealedSecret {
        key_id: stored.key_id,
        sealed: stored.sealed_secret,
    };
    Ok(services.sealer.open(owner, &sealed)?)
}

/// Seconds since the epoch (0 before it, which no clock here shows).
pub fn unix_seconds(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp()).unwrap_or_default()
}
