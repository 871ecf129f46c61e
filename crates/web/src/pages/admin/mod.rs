//! `/admin`: the administrators' pages, for superusers signed in on the pages. A visitor
//! is sent to the sign-in page and back; a signed-in account that is no superuser gets a
//! 403 page. The accounts (searched, 50 a page) and what can be done to one, the audit
//! log, the OpenID Provider's apps and the roles.
//!
//! Every change goes through the admin API's flow (`gatehouse_app`), so it writes the
//! same audit event with the administrator as actor, and needs a sign-in of the last
//! [`FRESH_SIGN_IN`] (with the second factor when the administrator's account has one).
//! What cannot be undone is asked again on a page of its own before it is done (an
//! account's deletion asks for its address to be typed).

mod account;
mod apps;
mod audit;
mod roles;
mod users;

use actix_web::{HttpRequest, HttpResponse, Resource, ResponseError, http::StatusCode, web};
use askama::Template;
use chrono::{Duration, Utc};
use serde::Deserialize;

use crate::{
    extract::{AuthenticatedUser, require_account_assurance},
    pages::{Frame, MessagePage, PageContext, encode, page_user, see_other},
    state::AppState,
};

/// How long ago an administrator may have signed in and still change anything.
pub(crate) const FRESH_SIGN_IN: Duration = Duration::minutes(15);

/// Why a change was refused for an old sign-in.
const SIGN_IN_AGAIN: &str = "Changes on these pages need a sign-in from the last 15 minutes. \
Sign in again, then make the change again.";

/// Why a change was refused for a sign-in without the second factor the account has.
const SECOND_FACTOR_FIRST: &str = "Changes on these pages need a sign-in with the second \
factor your account has. Sign in again with it, then make the change again.";

/// How the pages show a moment.
const DAY: &str = "%Y-%m-%d %H:%M UTC";

/// Mounts the pages under `/admin`, each resource made by `page` (which reads forms and
/// queries as the other pages do).
pub(crate) fn configure(cfg: &mut web::ServiceConfig, page: fn(&str) -> Resource) {
    // A query these pages cannot read (a filter given twice…) is said on a page, where
    // the other pages send a visitor to sign in.
    let page = |path: &str| {
        page(path).app_data(web::QueryConfig::default().error_handler(unreadable_query))
    };
    cfg.service(page("/admin").route(web::get().to(home)))
        .service(page("/admin/users").route(web::get().to(users::users)))
        .service(page("/admin/users/{id}").route(web::get().to(users::user)))
        .service(
            page("/admin/users/{id}/sessions/{session}/end")
                .route(web::post().to(account::end_session)),
        )
        .service(
            page("/admin/users/{id}/second-factor/reset")
                .route(web::post().to(account::reset_factors)),
        )
        .service(page("/admin/users/{id}/roles").route(web::post().to(account::grant)))
        .service(page("/admin/users/{id}/roles/revoke").route(web::post().to(account::revoke)))
        .service(page("/admin/users/{id}/deactivate").route(web::post().to(account::deactivate)))
        .service(page("/admin/users/{id}/activate").route(web::post().to(account::activate)))
        .service(
            page("/admin/users/{id}/mark-verified").route(web::post().to(account::mark_verified)),
        )
        .service(page("/admin/users/{id}/reset-link").route(web::post().to(account::reset_link)))
        .service(page("/admin/users/{id}/delete").route(web::post().to(account::delete)))
        .service(page("/admin/audit").route(web::get().to(audit::events)))
        .service(
            page("/admin/apps")
                .route(web::get().to(apps::apps))
                .route(web::post().to(apps::register)),
        )
        .service(page("/admin/apps/{client_id}/secret").route(web::post().to(apps::new_secret)))
        .service(page("/admin/apps/{client_id}/delete").route(web::post().to(apps::delete)))
        .service(
            page("/admin/roles")
                .route(web::get().to(roles::roles))
                .route(web::post().to(roles::create)),
        )
        .service(page("/admin/roles/delete").route(web::post().to(roles::delete)));
}

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

