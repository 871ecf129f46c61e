//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): whom an `id_token_hint`
//! names, and where the browser may go afterwards — only to a post-logout redirect URI
//! the client registered, string for string.

use gatehouse_domain::{ClientId, SessionId, UserId};

use super::signer;
use crate::error::AppError;
use crate::services::Services;

/// A logout request's parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogoutRequest<'a> {
    /// An ID token this server issued (expired or not).
    pub id_token_hint: Option<&'a str>,
    /// The client, when the hint does not name it.
    pub client_id: Option<&'a str>,
    /// Where to go afterwards.
    pub post_logout_redirect_uri: Option<&'a str>,
}

/// What the request proves and allows.
#[derive(Debug, Clone, Default)]
pub struct LogoutPlan {
    /// The account and browser session the hint was issued for, when it is valid.
    pub hinted: Option<(UserId, SessionId)>,
    /// The registered post-logout redirect URI to follow afterwards, if any.
    pub redirect: Option<String>,
}

/// Reads `request`: a hint that does not verify, or names another client than
/// `client_id`, proves nothing; a redirect URI the client did not register is dropped.
pub async fn logout_plan(
    services: &Services,
    request: LogoutRequest<'_>,
) -> Result<LogoutPlan, AppError> {
    let hint = request.id_token_hint.and_then(|token| {
        signer(services)
            .ok()
            .and_then(|signer| signer.verify_id_token_hint(token).ok())
    });
    let named = request.client_id.map(str::to_owned);
    let (hint, client) = match (hint, named) {
        (Some(hint), Some(named)) if hint.aud != named => (None, None),
        (Some(hint), _) => {
            let client = hint.aud.clone();
            (Some(hint), Some(client))
        }
        (None, named) => (None, named),
    };
    let hinted = hint.and_then(|hint| {
        let user = UserId::parse(&hint.sub)?;
        let session = SessionId::parse(hint.sid.as_deref()?)?;
        Some((user, session))
    });
    let mut redirect = None;
    if let (Some(uri), Some(client)) = (
        request.post_logout_redirect_uri,
        client.as_deref().and_then(ClientId::parse),
    ) {
        let registered = services.oauth_clients.find(&client).await?;
        redirect = registered
            .filter(|stored| {
                stored
                    .client
                    .settings
                    .post_logout_redirect_uris
                    .iter()
                    .any(|registered| registered.as_str() == uri)
            })
            .map(|_| uri.to_owned());
    }
    Ok(LogoutPlan { hinted, redirect })
}
