//! The provider sends the browser back: the flow (`gatehouse_app::federation`) takes the
//! sign-in, exchanges the code, checks the ID token and signs in, links or creates the
//! account by the rules of `docs/API.md`; here its outcome becomes the browser's answer.
//! Every failure answers the sign-in page saying why (a problem document with the pages
//! off), with nobody signed in and nothing created.

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use gatehouse_app::{
    SignIn,
    federation::{Federated, ProviderReturn, finish_federation},
};
use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::ClientContext,
    federation::binding_cookie_name,
    pages::{
        PageContext, problem_text, see_other,
        sign_in::{login_form, second_step_page},
        signed_in,
    },
    state::AppState,
};

/// What the provider sends back.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Where the provider sends the browser back (`{PUBLIC_URL}/auth/oidc/{name}/callback`).
#[utoipa::path(
    get,
    path = "/auth/oidc/{name}/callback",
    tag = "federation",
    params(
        ("name" = String, Path, description = "A provider of `OIDC_PROVIDERS`"),
        ("state" = String, Query, description = "As `start` sent it"),
        ("code" = String, Query, description = "The provider's authorization code"),
    ),
    responses(
        (status = 303, description = "Signed in (the cookie session) or linked: to `return_to`"),
        (status = 200, description = "The account has a second factor: the sign-in page's second step"),
        (status = 401, description = "`Invalid or expired sign-in: start again` (unknown, used, expired, or another browser's `state`) or `Sign-in with the provider failed` (the code or the ID token refused): the sign-in page, nobody signed in"),
        (status = 403, description = "`Inactive user`, or `Email not verified` (with `REQUIRE_VERIFIED_EMAIL`)"),
        (status = 404, description = "`Unknown provider`"),
        (status = 409, description = "`An account with this email exists; sign in and link it from your account page`, or, for a link, `This identity is linked to another account`"),
    )
)]
pub async fn callback(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    name: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let browser = request.cookie(binding_cookie_name(&state));
    let returned = ProviderReturn {
        state: query.state.as_deref(),
        code: query.code.as_deref(),
        error: query.error.is_some(),
        browser: browser.as_ref().map(|cookie| cookie.value()),
    };
    let finished = finish_federation(&state, &client, &name, returned).await;
    let mut answer = match finished.map_err(ApiError::from) {
        Ok((Federated::SignIn(SignIn::Session(session)), return_to)) => {
            signed_in(&state, &session, &return_to).await
        }
        Ok((Federated::Linked, return_to)) => see_other(&return_to),
        Ok((Federated::SignIn(SignIn::SecondStep(step)), return_to)) => {
            let passkey = step.offers_passkey();
            let page =
                second_step_page(&state, &request, step.mfa_token, return_to.clone(), passkey);
            crate::pages::allow_authorization_redirect(&state, page, &return_to).await
        }
        Err(error) if !state.options.ui_enabled => error.error_response(),
        Err(error) => {
            let context =
                PageContext::new(&state, &request, "Sign in").with_problem(problem_text(&error));
            login_form(
                &state,
                context,
                error.status_code(),
                String::new(),
                crate::pages::HOME.to_owned(),
            )
        }
    };
    // The binding has served (or failed): the browser forgets it.
    let mut gone = actix_web::cookie::Cookie::build(binding_cookie_name(&state), "")
        .path("/")
        // (`__Host-` cookies are replaced only by secure ones.)
        .secure(state.options.cookie_secure)
        .finish();
    gone.make_removal();
    let _ = answer.add_cookie(&gone);
    answer
}
