//! Pages for browsers: sign-in, sign-up, the mails' links and the account page, server-rendered from
//! compile-time-checked templates (`templates/pages/`), with one stylesheet embedded in
//! the binary under a name that carries its hash. They work without JavaScript.
//!
//! Browser sessions are the cookie mode's HttpOnly token cookies, whatever
//! `JWT_TOKEN_LOCATION` says for the API. Every form carries a token that must match the
//! page's CSRF cookie, and the browser must say the post comes from a trusted origin.
//! Every page answers with a strict `Content-Security-Policy` (no inline script, no
//! framing) and `Cache-Control: no-store`.

pub mod account;
mod admin;
mod assets;
pub mod by_mail;
pub(crate) mod form;
pub mod identities;
mod message;
pub mod passkeys;
pub mod password;
mod redirects;
pub mod second_factor;
pub mod sign_in;

pub(crate) use form::{CsrfField, PageForm, csrf_field, refuse_foreign_form};
pub(crate) use message::{MessagePage, error_page, verify_first};
pub(crate) use redirects::{allow_authorization_redirect, allow_form_target, redirect_origin};

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    cookie::{Cookie, SameSite},
    http::{StatusCode, header},
    web,
};
use askama::Template;

use crate::{
    cookies::{ACCESS_COOKIE, csrf_value, origin_of, token_cookies},
    error::ApiError,
    extract::{AuthenticatedUser, authenticate_session_handle},
    signin::tokens::issue_page_tokens,
    state::AppState,
};

/// The page forms' CSRF cookie: its value is repeated in each form's `csrf` field. Over
/// HTTPS its name has the `__Host-` prefix, so a sibling subdomain cannot set it.
pub(crate) fn page_csrf_cookie(state: &AppState) -> &'static str {
    if state.options.cookie_secure {
        "__Host-gatehouse_page_csrf"
    } else {
        "gatehouse_page_csrf"
    }
}
/// The longest `return_to` followed.
const MAX_RETURN_TO_BYTES: usize = 2048;
/// Where a sign-in lands when it was not sent from elsewhere.
pub(crate) const HOME: &str = "/account";

/// Mounts the pages (when `UI_ENABLED`). Their bodies and queries that cannot be read
/// answer as pages, not as the API's JSON (set per resource: the API keeps its own).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        page("/login")
            .route(web::get().to(sign_in::login_page))
            .route(web::post().to(sign_in::login)),
    )
    .service(page("/login/second-step").route(web::post().to(sign_in::second_step)))
    .service(page("/login/passkey").route(web::post().to(passkeys::sign_in)))
    .service(
        page("/register")
            .route(web::get().to(sign_in::register_page))
            .route(web::post().to(sign_in::register)),
    )
    .service(
        page("/forgot-password")
            .route(web::get().to(by_mail::forgot_page))
            .route(web::post().to(by_mail::forgot)),
    )
    .service(
        page("/reset-password")
            .route(web::get().to(by_mail::reset_page))
            .route(web::post().to(by_mail::reset)),
    )
    .service(
        page("/verify")
            .route(web::get().to(by_mail::verify_page))
            .route(web::post().to(by_mail::verify)),
    )
    .service(
        page("/not-me")
            .route(web::get().to(by_mail::not_me_page))
            .route(web::post().to(by_mail::not_me)),
    )
    .service(page("/account/verify-mail").route(web::post().to(by_mail::send_verification)))
    .service(page("/account/totp").route(web::post().to(second_factor::start)))
    .service(page("/account/totp/confirm").route(web::post().to(second_factor::confirm)))
    .service(page("/account/totp/disable").route(web::post().to(second_factor::disable)))
    .service(
        page("/account/password")
            .route(web::get().to(password::password_page))
            .route(web::post().to(password::change_password)),
    )
    .service(page("/logout").route(web::post().to(account::logout)))
    .service(page("/account").route(web::get().to(account::account_page)))
    .service(page("/account/sessions/{id}/end").route(web::post().to(account::end_session)))
    .service(page("/account/passkeys").route(web::post().to(passkeys::add)))
    .service(page("/account/passkeys/options").route(web::post().to(passkeys::options)))
    .service(page("/account/passkeys/{id}/rename").route(web::post().to(passkeys::rename)))
    .service(page("/account/passkeys/{id}/remove").route(web::post().to(passkeys::remove)))
    .service(page("/account/identities/{id}/remove").route(web::post().to(identities::remove)))
    .service(page("/account/apps/{client_id}/remove").route(web::post().to(account::remove_app)))
    .configure(|cfg| admin::configure(cfg, page))
    .service(web::resource("/assets/{name}").route(web::get().to(assets::asset)));
}

/// A page's resource: its forms and queries, when unreadable, answer as pages.
fn page(path: &str) -> actix_web::Resource {
    web::resource(path)
        .app_data(web::FormConfig::default().error_handler(unreadable_form))
        .app_data(web::QueryConfig::default().error_handler(|_, _| {
            // An unreadable `?return_to=`: the sign-in page without it.
            actix_web::error::InternalError::from_response("query", see_other("/login")).into()
        }))
}

