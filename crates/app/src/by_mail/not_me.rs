//! "This wasn't me": the link in the mail that tells the owner a way in was added (an
//! authenticator app, a passkey, an identity). A stolen password alone could otherwise
//! plant a factor that outlives the owner's reset and locks the owner out. Opening the link
//! spends nothing; securing the account removes that way in, sets the new password the
//! owner typed, and ends every session and pending second step, in one step.

use chrono::Utc;
use gatehouse_domain::{AuditEventType, NewAuditEvent, OneTimePurpose, Password, User, WayIn};
use gatehouse_persistence::LiveToken;

use super::{active_owner, live_token};
use crate::client::Client;
use crate::refusals::LinkError;
use crate::services::Services;

/// What securing the account did.
#[derive(Debug)]
pub struct Secured {
    /// The way in the link named.
    pub way: WayIn,
    /// Whether it was still there to remove.
    pub removed: bool,
    /// The ways in the account still has besides its password, as the owner should check
    /// them: e.g. "an authenticator app", "2 passkeys".
    pub remaining: Vec<String>,
}

/// The way in a live "this wasn't me" `token` of an active account undoes; refused for
/// any other token. Spends nothing.
pub async fn way_of_link(services: &Services, token: &str) -> Result<WayIn, LinkError> {
    live_link(services, token).await.map(|(_, _, way)| way)
}

/// Spends `token` and secures its account with `new_password` (the register rules,
/// checked before anything is spent): the way in it names goes, the password is replaced,
/// every session and pending second step ends, the account's back-offs are cleared.
pub async fn secure_with_link(
    services: &Services,
    client: &Client,
    token: &str,
    new_password: String,
) -> Result<Secured, LinkError> {
    let (live, user, way) = live_link(services, token).await?;
    let password = Password::parse_new(new_password, "new_password", Some(&user.email))?;
    let hash = services.hasher.hash(password).await?;
    let now = Utc::now();
    let event_type = match way {
        WayIn::Totp(_) => AuditEventType::TotpDisabled,
        WayIn::Passkey(_) => AuditEventType::PasskeyRemoved,
        WayIn::Identity(_) => AuditEventType::IdentityRemoved,
    };
    let event = NewAuditEvent::new(event_type, Some(user.id), &client.audit, now)
        .with("way_in", way.subject());
    let removed = services
        .users
        .undo_way_in(&live, way, &hash, now, &event)
        .await?
        .ok_or(LinkError::InvalidToken)?;
    services.login_throttles.clear_account(&user.email).await?;
    tracing::warn!(user = %user.id, way = %way.subject(), removed, "the owner secured the account: a way in was not theirs");
    Ok(Secured {
        way,
        removed,
        remaining: remaining_ways_in(services, &user).await?,
    })
}

/// The account's ways in besides its password, in words.
async fn remaining_ways_in(services: &Services, user: &User) -> Result<Vec<String>, LinkError> {
    let factors = services.mfa.factors(user.id).await?;
    let identities = services.identities.list(user.id).await?.len();
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

async fn live_link(
    services: &Services,
    token: &str,
) -> Result<(LiveToken, User, WayIn), LinkError> {
    let live = live_token(services, OneTimePurpose::NotMe, token).await?;
    let way = live
        .subject
        .as_deref()
        .and_then(WayIn::parse)
        .ok_or(LinkError::InvalidToken)?;
    let user = active_owner(services, &live).await?;
    Ok((live, user, way))
}
