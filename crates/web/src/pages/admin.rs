//! `/admin`: the administrators' pages, for superusers signed in on the pages. A visitor
//! is sent to the sign-in page and back; a signed-in account that is no superuser gets a
//! 403 page. This first part reads: the accounts (searched, 50 a page) and one account
//! with its sessions, second factors, roles and linked identities.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::Utc;
use gatehouse_domain::UserId;
use serde::Deserialize;

use crate::{
    extract::AuthenticatedUser,
    pages::{Frame, MessagePage, PageContext, error_page, page_user, see_other},
    state::AppState,
};

/// Accounts on a page of the list.
pub(crate) const USERS_PER_PAGE: u64 = 50;

/// The longest search text taken (an address is at most 254 characters).
const MAX_SEARCH_CHARS: usize = 254;

/// How the pages show a moment.
const DAY: &str = "%Y-%m-%d %H:%M UTC";

/// The signed-in superuser of an admin page request; else the answer: the sign-in page
/// (and back) for a visitor, a 403 page for anyone else.
async fn admin_user(
    state: &AppState,
    request: &HttpRequest,
) -> Result<AuthenticatedUser, HttpResponse> {
    let caller = page_user(state, request).await?;
    if caller.user.is_superuser {
        return Ok(caller);
    }
    let (page, cookie) = PageContext::new(state, request, "Administrators only")
        .with_problem("These pages are for administrators; this account is not one.")
        .into_parts();
    Err(PageContext::render(
        cookie,
        state,
        StatusCode::FORBIDDEN,
        &MessagePage {
            page,
            link_href: "/account",
            link_text: "Back to your account",
        },
    ))
}

/// `GET /admin`: the accounts.
pub async fn home(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    match admin_user(&state, &request).await {
        Ok(_) => see_other("/admin/users"),
        Err(answer) => answer,
    }
}

/// `?q=` (a part of an address) and `?page=` (from 1).
#[derive(Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    page: Option<String>,
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
    let (page, cookie) = PageContext::new(&state, &request, "Users").into_parts();
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
    /// Open sessions: (started, device, IP).
    sessions: Vec<(String, String, Option<String>)>,
    totp: bool,
    recovery_codes_left: u32,
    /// Passkeys: (name, added, last used).
    passkeys: Vec<(String, String, Option<String>)>,
    roles: Vec<String>,
    /// Linked identities: (provider, the address it gave).
    identities: Vec<(String, Option<String>)>,
}

/// `GET /admin/users/{id}`.
pub async fn user(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    if let Err(answer) = admin_user(&state, &request).await {
        return answer;
    }
    let found = match UserId::parse(&id) {
        Some(id) => state.users.find_by_id(id).await,
        None => Ok(None),
    };
    let user = match found {
        Ok(Some(user)) => user,
        Ok(None) => return no_such_account(&state, &request),
        Err(error) => return error_page(&state, &request, &error.into()),
    };
    let (sessions, factors, passkeys, identities, roles) = match tokio::try_join!(
        state.sessions.list_active_for_user(user.id, Utc::now()),
        state.mfa.factors(user.id),
        state.passkeys.list(user.id),
        state.identities.list(user.id),
        state.roles.held_by(user.id),
    ) {
        Ok(found) => found,
        Err(error) => return error_page(&state, &request, &error.into()),
    };
    let (page, cookie) = PageContext::new(&state, &request, "User").into_parts();
    PageContext::render(
        cookie,
        &state,
        StatusCode::OK,
        &UserPage {
            page,
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            created: user.created_at.format(DAY).to_string(),
            verified: user.is_verified,
            active: user.is_active,
            superuser: user.is_superuser,
            sessions: sessions
                .into_iter()
                .map(|session| {
                    (
                        session.created_at.format(DAY).to_string(),
                        session
                            .user_agent
                            .as_deref()
                            .map(crate::pages::account::describe_agent)
                            .unwrap_or_else(|| "A client".to_owned()),
                        session.ip,
                    )
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
            roles: roles.names(),
            identities: identities
                .into_iter()
                .map(|identity| (identity.provider, identity.email))
                .collect(),
        },
    )
}

/// The 404 page of an account id that names no account.
fn no_such_account(state: &AppState, request: &HttpRequest) -> HttpResponse {
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
