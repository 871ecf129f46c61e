//! The accounts: the list (searched, 50 a page) and one account's page, with its
//! sessions, second factors, roles and linked identities, and the buttons that change it
//! (`account.rs` answers them).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::Utc;
use gatehouse_domain::UserId;
use serde::Deserialize;

use super::{DAY, DoneQuery, admin_user};
use crate::{
    error::ApiError,
    pages::{Frame, MessagePage, PageContext, error_page},
    state::AppState,
};

/// Accounts on a page of the list.
pub(crate) const USERS_PER_PAGE: u64 = 50;

/// The longest search text taken (an address is at most 254 characters).
const MAX_SEARCH_CHARS: usize = 254;

/// `?q=` (a part of an address) and `?page=` (from 1).
#[derive(Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin_users.html")]
struct UsersPage {
    page: Frame,
    search: String,
    users: Vec<UserLine>,
    total: u64,
    first_shown: u64,
    last_shown: u64,
    previous: Option<String>,
    next: Option<String>,
}

/// One account as the list shows it.
struct UserLine {
    id: String,
    email: String,
    verified: bool,
    active: bool,
    superuser: bool,
    roles: String,
}

/// `GET /admin/users`.
pub async fn users(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<UsersQuery>,
) -> HttpResponse {
    if let Err(answer) = admin_user(&state, &request).await {
        return answer;
    }
    let mut context = PageContext::new(&state, &request, "Users");
    if query.done.as_deref() == Some("deleted") {
        context = context.with_notice("The account is deleted, with its sessions.");
    }
    let search: String = query
        .q
        .as_deref()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_SEARCH_CHARS)
        .collect();
    // A page number that is no number, or 0, is the first page.
    let page_number = query
        .page
        .as_deref()
        .and_then(|raw| raw.parse::<u64>().ok())
        .filter(|number| *number >= 1)
        .unwrap_or(1);
    // Past the admin API's bound, a page is past the end (the databases bind an offset
    // as a signed 64-bit number).
    let offset = (page_number - 1)
        .saturating_mul(USERS_PER_PAGE)
        .min(crate::admin::dto::MAX_PAGE_OFFSET);
    let part = (!search.is_empty()).then_some(search.as_str());
    let (found, total) = match state.users.search(part, USERS_PER_PAGE, offset).await {
        Ok(found) => found,
        Err(error) => return error_page(&state, &request, &error.into()),
    };
    let ids: Vec<UserId> = found.iter().map(|user| user.id).collect();
    let mut roles = match state.roles.held_by_each(&ids).await {
        Ok(roles) => roles,
        Err(error) => return error_page(&state, &request, &error.into()),
    };
    let users: Vec<UserLine> = found
        .into_iter()
        .map(|user| UserLine {
            id: user.id.to_string(),
            roles: roles
                .remove(&user.id)
                .map(|held| held.names().join(", "))
                .unwrap_or_default(),
            email: user.email.as_str().to_owned(),
            verified: user.is_verified,
            active: user.is_active,
            superuser: user.is_superuser,
        })
        .collect();
    let link = |number: u64| {
        let mut href = format!("/admin/users?page={number}");
        if !search.is_empty() {
            href.push_str("&q=");
            href.push_str(&crate::pages::encode(&search));
        }
        href
    };
    let shown = users.len() as u64;
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        &state,
        StatusCode::OK,
        &UsersPage {
            page,
            first_shown: if shown == 0 { 0 } else { offset + 1 },
            last_shown: offset + shown,
            previous: (page_number > 1).then(|| link(page_number - 1)),
            next: (offset + shown < total).then(|| link(page_number + 1)),
            total,
            users,
            search,
        },
    )
}

#[derive(Template)]
#[template(path = "pages/admin_user.html")]
struct UserPage {
    page: Frame,
    email: String,
    id: String,
    created: String,
    verified: bool,
    active: bool,
    superuser: bool,
    /// The only active superuser: the rule keeps it (shown, and its buttons left out).
    last_superuser: bool,
    sessions: Vec<SessionLine>,
    totp: bool,
    recovery_codes_left: u32,
    /// Passkeys: (name, added, last used).
    passkeys: Vec<(String, String, Option<String>)>,
    roles: Vec<String>,
    /// The roles it could be granted.
    other_roles: Vec<String>,
    /// Linked identities: (provider, the address it gave).
    identities: Vec<(String, Option<String>)>,
}

