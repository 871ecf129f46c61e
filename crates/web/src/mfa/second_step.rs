//! The login's second step. A right password for an account with a second factor opens a
//! challenge instead of a session: a single-use `mfa_token` (5 minutes; only its hash is
//! stored) that `POST /auth/mfa/verify` exchanges, with a TOTP or recovery code, for the
//! login's answer; or with a passkey, whose ceremony `POST /auth/mfa/passkey/options`
//! begins. Wrong codes and refused passkeys count toward the account's back-off, and the fifth kills
//! the token; a TOTP step is accepted once per account, a recovery code once.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use gatehouse_auth::{OneTimeToken, hash_one_time_token};
use gatehouse_domain::{
    Assurance, AuditContext, AuditEventType, AuthMethod, CeremonyPurpose, NewAuditEvent,
    SecondFactors, Session, User, parse_totp_code,
};
use gatehouse_mail::SecurityNotice;

use crate::{
    error::{ApiError, MfaToken, PASSKEY_FAILED, Problem},
    extract::{Audit, IpThrottled, JsonBody, TrustedOrigin},
    mfa::{
        dto::{MfaPasskeyOptionsIn, MfaVerifyIn, SecondFactorProof},
        unix_seconds, unseal,
    },
    openapi::responses::{DatabaseDown, JsonBodyRefused, NetworkLimited, PasswordLimited},
    operations::metrics::LoginOutcome,
    passkeys::{begin, dto::CeremonyOut, sign_in::verify_assertion, take},
    signin::{backoff::PasswordAttempt, dto::TokenOut, tokens::open_session, tokens_for},
    state::AppState,
};

/// How long an `mfa_token` lives.
const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Wrong codes that kill a challenge.
pub(crate) const MAX_WRONG_CODES: u32 = 5;
const INVALID_CODE: &str = "Invalid code";
const INVALID_MFA_TOKEN: &str = "Invalid or expired MFA token";

/// The first step (`first`: the password, or another provider) was right and `user` has
/// `factors`: opens a challenge, records `mfa.challenged`, and returns the 403 that carries
/// its token.
pub(crate) async fn challenge(
    state: &AppState,
    user: &User,
    first: AuthMethod,
    factors: SecondFactors,
    context: &AuditContext,
) -> Result<ApiError, ApiError> {
    let token = OneTimeToken::generate();
    let now = Utc::now();
    let event = NewAuditEvent::new(AuditEventType::MfaChallenged, Some(user.id), context, now);
    state
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
    Ok(ApiError::SecondFactorRequired {
        mfa_token: MfaToken(token.secret),
        methods: factors.methods(),
    })
}

