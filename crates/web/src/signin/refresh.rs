//! The refresh flow: verify the refresh token, decide by the rule (one conditional
//! statement in the database, the same rule as `Session::refresh_verdict`, which explains
//! refusals), answer with the next generation.

use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use gatehouse_auth::{IssuedToken, RefreshClaims};
use gatehouse_domain::{
    AuditEventType, HeldRoles, NewAuditEvent, RefreshRotation, RefreshVerdict, Session, SessionId,
    User, UserId,
};

use crate::{
    error::{ApiError, Problem},
    extract::{IpThrottled, RefreshToken, account_of, audit_context},
    shared_responses::{DatabaseDown, NetworkLimited},
    signin::{dto::TokenOut, tokens::tokens_response},
    state::AppState,
};

/// Exchange a refresh token for a new access token (and, with rotation, a new refresh
/// token one generation newer).
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "New tokens", body = TokenOut),
        NetworkLimited,
        DatabaseDown,
        (status = 401, description = "Missing, invalid, expired, revoked or reused refresh token; deleted or inactive user", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    RefreshToken(token): RefreshToken,
) -> Result<HttpResponse, ApiError> {
    let claims = state.jwt.verify_refresh(&token)?;
    let policy = state.options.refresh;
    let now = Utc::now();
    // The common case in one statement: the update checks session, account and rule, and
    // answers the account's roles, which the new access token carries (on Postgres in the
    // same statement; elsewhere read before it: once the refresh is recorded, nothing may
    // fail before its tokens are answered, or a client retrying after the reuse grace
    // would be taken for a thief).
    let accepted = state
        .sessions
        .record_refresh_with_roles(
            claims.session_id,
            claims.user_id,
            claims.generation,
            now,
            policy,
        )
        .await?;
    if let Some(roles) = accepted {
        return refreshed(&state, &claims, (token, &roles), now);
    }
    // Refused: read what is stored to tell the client why (or to find that a racing
    // refresh changed the row and the token is still good).
    let (session, user) = session_and_account(&state, claims.session_id, claims.user_id).await?;
    if !user.is_active {
        return Err(ApiError::invalid_token("Inactive user"));
    }
    let session = session.ok_or(ApiError::invalid_token("Session has ended"))?;
    // Read before the judgement, which may record the refresh (see above).
    let roles = state.roles.held_by(claims.user_id).await?;
    match judge_refresh(&state, &session, claims.generation, now).await? {
        RefreshVerdict::Accept => refreshed(&state, &claims, (token, &roles), now),
        RefreshVerdict::Reuse => {
            let event = NewAuditEvent::new(
                AuditEventType::RefreshReuseDetected,
                Some(session.user_id),
                &audit_context(&request),
                now,
            )
            .in_session(session.id)
            .with("generation", claims.generation.to_string());
            state
                .sessions
                .revoke_recorded(session.id, now, Some(&event))
                .await?;
            tracing::warn!(session = %session.id, generation = claims.generation, "refresh token reuse detected; session revoked");
            Err(ApiError::invalid_token(
                "Refresh token reuse detected; session revoked",
            ))
        }
        RefreshVerdict::Reject => Err(ApiError::invalid_token("Session has ended")),
    }
}

/// The answer to an accepted refresh: a new access token carrying the roles the account
/// holds now (a grant or revocation shows here) and, with rotation, the refresh token of
/// the next generation (which expires with the presented one: a refresh never extends
/// the session).
fn refreshed(
    state: &AppState,
    claims: &RefreshClaims,
    (presented, roles): (String, &HeldRoles),
    now: chrono::DateTime<Utc>,
) -> Result<HttpResponse, ApiError> {
    // The session's assurance rides in its (signed) refresh token, so the common path
    // reads no session row; refreshing carries it on and never raises it.
    let assurance = &claims.assurance;
    // A page session refreshed (a page's script in cookie mode) stays one, and its cookie
    // lasts as long as the session, as the pages set it.
    let access = if claims.page_session {
        let handle = state.jwt.issue_page_handle(
            claims.user_id,
            claims.session_id,
            false,
            (assurance, roles),
            now,
        )?;
        IssuedToken {
            expires_at: claims.expires_at,
            ..handle
        }
    } else {
        state.jwt.issue_access_at(
            claims.user_id,
            claims.session_id,
            false,
            (assurance, roles),
            now,
        )?
    };
    let refresh = if state.options.refresh.rotation == RefreshRotation::Off {
        IssuedToken {
            token: presented,
            expires_at: claims.expires_at,
        }
    } else {
        // A session refreshed u32::MAX times has nowhere to go; it ends.
        let next = claims
            .generation
            .checked_add(1)
            .ok_or(ApiError::invalid_token("Session has ended"))?;
        let session = (claims.session_id, claims.expires_at);
        if claims.page_session {
            state
                .jwt
                .issue_page_refresh(claims.user_id, session, next, assurance, now)?
        } else {
            state
                .jwt
                .issue_refresh_at(claims.user_id, session, next, assurance, now)?
        }
    };
    Ok(tokens_response(state, access, refresh))
}

/// Applies the refresh rule to the stored session and, when it accepts, records the
/// refresh with one conditional update. When the update finds the row changed by a racing
/// request, the token is judged again on the row as it is now; it cannot have become
/// acceptable (generations only grow).
async fn judge_refresh(
    state: &AppState,
    session: &Session,
    generation: u32,
    now: chrono::DateTime<Utc>,
) -> Result<RefreshVerdict, ApiError> {
    let policy = state.options.refresh;
    let verdict = session.refresh_verdict(generation, now, policy);
    if verdict != RefreshVerdict::Accept
        || state
            .sessions
            .record_refresh(session.id, session.user_id, generation, now, policy)
            .await?
    {
        return Ok(verdict);
    }
    let stored = state.sessions.find(session.id).await?;
    Ok(
        match stored.map(|s| s.refresh_verdict(generation, now, policy)) {
            Some(RefreshVerdict::Reuse) => RefreshVerdict::Reuse,
            _ => RefreshVerdict::Reject,
        },
    )
}

/// A refresh token's session (if it exists and belongs to the token's user) and its
/// account (401 `User not found` if it does not exist), in one round trip; only when that
/// finds nothing is the account looked up on its own, to tell a deleted account from an
/// ended session. Never from the session cache: the refresh rule is judged on the row.
async fn session_and_account(
    state: &AppState,
    session_id: SessionId,
    user_id: UserId,
) -> Result<(Option<Session>, User), ApiError> {
    let found = state.sessions.find_with_user(session_id).await?;
    account_of(state, found, user_id).await
}
