//! "This wasn't me": the link in the mail that tells the owner a way in was added (an
//! authenticator app, a passkey, an identity). A stolen password alone could otherwise
//! plant a factor that outlives the owner's reset and locks the owner out. Opening the link
//! spends nothing; securing the account removes that way in, clears the password, ends
//! every session and pending second step, and hands back a reset token for a new password.

use chrono::Utc;
use gatehouse_auth::{OneTimeToken, hash_one_time_token};
use gatehouse_domain::{AuditContext, AuditEventType, NewAuditEvent, OneTimePurpose, WayIn};
use gatehouse_persistence::LiveToken;

use crate::{error::ApiError, state::AppState};

const INVALID_TOKEN: &str = "Invalid or expired token";

/// The way in a live "this wasn't me" `token` undoes; 400 `Invalid or expired token` for
/// any other token. Spends nothing.
pub(crate) async fn way_of_link(state: &AppState, token: &str) -> Result<WayIn, ApiError> {
    live_link(state, token).await.map(|(_, way)| way)
}

/// Spends `token` and secures its account: the way in it names goes, the password is
/// cleared, every session and pending second step ends. Answers that way in and a fresh
/// reset token, so the owner sets a new password at once (as a reset does).
pub(crate) async fn secure_with_link(
    state: &AppState,
    context: &AuditContext,
    token: &str,
) -> Result<(WayIn, String), ApiError> {
    let (live, way) = live_link(state, token).await?;
    let now = Utc::now();
    if !state.one_time_tokens.consume(&live, now).await? {
        return Err(invalid());
    }
    let event_type = match way {
        WayIn::Totp => AuditEventType::TotpDisabled,
        WayIn::Passkey(_) => AuditEventType::PasskeyRemoved,
        WayIn::Identity(_) => AuditEventType::IdentityRemoved,
    };
    let event = NewAuditEvent::new(event_type, Some(live.user_id), context, now)
        .with("way_in", way.subject());
    state
        .users
        .undo_way_in(live.user_id, way, now, &event)
        .await?;
    let reset = OneTimeToken::generate();
    state
        .one_time_tokens
        .issue(
            live.user_id,
            OneTimePurpose::PasswordReset,
            &reset.hash,
            now + state.options.accounts.reset_ttl,
            now,
        )
        .await?;
    tracing::warn!(user = %live.user_id, way = %way.subject(), "the owner secured the account: a way in was not theirs");
    Ok((way, reset.secret))
}

async fn live_link(state: &AppState, token: &str) -> Result<(LiveToken, WayIn), ApiError> {
    let live = state
        .one_time_tokens
        .find_live(
            OneTimePurpose::NotMe,
            &hash_one_time_token(token),
            Utc::now(),
        )
        .await?
        .ok_or_else(invalid)?;
    let way = live
        .subject
        .as_deref()
        .and_then(WayIn::parse)
        .ok_or_else(invalid)?;
    Ok((live, way))
}

fn invalid() -> ApiError {
    ApiError::BadRequest(INVALID_TOKEN.into())
}
