//! Extractors: what a route needs, declared in its signature.
//!
//! - [`JsonBody`] reads a JSON body within the size limit and turns every way it can be
//!   wrong into the right status: 415 (not JSON), 413 (too large), 400 (not parseable),
//!   422 (wrong shape, naming the field).
//! - [`RefreshToken`] and [`AnyToken`] are the raw token a request
//!   presents: the bearer header, or in cookie mode a cookie with its CSRF check.
//! - [`AuthenticatedUser`] is a verified access token whose user exists, is active, and
//!   whose session is still open; [`FreshUser`] also requires the token to come straight
//!   from a password login.
//! - [`IpThrottled`] spends one request of the client network's budget;
//!   [`TrustedOrigin`] refuses, in cookie mode, a browser's request from another site to a
//!   route that sets cookies from credentials (login CSRF; see [`crate::cookies`]).

mod origin;
mod requirements;

pub use origin::TrustedOrigin;
pub(crate) use origin::from_trusted_origin;
pub use requirements::{FreshUser, Superuser, SuperuserChange};
pub(crate) use requirements::{
    SIGN_IN_AGAIN, fresh_sign_in, require_account_assurance, require_verified_address,
};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    dev::Payload,
    http::header,
    web::{self, BytesMut},
};
use futures_util::{StreamExt, future::LocalBoxFuture};
use gatehouse_app::{Client, account::Caller};
use gatehouse_auth::AccessClaims;
use gatehouse_domain::{
    AuditContext, AuditEventType, NewAuditEvent, Session, SessionId, User, UserId,
};
use serde::de::DeserializeOwned;

use crate::{
    cookies::{CookieToken, TokenLocation, token_from_cookie},
    error::ApiError,
    rate_limit::client_network,
    state::{AppState, DEFAULT_MAX_BODY_BYTES},
};

/// A JSON request body deserialized into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(DEFAULT_MAX_BODY_BYTES, |state| state.options.max_body_bytes);
        let checked = check_json_content_type(req).and_then(|()| check_declared_length(req, limit));
        let mut payload = payload.take();
        Box::pin(async move {
            checked?;
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|_| ApiError::BadRequest("Could not read the request body".into()))?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(JsonBody)
        })
    }
}

fn check_json_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let mime = req
        .mime_type()
        .map_err(|_| ApiError::UnsupportedMediaType)?;
    match mime {
        Some(mime)
            if mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json")) =>
        {
            Ok(())
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

fn check_declared_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    match declared {
        Some(length) if length > limit => Err(ApiError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// Parses `body`, telling malformed JSON (400) from JSON of the wrong shape (422).
///
/// Bodies must be JSON objects: serde would otherwise accept a struct written as an
/// array of its fields, which no client means.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|err| {
        ApiError::BadRequest(format!("Malformed JSON: {}", without_position(&err)))
    })?;
    if !value.is_object() {
        return Err(ApiError::field("body", "expected a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::field(&field, without_position(err.inner()))
    })
}

/// serde_json's message without its " at line 1 column 7" suffix.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The refresh token a request presents: the `Authorization: Bearer` header when headers
/// are a token location (it wins over cookies), else the refresh cookie in cookie mode
/// (with the CSRF check for unsafe methods).
pub struct RefreshToken(pub String);

/// Either token (for logout): the bearer header, else the access cookie, else the
/// refresh cookie.
pub struct AnyToken(pub String);

macro_rules! redacted_debug {
    ($($name:ident),*) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    )*};
}
redacted_debug!(RefreshToken, AnyToken);

macro_rules! presented_token_extractor {
    ($name:ident, $cookies:expr) => {
        impl FromRequest for $name {
            type Error = ApiError;
            type Future = std::future::Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                std::future::ready(presented_token(req, $cookies).map(Self))
            }
        }
    };
}
presented_token_extractor!(RefreshToken, &[CookieToken::Refresh]);
presented_token_extractor!(AnyToken, &[CookieToken::Access, CookieToken::Refresh]);

