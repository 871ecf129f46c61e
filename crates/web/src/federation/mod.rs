//! Signing in with another OpenID Provider: `start` sends the browser to the provider
//! (with `state`, `nonce` and PKCE), `callback` brings it back and signs in, `link` adds
//! the identity to the signed-in account ([`callback`]); the caller's identities
//! ([`identities`]); and the providers the login page offers.
//!
//! A sign-in sent to a provider is stored (any instance finishes it), found by the hash
//! of its `state`, lives 10 minutes, is taken once, and is bound to the browser that
//! started it by a cookie whose hash it keeps: a `state` (with its code) carried to
//! another browser finishes nothing.

pub mod callback;
pub mod dto;
pub mod identities;

pub use gatehouse_app::Providers;

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    http::header,
    web,
};
use chrono::{Duration, Utc};
use gatehouse_auth::{OneTimeToken, hash_one_time_token};
use gatehouse_domain::{SessionId, UserId};
use gatehouse_persistence::PendingFederation;
use serde::Deserialize;

use crate::{
    error::{ApiError, Problem},
    extract::{FreshUser, IpThrottled, SIGN_IN_AGAIN, fresh_sign_in, require_verified_address},
    federation::dto::ProviderOut,
    pages::{page_user, safe_return_to, second_factor::refusal},
    shared_responses::{DatabaseDown, NetworkLimited},
    state::AppState,
};

/// How long a sign-in may stay at the provider.
const PENDING_TTL: Duration = Duration::minutes(10);
/// The `detail` for an unknown provider name.
const UNKNOWN_PROVIDER: &str = "Unknown provider";

/// `?return_to=` of `start` and `link`.
#[derive(Debug, Deserialize)]
pub struct ReturnTo {
    #[serde(default)]
    return_to: String,
}

/// The browser cookie that binds a sign-in to the browser that started it: `__Host-`
/// prefixed over HTTPS.
pub(crate) fn binding_cookie_name(state: &AppState) -> &'static str {
    if state.options.cookie_secure {
        "__Host-gatehouse_oidc"
    } else {
        "gatehouse_oidc"
    }
}

/// The providers the login page offers.
#[utoipa::path(
    get,
    path = "/auth/providers",
    tag = "federation",
    responses((status = 200, description = "The configured providers, in order", body = [ProviderOut]))
)]
pub async fn providers(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(
        state
            .providers
            .iter()
            .map(|provider| ProviderOut {
                name: provider.config().name.clone(),
                label: provider.config().label.clone(),
            })
            .collect::<Vec<_>>(),
    )
}