/// An open session as the account's page shows it.
struct SessionLine {
    id: String,
    since: String,
    device: String,
    ip: Option<String>,
}

/// What the account's page says after a change (`?done=`).
fn done_notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "ended" => "The session has ended.",
        "mfa-reset" => {
            "The second factors are removed and the account's sessions have ended; its owner is told by mail."
        }
        "granted" => "The role is granted. The account's tokens carry it from their next refresh.",
        "revoked" => {
            "The role is taken away. The account's tokens stop carrying it from their next refresh."
        }
        "deactivated" => "The account is deactivated and its sessions have ended.",
        "activated" => "The account is active again.",
        "verified" => "The address is marked verified.",
        "reset-link" => {
            "A reset link is on its way to the account's address (unless one was sent a moment ago, or the account is deactivated)."
        }
        _ => return None,
    })
}

/// `GET /admin/users/{id}`.
pub async fn user(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> HttpResponse {
    if let Err(answer) = admin_user(&state, &request).await {
        return answer;
    }
    let mut context = PageContext::new(&state, &request, "User");
    if let Some(notice) = query.done.as_deref().and_then(done_notice) {
        context = context.with_notice(notice);
    }
    match UserId::parse(&id) {
        Some(id) => account_page(&state, &request, id, context, StatusCode::OK).await,
        None => no_such_account(&state, &request),
    }
}

/// Account `id`'s page in `context` (which may say what a change did or why it was
/// refused), answered with `status`; the 404 page when there is no such account.
pub(super) async fn account_page(
    state: &AppState,
    request: &HttpRequest,
    id: UserId,
    context: PageContext,
    status: StatusCode,
) -> HttpResponse {
    let user = match state.users.find_by_id(id).await {
        Ok(Some(user)) => user,
        Ok(None) => return no_such_account(state, request),
        Err(error) => return error_page(state, request, &error.into()),
    };
    let read = tokio::try_join!(
        state.sessions.list_active_for_user(user.id, Utc::now()),
        state.mfa.factors(user.id),
        state.passkeys.list(user.id),
        state.identities.list(user.id),
        state.roles.held_by(user.id),
        state.roles.list(),
        state.users.is_last_active_superuser(user.id),
    );
    let (sessions, factors, passkeys, identities, held, every_role, last_superuser) = match read {
        Ok(found) => found,
        Err(error) => return error_page(state, request, &ApiError::from(error)),
    };
    let roles = held.names();
    let other_roles = every_role
        .into_iter()
        .map(|role| role.name.as_str().to_owned())
        .filter(|name| !roles.contains(name))
        .collect();
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        state,
        status,
        &UserPage {
            page,
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            created: user.created_at.format(DAY).to_string(),
            verified: user.is_verified,
            active: user.is_active,
            superuser: user.is_superuser,
            last_superuser,
            sessions: sessions
                .into_iter()
                .map(|session| SessionLine {
                    id: session.id.to_string(),
                    since: session.created_at.format(DAY).to_string(),
                    device: session
                        .user_agent
                        .as_deref()
                        .map(crate::pages::account::describe_agent)
                        .unwrap_or_else(|| "A client".to_owned()),
                    ip: session.ip,
                })
                .collect(),
            totp: factors.totp,
            recovery_codes_left: factors.recovery_codes_left,
            passkeys: passkeys
                .into_iter()
                .map(|passkey| {
                    (
                        passkey.name.as_str().to_owned(),
                        passkey.created_at.format(DAY).to_string(),
                        passkey.last_used_at.map(|at| at.format(DAY).to_string()),
                    )
                })
                .collect(),
            roles,
            other_roles,
            identities: identities
                .into_iter()
                .map(|identity| (identity.provider, identity.email))
                .collect(),
        },
    )
}

/// The 404 page of an account id that names no account.
pub(super) fn no_such_account(state: &AppState, request: &HttpRequest) -> HttpResponse {
    let (page, cookie) = PageContext::new(state, request, "No such account")
        .with_problem("No account has this id; it may have been deleted.")
        .into_parts();
    PageContext::render(
        cookie,
        state,
        StatusCode::NOT_FOUND,
        &MessagePage {
            page,
            link_href: "/admin/users",
            link_text: "Back to the users",
        },
    )
}
