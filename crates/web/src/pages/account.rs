//! `/account`: who is signed in, where, and signing out.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::Utc;
use gatehouse_app::sessions::{self, Ending};
use gatehouse_domain::SessionId;
use serde::Deserialize;

use crate::{
    cookies::cleared_cookies,
    extract::{AuthenticatedUser, ClientContext},
    pages::{
        Frame, PageContext, PageForm, csrf_field, error_page, new_page_csrf_cookie, page_user,
        see_other,
    },
    state::AppState,
};

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage {
    page: Frame,
    email: String,
    verified: bool,
    totp: bool,
    recovery_codes_left: u32,
    sessions: Vec<SessionLine>,
    passkeys: Vec<PasskeyLine>,
    /// Identities at other providers: (id, the provider's label, the address it gave).
    identities: Vec<(String, String, Option<String>)>,
    /// Providers not linked yet: (the link's address, the label).
    linkable: Vec<(String, String)>,
    /// Apps with access: (client id, name, scopes, last use).
    apps: Vec<(String, String, String, Option<String>)>,
    /// The roles the account holds, sorted (read only: administrators grant them).
    roles: Vec<String>,
}

/// How the page shows a moment.
const DAY: &str = "%Y-%m-%d %H:%M UTC";

/// One passkey as the account page lists it.
struct PasskeyLine {
    id: String,
    name: String,
    added: String,
    last_used: Option<String>,
    possibly_cloned: bool,
}

/// One open session as the account page lists it.
struct SessionLine {
    id: String,
    device: String,
    since: String,
    ip: Option<String>,
    current: bool,
}

/// A form with only its CSRF token (and, for signing out, whether everywhere).
#[derive(Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    everywhere: Option<String>,
}

csrf_field!(PlainForm);

/// `?sent=` after a mail was asked for, `?changed=` after a change.
#[derive(Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    changed: Option<String>,
}

/// `GET /account`.
pub async fn account_page(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<AccountQuery>,
) -> HttpResponse {
    let caller = match page_user(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let mut context = PageContext::new(&state, &request, TITLE);
    if query.sent.as_deref() == Some("verification") {
        context = context.with_notice(
            "A link to confirm your address is on its way (unless one was sent a minute ago).",
        );
    }
    let notice = match query.changed.as_deref() {
        Some("password") => Some("Your password is changed, and your other sessions have ended."),
        Some("totp") => Some("The authenticator app is off."),
        Some("passkey-added") => Some("Your passkey is added."),
        Some("passkey-renamed") => Some("Your passkey is renamed."),
        Some("passkey-removed") => {
            Some("Your passkey is removed, and your other sessions have ended.")
        }
        Some("identity-linked") => Some("The provider is linked: you can sign in with it."),
        Some("identity-removed") => Some("The provider is unlinked."),
        Some("app-removed") => Some("The app's access is removed."),
        _ => None,
    };
    if let Some(notice) = notice {
        context = context.with_notice(notice);
    }
    account_view(&state, &request, &caller, context, StatusCode::OK).await
}

/// The account page's title.
pub(crate) const TITLE: &str = "Your account";

/// The account page of `caller` in `context` (which may tell what a form changed or why
/// it was refused), answered with `status`.
pub(crate) async fn account_view(
    state: &AppState,
    request: &HttpRequest,
    caller: &AuthenticatedUser,
    context: PageContext,
    status: StatusCode,
) -> HttpResponse {
    let listed = state
        .sessions
        .list_active_for_user(caller.user.id, Utc::now())
        .await;
    let factors = state.mfa.factors(caller.user.id).await;
    let passkeys = state.passkeys.list(caller.user.id).await;
    let identities = state.identities.list(caller.user.id).await;
    let (sessions, factors, passkeys, identities) = match (listed, factors, passkeys, identities) {
        (Ok(sessions), Ok(factors), Ok(passkeys), Ok(identities)) => {
            (sessions, factors, passkeys, identities)
        }
        (Err(error), ..) | (_, Err(error), ..) | (_, _, Err(error), _) | (.., Err(error)) => {
            return error_page(state, request, &error.into());
        }
    };
    let roles = match state.roles.held_by(caller.user.id).await {
        Ok(roles) => roles.names(),
        Err(error) => return error_page(state, request, &error.into()),
    };
    let label_of = |name: &str| {
        state
            .providers
            .find(name)
            .map_or_else(|| name.to_owned(), |found| found.config().label.clone())
    };
    let linkable = state
        .providers
        .iter()
        .map(|provider| provider.config())
        .filter(|config| !identities.iter().any(|known| known.provider == config.name))
        .map(|config| {
            let href = format!(
                "/auth/oidc/{}/link?return_to=/account%3Fchanged%3Didentity-linked",
                config.name
            );
            (href, config.label.clone())
        })
        .collect();
    let identities = identities
        .into_iter()
        .map(|identity| {
            let label = label_of(&identity.provider);
            (identity.id.to_string(), label, identity.email)
        })
        .collect();
    let sessions = sessions
        .into_iter()
        .map(|session| SessionLine {
            id: session.id.to_string(),
            device: session
                .user_agent
                .as_deref()
                .map(describe_agent)
                .unwrap_or_else(|| "A client".to_owned()),
            since: session.created_at.format(DAY).to_string(),
            ip: session.ip.clone(),
            current: session.id == caller.session.id,
        })
        .collect();
    let passkeys = passkeys
        .into_iter()
        .map(|passkey| PasskeyLine {
            id: passkey.id.to_string(),
            name: passkey.name.as_str().to_owned(),
            added: passkey.created_at.format(DAY).to_string(),
            last_used: passkey.last_used_at.map(|at| at.format(DAY).to_string()),
            possibly_cloned: passkey.possibly_cloned,
        })
        .collect();
    let apps = match gatehouse_app::provider::access::apps_with_access(state, caller.user.id).await
    {
        Ok(apps) => apps
            .into_iter()
            .map(|app| {
                (
                    app.client_id.to_string(),
                    app.name,
                    app.scopes.to_string(),
                    app.last_used_at.map(|at| at.format(DAY).to_string()),
                )
            })
            .collect(),
        Err(error) => return error_page(state, request, &error.into()),
    };
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        state,
        status,
        &AccountPage {
            apps,
            roles,
            page,
            email: caller.user.email.as_str().to_owned(),
            verified: caller.user.is_verified,
            totp: factors.totp,
            recovery_codes_left: factors.recovery_codes_left,
            sessions,
            passkeys,
            identities,
            linkable,
        },
    )
}