/// The token from the bearer header or, in cookie mode, from the first of `cookies` the
/// request carries.
fn presented_token(req: &HttpRequest, cookies: &[CookieToken]) -> Result<String, ApiError> {
    let location = req
        .app_data::<web::Data<AppState>>()
        .map_or(TokenLocation::HEADERS, |state| state.options.token_location);
    if location.headers {
        match bearer_token(req) {
            Some(Ok(token)) => return Ok(token),
            Some(Err(malformed)) if !location.cookies => return Err(malformed),
            _ => {}
        }
    }
    if location.cookies {
        for kind in cookies {
            if let Some(token) = token_from_cookie(req, *kind)? {
                return Ok(token);
            }
        }
    }
    Err(ApiError::not_authenticated())
}

/// The token of an `Authorization: Bearer <token>` header: `None` without the header,
/// an error when it is not a bearer token.
fn bearer_token(req: &HttpRequest) -> Option<Result<String, ApiError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|value| value.trim().split_once(' '))
        .map(|(scheme, token)| (scheme, token.trim()))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .map(|(_, token)| token.to_owned());
    Some(parsed.ok_or_else(ApiError::not_authenticated))
}

/// The caller, proven by a valid access token of an open session, with an active account.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    /// The account.
    pub user: User,
    /// The session the token belongs to. It may come from the session cache, where its
    /// refresh bookkeeping (last use, generations) can be behind the database.
    pub session: Session,
    /// The verified claims.
    pub claims: AccessClaims,
}

impl AuthenticatedUser {
    /// `context` with this caller as the actor (an administrator acting on another
    /// account, or on the service's settings).
    pub(crate) fn as_actor(&self, context: AuditContext) -> AuditContext {
        AuditContext {
            actor_id: Some(self.user.id),
            ..context
        }
    }

    /// The caller as the account flows take it: the account and the acting session.
    pub(crate) fn caller(&self) -> Caller<'_> {
        Caller {
            user: &self.user,
            session: self.session.id,
        }
    }
}

impl FromRequest for AuthenticatedUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = presented_token(req, &[CookieToken::Access]);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            authenticate(&state, &token?).await
        })
    }
}

/// A token's session (if it exists and belongs to the token's user) and its account
/// (401 `User not found` if it does not exist), for checking an access token: in one
/// round trip, or none when the session cache answers.
async fn cached_session_and_account(
    state: &AppState,
    session_id: SessionId,
    user_id: UserId,
) -> Result<(Option<Session>, User), ApiError> {
    let found = state.sessions.find_with_user_cached(session_id).await?;
    account_of(state, found, user_id).await
}

/// The account of a session lookup's answer: the session's own, or — when the lookup found
/// nothing, or another user's session — the token's user looked up alone, to tell a
/// deleted account (401 `User not found`) from an ended session.
pub(crate) async fn account_of(
    state: &AppState,
    found: Option<(Session, Option<User>)>,
    user_id: UserId,
) -> Result<(Option<Session>, User), ApiError> {
    match found {
        Some((session, Some(user))) if session.user_id == user_id => Ok((Some(session), user)),
        _ => {
            let user = state
                .users
                .find_by_id(user_id)
                .await?
                .ok_or(ApiError::invalid_token("User not found"))?;
            Ok((None, user))
        }
    }
}

async fn authenticate(state: &AppState, token: &str) -> Result<AuthenticatedUser, ApiError> {
    authenticate_claims(state, state.jwt.verify_access(token)?).await
}

/// The account of an access token used as a handle on its session (the pages' browser
/// session): expired or not, the session itself must be open.
pub(crate) async fn authenticate_session_handle(
    state: &AppState,
    token: &str,
) -> Result<AuthenticatedUser, ApiError> {
    authenticate_claims(state, state.jwt.verify_session_handle(token)?).await
}

async fn authenticate_claims(
    state: &AppState,
    claims: gatehouse_auth::AccessClaims,
) -> Result<AuthenticatedUser, ApiError> {
    let (session, user) =
        cached_session_and_account(state, claims.session_id, claims.user_id).await?;
    let session = session
        .filter(|session| session.is_active_at(chrono::Utc::now()))
        .ok_or(ApiError::invalid_token("Session has ended"))?;
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    if !user.is_active {
        return Err(ApiError::Forbidden("Inactive user"));
    }
    Ok(AuthenticatedUser {
        user,
        session,
        claims,
    })
}

