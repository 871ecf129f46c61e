//! What a successful sign-in or refresh answers: a session, a token pair, and (in cookie
//! mode) the cookies.

use actix_web::{HttpResponse, http::header};
use chrono::Utc;
use gatehouse_auth::IssuedToken;
use gatehouse_domain::Session;

use crate::{cookies::token_cookies, error::ApiError, signin::dto::TokenOut, state::AppState};

/// A 200 answer carrying tokens, never to be stored by caches (RFC 6749 §5.1); in cookie
/// mode it also sets the token and CSRF cookies, and in cookies-only mode the body carries
/// no token (so page script cannot read one).
pub(crate) fn tokens_response(
    state: &AppState,
    access: IssuedToken,
    refresh: IssuedToken,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if state.options.token_location.cookies {
        for cookie in token_cookies(
            &access.token,
            access.expires_at,
            &refresh.token,
            refresh.expires_at,
            state.options.cookie_secure,
        ) {
            response.cookie(cookie);
        }
    }
    let ttl = state.jwt.access_ttl().num_seconds();
    if state.options.token_location.headers {
        response.json(TokenOut::new(access, refresh.token, ttl))
    } else {
        response.json(TokenOut::without_tokens(ttl))
    }
}

/// The login answer for a session just opened: a fresh token pair (and cookies).
pub(crate) async fn tokens_for(
    state: &AppState,
    session: &Session,
) -> Result<HttpResponse, ApiError> {
    let (access, refresh) = issue_tokens(state, session, true, 0).await?;
    Ok(tokens_response(state, access, refresh))
}

/// A fresh token pair for a browser session of the pages (the federation callback's
/// too): the access token is the page session's handle, the refresh token carries the
/// mark on.
pub(crate) async fn issue_page_tokens(
    state: &AppState,
    session: &Session,
) -> Result<(IssuedToken, IssuedToken), ApiError> {
    token_pair(state, session, true, 0, true).await
}

/// A token pair for `session`'s API client.
pub(crate) async fn issue_tokens(
    state: &AppState,
    session: &Session,
    fresh: bool,
    generation: u32,
) -> Result<(IssuedToken, IssuedToken), ApiError> {
    token_pair(state, session, fresh, generation, false).await
}

/// The access token carries the roles the account holds now (read here, at every sign-in).
async fn token_pair(
    state: &AppState,
    session: &Session,
    fresh: bool,
    generation: u32,
    page: bool,
) -> Result<(IssuedToken, IssuedToken), ApiError> {
    let roles = state.roles.held_by(session.user_id).await?;
    let now = Utc::now();
    let assurance = &session.assurance;
    let (user, id, expires) = (session.user_id, session.id, session.expires_at);
    let (access, refresh) = if page {
        (
            state
                .jwt
                .issue_page_handle(user, id, fresh, (assurance, &roles), now)?,
            state
                .jwt
                .issue_page_refresh(user, (id, expires), generation, assurance, now)?,
        )
    } else {
        (
            state
                .jwt
                .issue_access_at(user, id, fresh, (assurance, &roles), now)?,
            state
                .jwt
                .issue_refresh_at(user, (id, expires), generation, assurance, now)?,
        )
    };
    Ok((access, refresh))
}