/// What every page shows around its content.
pub(crate) struct Frame {
    pub(crate) title: &'static str,
    pub(crate) app_name: String,
    pub(crate) stylesheet: &'static str,
    pub(crate) script: &'static str,
    /// The form token, the page CSRF cookie's value.
    pub(crate) csrf: String,
    /// A good-news line (announced politely).
    pub(crate) notice: Option<String>,
    /// What went wrong with the last submission (announced at once).
    pub(crate) problem: Option<String>,
}

/// A page being answered: its frame, and the CSRF cookie to set when the browser had
/// none.
pub(crate) struct PageContext {
    pub(crate) frame: Frame,
    new_cookie: Option<Cookie<'static>>,
}

impl PageContext {
    /// The frame of a page titled `title` for this request.
    pub(crate) fn new(state: &AppState, request: &HttpRequest, title: &'static str) -> Self {
        let (csrf, new_cookie) = match request.cookie(page_csrf_cookie(state)) {
            Some(cookie) if cookie.value().len() == 64 => (cookie.value().to_owned(), None),
            _ => {
                let cookie = new_page_csrf_cookie(state);
                (cookie.value().to_owned(), Some(cookie))
            }
        };
        Self {
            frame: Frame {
                title,
                app_name: state.options.accounts.app_name.clone(),
                stylesheet: assets::STYLESHEET_PATH.as_str(),
                script: assets::SCRIPT_PATH.as_str(),
                csrf,
                notice: None,
                problem: None,
            },
            new_cookie,
        }
    }

    /// The same page telling what went wrong.
    pub(crate) fn with_problem(mut self, problem: impl Into<String>) -> Self {
        self.frame.problem = Some(problem.into());
        self
    }

    /// The same page with a good-news line.
    pub(crate) fn with_notice(mut self, notice: impl Into<String>) -> Self {
        self.frame.notice = Some(notice.into());
        self
    }

    /// Renders `template` (built from this context's frame) with `status`.
    pub(crate) fn render(
        new_cookie: Option<Cookie<'static>>,
        state: &AppState,
        status: StatusCode,
        template: &impl Template,
    ) -> HttpResponse {
        let mut response = HttpResponse::build(status);
        page_headers(&mut response, state);
        if let Some(cookie) = new_cookie {
            response.cookie(cookie);
        }
        match template.render() {
            Ok(html) => response
                .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .body(html),
            Err(error) => {
                tracing::error!(%error, "page template failed");
                HttpResponse::InternalServerError().finish()
            }
        }
    }

    /// Splits the context into its frame and the cookie to set.
    pub(crate) fn into_parts(self) -> (Frame, Option<Cookie<'static>>) {
        (self.frame, self.new_cookie)
    }
}

/// The headers of every page.
fn page_headers(response: &mut actix_web::HttpResponseBuilder, state: &AppState) {
    let form_targets: Vec<&str> = state
        .options
        .trusted_origins
        .iter()
        .map(String::as_str)
        .collect();
    let policy = format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
         form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
        form_targets.join(" ")
    );
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, policy))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // Not the API's `no-referrer`: under it browsers post forms with `Origin: null`,
        // which the origin check must refuse. `strict-origin` still sends no path (nor a
        // mail link's token) anywhere.
        .insert_header((header::REFERRER_POLICY, "strict-origin"));
}

/// The signed-in account of a page request; else the answer: to the sign-in page, which
/// comes back here (to a page; after a refused form, to the account page). The browser
/// session lasts as long as the server-side session: its access token is a handle on the
/// session, checked on every request, and may have expired.
pub(crate) async fn page_user(
    state: &AppState,
    request: &HttpRequest,
) -> Result<AuthenticatedUser, HttpResponse> {
    let back_here = || {
        // A page with its query (a search, filters); a refused form goes home.
        let here = if request.method() == actix_web::http::Method::GET {
            request
                .uri()
                .path_and_query()
                .map_or(request.path(), |whole| whole.as_str())
        } else {
            HOME
        };
        see_other(&format!("/login?return_to={}", encode(here)))
    };
    let Some(cookie) = request.cookie(ACCESS_COOKIE) else {
        return Err(back_here());
    };
    match authenticate_session_handle(state, cookie.value()).await {
        Ok(caller) => Ok(caller),
        Err(error) if error.status_code().is_server_error() => {
            Err(error_page(state, request, &error))
        }
        Err(_) => Err(back_here()),
    }
}

/// The browser's signed-in account, when it has a live page session: `Ok(None)` for a
/// visitor (no cookie, or one that opens nothing), an error only when the check itself
/// failed — so a database failure is never taken for "not signed in".
pub(crate) async fn signed_in_visitor(
    state: &AppState,
    request: &HttpRequest,
) -> Result<Option<AuthenticatedUser>, ApiError> {
    let Some(cookie) = request.cookie(ACCESS_COOKIE) else {
        return Ok(None);
    };
    match authenticate_session_handle(state, cookie.value()).await {
        Ok(caller) => Ok(Some(caller)),
        Err(error) if error.status_code().is_server_error() => Err(error),
        Err(_) => Ok(None),
    }
}