/// Sends the browser to the provider to sign in; it comes back to `callback`, then goes to
/// `return_to` (a path here or a `CORS_ORIGINS` address; else `/account`).
#[utoipa::path(
    get,
    path = "/auth/oidc/{name}/start",
    tag = "federation",
    params(
        ("name" = String, Path, description = "A provider of `OIDC_PROVIDERS`"),
        ("return_to" = Option<String>, Query, description = "Where to go after signing in"),
    ),
    responses(
        (status = 302, description = "To the provider's authorization endpoint, with `state`, `nonce` and an S256 `code_challenge`; sets the browser-binding cookie"),
        NetworkLimited,
        DatabaseDown,
        (status = 404, description = "`Unknown provider`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider could not be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn start(
    _: IpThrottled,
    state: web::Data<AppState>,
    name: web::Path<String>,
    query: web::Query<ReturnTo>,
) -> Result<HttpResponse, ApiError> {
    send_to_provider(&state, &name, &query.return_to, None).await
}

/// As `start`, but the identity is linked to the caller's account instead of signing in
/// (a fresh sign-in of the last minutes, and its second factor if it has one). From a
/// page session, the browser must not come from another site.
#[utoipa::path(
    get,
    path = "/auth/oidc/{name}/link",
    tag = "federation",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "A provider of `OIDC_PROVIDERS`"),
        ("return_to" = Option<String>, Query, description = "Where to go after linking"),
    ),
    responses(
        (status = 302, description = "To the provider's authorization endpoint"),
        (status = 401, description = "No valid token or page session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Fresh token required`, `Stronger authentication required`, `Email not verified` (only a verified address may link an identity), or `Cross-site request refused` (from the cookie session: an `Origin` that is not trusted, or a navigation whose `Sec-Fetch-Site` is not `same-origin`; a Bearer header needs neither)", body = Problem, content_type = "application/problem+json"),
        NetworkLimited,
        (status = 404, description = "`Unknown provider`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn link(
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    bearer: Result<FreshUser, ApiError>,
    name: web::Path<String>,
    query: web::Query<ReturnTo>,
) -> Result<HttpResponse, ApiError> {
    // A cookie travels with a navigation from any site: another site's link must not link
    // whatever identity the browser holds at the provider to this account. A Bearer
    // header is never sent by a navigation, nor cross-site without CORS: a token that came
    // from one needs no such check. (A browser adds Basic or Negotiate headers by itself,
    // so only a Bearer token that was accepted counts; any other header falls to the
    // check, and a refused Bearer header never falls back to the cookies.)
    let bearer_header = state.options.token_location.headers && has_bearer_header(&request);
    let by_header = bearer_header && bearer.is_ok();
    if !by_header && !from_this_site(&request, &state.options.trusted_origins) {
        return Err(ApiError::Forbidden("Cross-site request refused"));
    }
    if bearer_header && let Err(refused) = bearer {
        return Err(refused);
    }
    let user = match bearer {
        Ok(FreshUser(caller)) => {
            require_verified_address(&state, caller.user.id).await?;
            (caller.user.id, caller.session.id)
        }
        Err(refused) => {
            // The pages' session, when the browser holds one (a link on the account page).
            let Ok(caller) = page_user(&state, &request).await else {
                return Err(refused);
            };
            if let Err(error) = fresh_sign_in(&state, &caller, SIGN_IN_AGAIN).await {
                // A browser on the account page: the page that says to sign in again.
                return Ok(refusal(&state, &request, &error));
            }
            if let Err(error) = require_verified_address(&state, caller.user.id).await {
                return Ok(crate::pages::verify_first(&state, &request, &error));
            }
            (caller.user.id, caller.session.id)
        }
    };
    send_to_provider(&state, &name, &query.return_to, Some(user)).await
}

/// Whether the request carries an `Authorization: Bearer …` header.
fn has_bearer_header(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
}

/// Whether a request comes from this service's own pages or a trusted origin: its
/// `Origin` is trusted, or (navigations send none) the browser says `Sec-Fetch-Site:
/// same-origin` (or `none`: typed or bookmarked). Stricter than the forms' check: a
/// sibling site (`same-site`) and a browser that says nothing are refused.
fn from_this_site(request: &HttpRequest, trusted: &[String]) -> bool {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        return trusted
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin));
    }
    headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"same-origin" || site.as_bytes() == b"none")
}

/// Stores the sign-in and answers the redirect to the provider with the binding cookie.
async fn send_to_provider(
    state: &AppState,
    name: &str,
    return_to: &str,
    link: Option<(UserId, SessionId)>,
) -> Result<HttpResponse, ApiError> {
    let provider = state
        .providers
        .find(name)
        .ok_or(ApiError::NotFound(UNKNOWN_PROVIDER))?;
    let started = provider.start().await.map_err(ApiError::from)?;
    let browser = OneTimeToken::generate();
    let now = Utc::now();
    let pending = PendingFederation {
        provider: provider.config().name.clone(),
        browser_hash: browser.hash.clone(),
        nonce: started.nonce,
        pkce_verifier: started.pkce_verifier,
        return_to: safe_return_to(state, return_to),
        link,
    };
    state
        .identities
        .open_login(
            &hash_one_time_token(&started.state),
            &pending,
            now + PENDING_TTL,
            now,
        )
        .await?;
    let cookie = Cookie::build(binding_cookie_name(state), browser.secret)
        .path("/")
        .http_only(true)
        .secure(state.options.cookie_secure)
        // Lax: the provider's redirect back is a top-level GET, which carries it.
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::minutes(PENDING_TTL.num_minutes()))
        .finish();
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, started.url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}
