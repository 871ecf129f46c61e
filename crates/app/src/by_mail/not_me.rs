//! "This wasn't me": the link in the mail that tells the owner a way in was added (an
//! authenticator app, a passkey, an identity). A stolen password alone could otherwise
//! plant a factor that outlives the owner's reset and locks the owner out. Opening the link
//! spends nothing; securing the account removes that way in, sets the new password the
//! owner typed, and ends every session and pending second step, in one step.

use chrono::Utc;
use gatehouse_auth::hash_one_time_token;
use gatehouse_domain::{
    AuditContext, AuditEventType, NewAuditEvent, OneTimePurpose, Password, User, WayIn,
};
use gatehouse_persistence::LiveToken;

use crate::{error::ApiError, state::AppState};

const INVALID_TOKEN: &str = "Invalid or expired token";

/// What securing the account did.
#[derive(Debug)]
pub(crate) struct Secured {
    /// The way in the link named.
    pub(crate) way: WayIn,
    /// Whether it was still there to remove.
    pub(crate) removed: bool,
    /// The ways in the account still has besides its password, as the owner should check
    /// them: e.g. "an authenticator app", "2 passkeys".
    pub(crate) remaining: Vec<String>,
}

/// The way in a live "this wasn't me" `token` of an active account undoes; 400 `Invalid
/// or expired token` for any other token. Spends nothing.
pub(crate) async fn way_of_link(state: &AppState, token: &str) -> Result<WayIn, ApiError> {
    live_link(state, token).await.map(|(_, _, way)| way)
}

/// Spends `token` and secures its account with `new_password` (the register rules,
/// checked before anything is spent): the way in it names goes, the password is replaced,
/// every session and pending second step ends, the account's back-offs are cleared.
pub(crate) async fn secure_with_link(
    state: &AppState,
    context: &AuditContext,
    token: &str,
    new_password: String,
) -> Result<Secured, ApiError> {
    let (live, user, way) = live_link(state, token).await?;
    let password = Password::parse_new(new_password, "new_password", Some(&user.email))?;
    let hash = state.hasher.hash(password).await?;
    let now = Utc::now();
    let event_type = match way {
        WayIn::Totp(_) => AuditEventType::TotpDisabled,
        WayIn::Passkey(_) => AuditEventType::PasskeyRemoved,
        WayIn::Identity(_) => AuditEventType::IdentityRemoved,
    };
    let event =
        NewAuditEvent::new(event_type, Some(user.id), context, now).with("way_in", way.subject());
    let removed = state
        .users
        .undo_way_in(&live, way, &hash, now, &event)
        .await?
        .ok_or_else(invalid)?;
    state.login_throttles.clear_account(&user.email).await?;
    tracing::warn!(user = %user.id, way = %way.subject(), removed, "the owner secured the account: a way in was not theirs");
    Ok(Secured {
        way,
        removed,
        remaining: remaining_ways_in(state, &user).await?,
    })
}

/// The account's ways in besides its password, in words.
async fn remaining_ways_in(state: &AppState, user: &User) -> Result<Vec<String>, ApiError> {
    let factors = state.mfa.factors(user.id).await?;
    let identities = state.identities.list(user.id).await?.len();
    let mut remaining = Vec::new();
    if factors.totp {
        remaining.push("an authenticator app".to_owned());
    }
    match factors.passkeys {
        0 => {}
        1 => remaining.push("a passkey".to_owned()),
        n => remaining.push(format!("{n} passkeys")),
    }
    match identities {
        0 => {}
        1 => remaining.push("a sign-in with another provider".to_owned()),
        n => remaining.push(format!("{n} sign-ins with other providers")),
    }
    if factors.recovery_codes_left > 0 {
        remaining.push(format!("{} recovery codes", factors.recovery_codes_left));
    }
    Ok(remaining)
}

async fn live_link(state: &AppState, token: &str) -> Result<(LiveToken, User, WayIn), ApiError> {
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
    // A deactivated account is the administrators' to secure.
    let user = state
        .users
        .find_by_id(live.user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(invalid)?;
    Ok((live, user, way))
}

fn invalid() -> ApiError {
    ApiError::BadRequest(INVALID_TOKEN.into())
}