/// `POST /account/sessions/{id}/end`: ends one of the visitor's other sessions.
pub async fn end_session(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    id: web::Path<String>,
    _: PageForm<PlainForm>,
) -> HttpResponse {
    let caller = match page_user(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let Some(id) = SessionId::parse(&id) else {
        return see_other("/account");
    };
    match sessions::end_session(&state, &client, caller.user.id, id, Ending::Revoked).await {
        // Someone else's or an unknown id ends nothing, as in the API.
        Ok(_) => see_other("/account"),
        Err(error) => error_page(&state, &request, &error.into()),
    }
}

/// `POST /logout`: ends this session (or, with `everywhere`, every session of the
/// account), clears the cookies and goes to the sign-in page.
pub async fn logout(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<PlainForm>,
) -> HttpResponse {
    // Signed out already (or never in): nothing to end. A failure to tell is shown, not
    // passed over: the visitor must know whether the sessions ended.
    let caller = match page_user(&state, &request).await {
        Ok(caller) => Some(caller),
        Err(answer) if answer.status().is_server_error() => return answer,
        Err(_) => None,
    };
    if let Some(caller) = caller {
        let (user, session) = (caller.user.id, caller.session.id);
        let ended = if form.everywhere.is_some() {
            sessions::end_every_session(&state, &client, user, session).await
        } else {
            sessions::end_session(&state, &client, user, session, Ending::Logout)
                .await
                .map(drop)
        };
        if let Err(error) = ended {
            return error_page(&state, &request, &error.into());
        }
    }
    let mut response = HttpResponse::SeeOther();
    response.insert_header((actix_web::http::header::LOCATION, "/login"));
    for cookie in cleared_cookies(state.options.cookie_secure) {
        response.cookie(cookie);
    }
    response.cookie(new_page_csrf_cookie(&state));
    response.finish()
}

/// `POST /account/apps/{client_id}/remove`: `Remove access` for one app.
pub async fn remove_app(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    id: web::Path<String>,
    _: PageForm<PlainForm>,
) -> HttpResponse {
    let caller = match page_user(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let Some(id) = gatehouse_domain::ClientId::parse(&id) else {
        return see_other("/account");
    };
    match gatehouse_app::provider::access::remove_access(&state, &client, caller.user.id, &id).await
    {
        Ok(_) => see_other("/account?changed=app-removed"),
        Err(error) => error_page(&state, &request, &error.into()),
    }
}

/// A few words for a `User-Agent`: the browser and the system, as far as they show.
pub(crate) fn describe_agent(agent: &str) -> String {
    let browser = ["Edg/", "Firefox/", "Chrome/", "Safari/", "curl/"]
        .iter()
        .find(|marker| agent.contains(*marker))
        .map(|marker| match *marker {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            "Safari/" => "Safari",
            _ => "curl",
        });
    let system = ["Android", "iPhone", "iPad", "Mac OS X", "Windows", "Linux"]
        .iter()
        .find(|marker| agent.contains(*marker))
        .map(|marker| match *marker {
            "Mac OS X" => "macOS",
            "iPhone" | "iPad" => "iOS",
            other => other,
        });
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        _ => agent.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_agent;

    #[test]
    fn user_agents_are_described_in_a_few_words() {
        assert_eq!(
            describe_agent(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
            ),
            "Chrome on Linux"
        );
        assert_eq!(describe_agent("curl/8.5.0"), "curl");
        assert_eq!(describe_agent("reqwest"), "reqwest");
    }
}
