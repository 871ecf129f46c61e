//! What every page form goes through before its handler sees it: read as
//! `application/x-www-form-urlencoded`, and refused (the "please try again" page) unless
//! it is this site's own — the browser says it comes from a trusted origin and its `csrf`
//! field matches the page cookie.

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, dev::Payload, error::InternalError, http::StatusCode,
    web,
};
use futures_util::future::LocalBoxFuture;
use gatehouse_domain::CeremonyId;
use serde::de::DeserializeOwned;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::{
    error::ApiError,
    extract::from_trusted_origin,
    pages::{MessagePage, PageContext, page_csrf_cookie},
    state::AppState,
};

/// A form with the page's CSRF token in a field of its own.
pub(crate) trait CsrfField {
    /// The token the form carries.
    fn csrf(&self) -> &str;
}

/// Implements [`CsrfField`] for forms whose token is their `csrf` field.
macro_rules! csrf_field {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::pages::form::CsrfField for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(crate) use csrf_field;

/// A page form that is this site's own; a foreign or expired one is answered with the
/// "please try again" page before the handler runs.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned + CsrfField + 'static> FromRequest for PageForm<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = web::Form::<T>::from_request(req, payload);
        let request = req.clone();
        Box::pin(async move {
            let web::Form(form) = form.await?;
            let state = request
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            match refuse_foreign_form(state, &request, form.csrf()) {
                None => Ok(Self(form)),
                Some(refused) => Err(InternalError::from_response("foreign form", refused).into()),
            }
        })
    }
}

/// Whether a form post is this site's own: the browser says it comes from a trusted
/// origin, and its `csrf` field matches the page cookie. `None` when it is, else the 403
/// page to answer.
pub(crate) fn refuse_foreign_form(
    state: &AppState,
    request: &HttpRequest,
    presented: &str,
) -> Option<HttpResponse> {
    let cookie_matches = request
        .cookie(page_csrf_cookie(state))
        .is_some_and(|cookie| {
            !presented.is_empty()
                && bool::from(cookie.value().as_bytes().ct_eq(presented.as_bytes()))
        });
    if cookie_matches && from_trusted_origin(request, &state.options.trusted_origins) {
        return None;
    }
    let context = PageContext::new(state, request, "Please try again")
        .with_problem("This form expired or did not come from this site. Go back, reload the page and send it again.");
    let (page, cookie) = context.into_parts();
    Some(PageContext::render(
        cookie,
        state,
        StatusCode::FORBIDDEN,
        &MessagePage {
            page,
            link_href: "/login",
            link_text: "Back to sign-in",
        },
    ))
}

/// Why a form's credential was refused before any check.
pub(crate) const NOT_A_CREDENTIAL: &str = "must be a PublicKeyCredential";

/// The challenge and the credential a form carries. A credential that is not JSON is
/// refused as the API refuses a wrong shape.
pub(crate) fn ceremony_answer(
    challenge_id: &str,
    credential: &str,
) -> Result<(Option<CeremonyId>, Value), ApiError> {
    let credential: Value = serde_json::from_str(credential)
        .map_err(|_| ApiError::field("credential", NOT_A_CREDENTIAL))?;
    Ok((CeremonyId::parse(challenge_id.trim()), credential))
}