/// A route spends one request of the client IP's budget before it runs: 429 with
/// `Retry-After` when the budget is gone. Put it first in the handler's signature.
#[derive(Debug)]
pub struct IpThrottled;

impl FromRequest for IpThrottled {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let network = state.as_ref().and_then(|state| {
            let options = &state.options.rate_limits;
            options
                .enabled
                .then(|| client_network(req, &options.trusted_proxies))
                .flatten()
        });
        let req = req.clone();
        Box::pin(async move {
            let (Some(state), Some(network)) = (state, network) else {
                return Ok(Self);
            };
            let Err(wait) = state.ip_limiter.check(network).await else {
                return Ok(Self);
            };
            if state.ip_limiter.records_refusal(network) {
                let event = NewAuditEvent::new(
                    AuditEventType::RateLimited,
                    None,
                    &audit_context(&req),
                    chrono::Utc::now(),
                )
                .with("limit", "per_ip")
                .with("route", req.match_pattern().unwrap_or_default());
                // Not awaited: a refusal is answered at once, even when the database is slow.
                let audit = state.audit.clone();
                actix_web::rt::spawn(async move {
                    if let Err(error) = audit.record(&event).await {
                        tracing::warn!(error = %crate::error::error_chain(&error), "rate_limited event not recorded");
                    }
                });
            }
            Err(ApiError::rate_limited(wait))
        })
    }
}

/// Where the request comes from, for the audit events it causes: the client's address
/// (behind trusted proxies, the forwarded one), its `User-Agent` and the request id.
#[derive(Debug, Clone)]
pub struct Audit(pub AuditContext);

impl FromRequest for Audit {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self(audit_context(req))))
    }
}

/// The client a flow serves ([`Client`]): what audit events record of the request, and
/// the client's network (the unit of the password back-off), behind `TRUSTED_PROXIES`.
pub struct ClientContext(pub Client);

impl FromRequest for ClientContext {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self(client_of(req))))
    }
}

/// What [`ClientContext`] extracts.
pub(crate) fn client_of(req: &HttpRequest) -> Client {
    let proxies = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.options.rate_limits.trusted_proxies.as_slice())
        .unwrap_or_default();
    Client {
        audit: audit_context(req),
        network: crate::rate_limit::client_network(req, proxies),
    }
}

/// What [`Audit`] extracts, for a handler that needs it only on some paths (building it
/// costs a few allocations a request).
pub(crate) fn audit_context(req: &HttpRequest) -> AuditContext {
    let proxies = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.options.rate_limits.trusted_proxies.as_slice())
        .unwrap_or_default();
    AuditContext {
        actor_id: None,
        ip: crate::rate_limit::client_ip(req, proxies).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        request_id: req
            .extensions()
            .get::<crate::middleware::RequestId>()
            .map(|id| id.0.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[allow(dead_code)]
        email: String,
    }

    fn status(result: Result<Body, ApiError>) -> u16 {
        use actix_web::ResponseError;
        result.unwrap_err().status_code().as_u16()
    }

    #[test]
    fn malformed_json_is_400_and_wrong_shape_is_422() {
        assert_eq!(status(parse_json(b"{")), 400);
        assert_eq!(status(parse_json(b"")), 400);
        assert_eq!(status(parse_json(b"{} trailing")), 400);
        assert_eq!(status(parse_json(b"[1]")), 422);
        assert_eq!(status(parse_json(br#"["a@b.c"]"#)), 422);
        assert_eq!(status(parse_json(br#"{"email": 5}"#)), 422);
        assert!(parse_json::<Body>(br#"{"email": "a@b.c", "extra": 1}"#).is_ok());
    }

    #[test]
    fn wrong_types_name_the_field() {
        match parse_json::<Body>(br#"{"email": 5}"#) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors[0].field, "email");
                assert!(!errors[0].message.contains("line"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