/// Signs the browser in with `session`'s fresh tokens and sends it to `return_to`.
pub(crate) async fn signed_in(
    state: &AppState,
    session: &gatehouse_domain::Session,
    return_to: &str,
) -> HttpResponse {
    let (access, refresh) = match issue_page_tokens(state, session).await {
        Ok(pair) => pair,
        // A database outage is a 503 like any other (rendered as a page on the way out).
        Err(error) => return actix_web::ResponseError::error_response(&error),
    };
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, return_to.to_owned()));
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    // The access cookie lives as long as the session (see `page_user`); a new form
    // token for the new session.
    for cookie in token_cookies(
        &access.token,
        session.expires_at,
        &refresh.token,
        refresh.expires_at,
        state.options.cookie_secure,
    ) {
        response.cookie(cookie);
    }
    response.cookie(new_page_csrf_cookie(state));
    response.finish()
}

/// 303 to `location`.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Where to go after signing in: a path on this server, or an address at a trusted
/// origin (this server's, `CORS_ORIGINS`); anything else is the account page.
pub(crate) fn safe_return_to(state: &AppState, raw: &str) -> String {
    let raw = raw.trim();
    // Stored with a sign-in at a provider: an address longer than any page's is not one.
    if raw.len() > MAX_RETURN_TO_BYTES {
        return HOME.to_owned();
    }
    let is_local_path = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && !raw.chars().any(char::is_control);
    if is_local_path {
        return raw.to_owned();
    }
    let trusted = (raw.starts_with("https://") || raw.starts_with("http://"))
        && !raw.chars().any(|c| c.is_control() || c == '\\')
        && origin_of(raw).is_some_and(|origin| {
            state
                .options
                .trusted_origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(&origin))
        });
    if trusted {
        raw.to_owned()
    } else {
        HOME.to_owned()
    }
}

/// Percent-encodes `text` for a query string.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `response` with `Retry-After` when `error` is a limit, as the API answers it.
pub(crate) fn with_retry_after(mut response: HttpResponse, error: &ApiError) -> HttpResponse {
    if let ApiError::TooManyRequests { retry_after } = error
        && let Ok(value) = header::HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A body the page routes could not read (not a form, too large, a field twice): a page
/// saying so, not the API's JSON.
pub(crate) fn unreadable_form(
    error: actix_web::error::UrlencodedError,
    request: &HttpRequest,
) -> actix_web::Error {
    let answer = unreadable(
        request,
        "The form could not be read. Go back, reload the page and send it again.",
        ("/login", "Back to sign-in"),
    );
    actix_web::error::InternalError::from_response(error, answer).into()
}

/// The 400 "Please try again" page for a request a page could not read: `problem`, and a
/// link on.
pub(crate) fn unreadable(
    request: &HttpRequest,
    problem: &'static str,
    (link_href, link_text): (&'static str, &'static str),
) -> HttpResponse {
    let Some(state) = request.app_data::<web::Data<AppState>>() else {
        return HttpResponse::BadRequest().finish();
    };
    let (page, cookie) = PageContext::new(state, request, "Please try again")
        .with_problem(problem)
        .into_parts();
    PageContext::render(
        cookie,
        state,
        StatusCode::BAD_REQUEST,
        &MessagePage {
            page,
            link_href,
            link_text,
        },
    )
}

/// What a refused submission shows: the API's `detail` for the visitor's own problems,
/// a retry time for limits, a generic line (and the log) for the service's.
pub(crate) fn problem_text(error: &ApiError) -> String {
    match error {
        ApiError::TooManyRequests { retry_after } => format!(
            "Too many attempts. Try again in {} seconds.",
            retry_after.as_secs().max(1)
        ),
        ApiError::Validation(fields) => fields
            .iter()
            .map(|field| format!("{}: {}", field.field, field.message))
            .collect::<Vec<_>>()
            .join("; "),
        other if other.status_code().is_server_error() => {
            tracing::error!(error = %crate::error::error_chain(other), "page submission failed");
            "The service could not answer just now. Please try again in a moment.".to_owned()
        }
        other => format!("{other}."),
    }
}

/// A new page CSRF cookie (at start, and at each sign-in and sign-out).
pub(crate) fn new_page_csrf_cookie(state: &AppState) -> Cookie<'static> {
    Cookie::build(page_csrf_cookie(state), csrf_value())
        .path("/")
        .http_only(true)
        .secure(state.options.cookie_secure)
        .same_site(SameSite::Lax)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn return_paths_are_encoded_for_a_query() {
        assert_eq!(encode("/account"), "/account");
        assert_eq!(encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
    }
}
