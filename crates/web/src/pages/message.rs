//! Pages that only say something, with a link on: the frame's message page, the page for
//! a failure that is not the visitor's, and the one that asks to verify the address first.

use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use super::{Frame, PageContext, problem_text};
use crate::{error::ApiError, state::AppState};

/// A page with a message and a link on.
#[derive(Template)]
#[template(path = "pages/message.html")]
pub(crate) struct MessagePage {
    pub(crate) page: Frame,
    pub(crate) link_href: &'static str,
    pub(crate) link_text: &'static str,
}

/// The page for a change refused until the account's address is verified: the account
/// page sends the verification mail.
pub(crate) fn verify_first(
    state: &AppState,
    request: &HttpRequest,
    error: &ApiError,
) -> HttpResponse {
    let (page, cookie) = PageContext::new(state, request, "Verify your email first")
        .with_problem(format!(
            "{}: verify your email address before you add a way to sign in.",
            problem_text(error)
        ))
        .into_parts();
    PageContext::render(
        cookie,
        state,
        error.status_code(),
        &MessagePage {
            page,
            link_href: "/account",
            link_text: "Back to your account",
        },
    )
}

/// The page for a failure that is not the visitor's (the database is down…).
pub(crate) fn error_page(
    state: &AppState,
    request: &HttpRequest,
    error: &ApiError,
) -> HttpResponse {
    tracing::error!(error = %crate::error::error_chain(error), "page failed");
    let (page, cookie) = PageContext::new(state, request, "Something went wrong")
        .with_problem("The service could not answer just now. Please try again in a moment.")
        .into_parts();
    PageContext::render(
        cookie,
        state,
        error.status_code(),
        &MessagePage {
            page,
            link_href: "/account",
            link_text: "Try again",
        },
    )
}