/// Options for a login's second step with a passkey: the `mfa_token` from the 403 gives
/// a ceremony that allows that account's passkeys. Then `POST /auth/mfa/verify` with
/// `challenge_id` and `credential`.
#[utoipa::path(
    post,
    path = "/auth/mfa/passkey/options",
    tag = "mfa",
    request_body = MfaPasskeyOptionsIn,
    responses(
        (status = 200, description = "For `navigator.credentials.get()`", body = CeremonyOut),
        JsonBodyRefused,
        NetworkLimited,
        DatabaseDown,
        (status = 401, description = "`Invalid or expired MFA token`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`No passkey registered` (the account's second factor is TOTP only)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `mfa_token`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn passkey_options(
    _: IpThrottled,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<MfaPasskeyOptionsIn>,
) -> Result<HttpResponse, ApiError> {
    let token = body.token()?;
    let challenge = state
        .mfa
        .live_challenge(&hash_one_time_token(&token), Utc::now(), MAX_WRONG_CODES)
        .await?
        .ok_or_else(|| ApiError::invalid_token(INVALID_MFA_TOKEN))?;
    let stored = state.passkeys.credentials_of(challenge.user_id).await?;
    if stored.is_empty() {
        return Err(ApiError::Conflict("No passkey registered"));
    }
    let ceremony = state.webauthn.start_second_step(&stored)?;
    begin(
        &state,
        CeremonyPurpose::SecondStep,
        Some(challenge.user_id),
        ceremony,
    )
    .await
}

/// Finish a login with its second factor: the `mfa_token` from the 403 and a TOTP code or
/// a recovery code. Answers as `/auth/login` does, with `aal2` tokens.
#[utoipa::path(
    post,
    path = "/auth/mfa/verify",
    tag = "mfa",
    request_body = MfaVerifyIn,
    responses(
        (status = 200, description = "Logged in", body = TokenOut),
        JsonBodyRefused,
        PasswordLimited,
        DatabaseDown,
        (status = 400, description = "`Invalid or expired challenge` (a passkey's ceremony: unknown, used, expired, or another account's)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`Invalid code` (wrong, replayed or malformed), `Passkey verification failed`, or `Invalid or expired MFA token` (unknown, used, expired, or dead after 5 wrong codes)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Inactive user`; or, in cookie mode, a browser request from another site", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `mfa_token`, or not exactly one of `code`, `recovery_code`, and `challenge_id` with `credential`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    _: TrustedOrigin,
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    JsonBody(body): JsonBody<MfaVerifyIn>,
) -> Result<HttpResponse, ApiError> {
    let session = finish_second_step(&state, &request, &context, body).await?;
    tokens_for(&state, &session)
}

/// Checks the second step's proof against its `mfa_token` and opens the `aal2` session.
pub(crate) async fn finish_second_step(
    state: &AppState,
    request: &HttpRequest,
    context: &AuditContext,
    body: MfaVerifyIn,
) -> Result<Session, ApiError> {
    let (token, proof) = body.parse()?;
    let now = Utc::now();
    let token_hash = hash_one_time_token(&token);
    let invalid_token = || ApiError::invalid_token(INVALID_MFA_TOKEN);
    let live = state
        .mfa
        .live_challenge(&token_hash, now, MAX_WRONG_CODES)
        .await?
        .ok_or_else(invalid_token)?;
    let user = state
        .users
        .find_by_id(live.user_id)
        .await?
        .ok_or_else(invalid_token)?;
    // A passkey's ceremony is taken first: one that is gone (used, expired, replaced by a
    // newer one) is not a guess, and counts against neither the challenge nor the back-off.
    let ceremony = match &proof {
        SecondFactorProof::Passkey { challenge, .. } => Some(
            take(
                state,
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
    let challenge = state
        .mfa
        .reserve_attempt(&token_hash, now, MAX_WRONG_CODES)
        .await?
        .filter(|reserved| reserved.id == live.id)
        .ok_or_else(invalid_token)?;
    // Codes are guessed like passwords: the same back-off holds them back, and counts
    // this one before it is judged too.
    let attempt = PasswordAttempt::begin(state, &user.email, request).await?;
    let event = |kind| NewAuditEvent::new(kind, Some(user.id), context, now);
    let method = match &proof {
        SecondFactorProof::Totp(_) => "totp",
        SecondFactorProof::RecoveryCode(_) => "recovery_code",
        SecondFactorProof::Passkey { .. } => "passkey",
    };
    let second = match &proof {
        SecondFactorProof::Passkey { .. } => AuthMethod::HardwareKey,
        _ => AuthMethod::OneTimeCode,
    };
    let accepted = match proof {
        SecondFactorProof::Passkey { credential, .. } => {
            // Taken above for every passkey proof.
            let ceremony = ceremony.unwrap_or_default();
            match verify_assertion(state, credential, &ceremony, Some(user.id)).await {
                Ok(_) => true,
                Err(refused) if matches!(refused.error, ApiError::Unauthorized { .. }) => false,
                Err(refused) => return Err(refused.error),
            }
        }
        SecondFactorProof::Totp(typed) => totp_accepted(state, &user, &typed, now).await?,
        SecondFactorProof::RecoveryCode(typed) => {
            let left = state
                .mfa
                .use_recovery_code(user.id, &state.sealer.recovery_code_hashes(&typed), now)
                .await?;
            if let Some(left) = left {
                let used = event(AuditEventType::RecoveryCodeUsed).with("left", left.to_string());
                state.audit.record(&used).await?;
                state
                    .account_mails
                    .notify(user.id, SecurityNotice::RecoveryCodeUsed { left });
            }
            left.is_some()
        }
    };
    if !accepted {
        state.metrics.record_login(LoginOutcome::InvalidCredentials);
        attempt.failed();
        let failed = event(AuditEventType::MfaFailed).with("method", method);
        state.audit.record(&failed).await?;
        return Err(match second {
            AuthMethod::HardwareKey => ApiError::Unauthorized {
                detail: PASSKEY_FAILED,
                token_rejected: false,
            },
            _ => ApiError::invalid_token(INVALID_CODE),
        });
    }
    // Exactly one request finishes a challenge, however many bring good codes at once.
    if !state.mfa.finish_challenge(challenge.id, now).await? {
        attempt.passed().await?;
        return Err(invalid_token());
    }
    if !user.is_active {
        attempt.passed().await?;
        return Err(ApiError::Forbidden("Inactive user"));
    }
    attempt.completed().await?;
    let succeeded = event(AuditEventType::MfaSucceeded).with("method", method);
    state.audit.record(&succeeded).await?;
    state.metrics.record_login(LoginOutcome::Success);
    let assurance = Assurance::first_and(challenge.first, second);
    open_session(state, &user, assurance, request, context).await
}

/// Whether `typed` is a code of `user`'s TOTP for now (± one step) whose step was not
/// accepted before; accepting it uses the step up.
async fn totp_accepted(
    state: &AppState,
    user: &User,
    typed: &str,
    now: chrono::DateTime<Utc>,
) -> Result<bool, ApiError> {
    let Some(stored) = state.mfa.totp(user.id).await?.filter(|totp| totp.confirmed) else {
        return Ok(false);
    };
    let secret = unseal(state, user.id, stored)?;
    let Some(step) =
        parse_totp_code(typed).and_then(|code| secret.matching_step(&code, unix_seconds(now)))
    else {
        return Ok(false);
    };
    Ok(state.mfa.accept_totp_step(user.id, step).await?)
}