/// The superuser sending a change from an admin page, signed in within [`FRESH_SIGN_IN`]
/// and with their second factor when they have one; else the answer (for an old sign-in:
/// a 403 page that leads to signing in again and back to `back`).
async fn admin_for_change(
    state: &AppState,
    request: &HttpRequest,
    back: &str,
) -> Result<AuthenticatedUser, HttpResponse> {
    let admin = admin_user(state, request).await?;
    // A sign-in's handle is fresh and carries its time (`iat`); one a refresh re-issued
    // is not fresh. The 15 minutes hold whatever the handle's lifetime (its expiry is not
    // what counts: a page handle outlives it as a handle on its session).
    let recent = admin.claims.fresh && Utc::now() - admin.claims.issued_at <= FRESH_SIGN_IN;
    let refusal = if recent {
        match require_account_assurance(state, &admin).await {
            Ok(()) => return Ok(admin),
            Err(error) if error.status_code().is_server_error() => {
                return Err(crate::pages::error_page(state, request, &error));
            }
            Err(_) => SECOND_FACTOR_FIRST,
        }
    } else {
        SIGN_IN_AGAIN
    };
    let (page, cookie) = PageContext::new(state, request, "Sign in again")
        .with_problem(refusal)
        .into_parts();
    let link_href = format!("/login?return_to={}", encode(back));
    Err(PageContext::render(
        cookie,
        state,
        StatusCode::FORBIDDEN,
        &SignInAgainPage {
            page,
            link_href,
            link_text: "Sign in again",
        },
    ))
}

/// A short digest of `state`: what a confirmation carries of what it asked about, so that
/// the same answer sent again (a reloaded page) finds it changed and does nothing twice.
fn version_of(state: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("gatehouse admin page:{state}"));
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct SignInAgainPage {
    page: Frame,
    link_href: String,
    link_text: &'static str,
}

/// The 400 page for an address whose query an admin page cannot read.
fn unreadable_query(
    error: actix_web::error::QueryPayloadError,
    request: &HttpRequest,
) -> actix_web::Error {
    let answer = crate::pages::unreadable(
        request,
        "The address could not be read (a filter given twice?).",
        ("/admin/users", "Back to the users"),
    );
    actix_web::error::InternalError::from_response(error, answer).into()
}

/// `GET /admin`: the accounts.
pub async fn home(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    match admin_user(&state, &request).await {
        Ok(_) => see_other("/admin/users"),
        Err(answer) => answer,
    }
}

/// A form that only needs its token, and `confirmed=yes` once the question was answered.
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirmed: String,
    /// What the change is about when the path does not say (a role's name).
    #[serde(default)]
    name: String,
    /// The version of what was asked about, so that a page sent twice (reloaded) does
    /// not do it twice.
    #[serde(default)]
    version: String,
}

crate::pages::csrf_field!(ConfirmForm);

impl ConfirmForm {
    /// Whether the confirmation page's button sent it.
    fn is_confirmed(&self) -> bool {
        self.confirmed == "yes"
    }
}

#[derive(Template)]
#[template(path = "pages/admin_confirm.html")]
struct ConfirmPage {
    page: Frame,
    question: String,
    action: String,
    button: &'static str,
    back: String,
    /// Sent again with the answer.
    fields: Vec<(&'static str, String)>,
}

/// The page that asks again before a change that cannot be undone: `question`, the
/// button `button` (posting to `action` with `confirmed=yes` and `fields`) and a way
/// back to `back`.
fn confirm(
    state: &AppState,
    request: &HttpRequest,
    (title, question): (&'static str, String),
    (action, button, back): (String, &'static str, String),
    fields: Vec<(&'static str, String)>,
) -> HttpResponse {
    let (page, cookie) = PageContext::new(state, request, title).into_parts();
    PageContext::render(
        cookie,
        state,
        StatusCode::OK,
        &ConfirmPage {
            page,
            question,
            action,
            button,
            back,
            fields,
        },
    )
}

/// `?done=` on a page after a change: what to say about it.
#[derive(Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}
