//! RP-initiated logout (`end_session_endpoint`): `GET /oauth/logout` signs the browser
//! out at once when its `id_token_hint` was issued for this browser's session; otherwise
//! it asks first (`Sign out`, posted back here with the page's CSRF token, as the
//! specification's `POST` form). Afterwards the browser goes to the client's registered
//! `post_logout_redirect_uri` (with `state`), or to a page saying it is signed out.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, http::header, web};
use askama::Template;
use gatehouse_app::{
    Client,
    provider::logout::{LogoutPlan, LogoutRequest, logout_plan},
    sessions::{self, Ending},
};

use crate::{
    cookies::cleared_cookies,
    extract::{AuthenticatedUser, ClientContext},
    pages::{
        Frame, MessagePage, PageContext, allow_form_target, error_page, new_page_csrf_cookie,
        redirect_origin, refuse_foreign_form, signed_in_visitor,
    },
    state::AppState,
};

/// The page that asks before signing out.
#[derive(Template)]
#[template(path = "pages/logout.html")]
struct LogoutPage {
    page: Frame,
    email: String,
    fields: Vec<(String, String)>,
}

/// The parameters RP-initiated logout reads, in the order sent.
const PARAMETERS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

/// `GET /oauth/logout`.
pub async fn logout_get(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
) -> HttpResponse {
    let pairs = url::form_urlencoded::parse(request.query_string().as_bytes())
        .into_owned()
        .collect();
    logout(&state, &request, &client, pairs, false).await
}

/// `POST /oauth/logout`: the `Sign out` button (or a client's form post, which then
/// asks like a `GET`).
pub async fn logout_post(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    body: web::Bytes,
) -> HttpResponse {
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let csrf = pairs
        .iter()
        .position(|(name, _)| name == "csrf")
        .map(|index| pairs.remove(index).1);
    let confirmed = match csrf {
        None => false,
        Some(csrf) => match refuse_foreign_form(&state, &request, &csrf) {
            Some(refused) => return refused,
            None => true,
        },
    };
    logout(&state, &request, &client, pairs, confirmed).await
}

async fn logout(
    state: &AppState,
    request: &HttpRequest,
    client: &Client,
    pairs: Vec<(String, String)>,
    confirmed: bool,
) -> HttpResponse {
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    };
    let plan = logout_plan(
        state,
        LogoutRequest {
            id_token_hint: value("id_token_hint"),
            client_id: value("client_id"),
            post_logout_redirect_uri: value("post_logout_redirect_uri"),
        },
    )
    .await;
    let plan = match plan {
        Ok(plan) => plan,
        Err(error) => return error_page(state, request, &error.into()),
    };
    let signed_in = match signed_in_visitor(state, request).await {
        Ok(signed_in) => signed_in,
        Err(error) => return error_page(state, request, &error),
    };
    let Some(caller) = signed_in else {
        return signed_out(state, request, &plan, value("state"));
    };
    let hinted = plan.hinted == Some((caller.user.id, caller.session.id));
    if !hinted && !confirmed {
        let fields = pairs
            .iter()
            .filter(|(name, _)| PARAMETERS.contains(&name.as_str()))
            .cloned()
            .collect();
        return ask_first(state, request, &caller, &plan, fields);
    }
    let ended = sessions::end_session(
        state,
        client,
        caller.user.id,
        caller.session.id,
        Ending::Logout,
    )
    .await;
    if let Err(error) = ended {
        return error_page(state, request, &error.into());
    }
    signed_out(state, request, &plan, value("state"))
}

/// The browser is signed out: its cookies go, and it goes to the registered URI or a
/// page saying so.
fn signed_out(
    state: &AppState,
    request: &HttpRequest,
    plan: &LogoutPlan,
    client_state: Option<&str>,
) -> HttpResponse {
    let mut response = match &plan.redirect {
        Some(uri) => {
            let mut location = uri.clone();
            if let Some(client_state) = client_state {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                query.append_pair("state", client_state);
                location.push(if uri.contains('?') { '&' } else { '?' });
                location.push_str(&query.finish());
            }
            let mut found = HttpResponse::Found();
            found
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            found.finish()
        }
        None => {
            let (page, cookie) =
                PageContext::new(state, request, "You are signed out").into_parts();
            PageContext::render(
                cookie,
                state,
                StatusCode::OK,
                &MessagePage {
                    page,
                    link_href: "/login",
                    link_text: "Sign in again",
                },
            )
        }
    };
    for cookie in cleared_cookies(state.options.cookie_secure) {
        let _ = response.add_cookie(&cookie);
    }
    let _ = response.add_cookie(&new_page_csrf_cookie(state));
    response
}

fn ask_first(
    state: &AppState,
    request: &HttpRequest,
    caller: &AuthenticatedUser,
    plan: &LogoutPlan,
    fields: Vec<(String, String)>,
) -> HttpResponse {
    let (page, cookie) = PageContext::new(state, request, "Sign out?").into_parts();
    let mut response = PageContext::render(
        cookie,
        state,
        StatusCode::OK,
        &LogoutPage {
            page,
            email: caller.user.email.as_str().to_owned(),
            fields,
        },
    );
    if let Some(origin) = plan.redirect.as_deref().and_then(redirect_origin) {
        allow_form_target(&mut response, &origin);
    }
    response
}
