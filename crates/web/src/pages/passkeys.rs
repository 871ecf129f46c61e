//! Passkeys on the pages: signing in with one ("Sign in with a passkey", and the browser's
//! autofill), and adding, renaming and removing them on the account page. (As the login's
//! second step, a passkey goes through `/login/second-step`.) The ceremonies run in the
//! browser, in `assets/passkeys.js`, the pages' only script: it fetches the options,
//! asks the authenticator, and posts what it answered in an ordinary form with the page's
//! CSRF token, so the server side is the same forms as the rest of the pages.

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use gatehouse_app::{
    Client, SignIn,
    account::passkeys::{add_passkey, remove_passkey, rename_passkey},
    signin::passkey_sign_in,
};
use gatehouse_domain::PasskeyName;
use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::{AuthenticatedUser, ClientContext, IpThrottled, SIGN_IN_AGAIN, fresh_sign_in},
    pages::{
        CsrfField, PageContext, PageForm,
        account::{TITLE as ACCOUNT_TITLE, account_view},
        csrf_field,
        form::ceremony_answer,
        page_user, problem_text, refuse_foreign_form, safe_return_to,
        second_factor::caller_for_change,
        see_other,
        sign_in::{login_form, sign_in_answer},
    },
    passkeys::{passkey_id, registration_options},
    state::AppState,
};

/// What the script posts once the authenticator answered (and the account page's
/// rename and remove forms): every field optional, a missing one is an empty one.
#[derive(Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    challenge_id: String,
    /// The credential as JSON (the browser's `PublicKeyCredential`, binary fields
    /// base64url).
    #[serde(default)]
    credential: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    name: String,
}

csrf_field!(PasskeyForm);

/// `POST /login/passkey`: the passkey the browser chose signs in (a fresh session at
/// `aal2`), then `return_to`; a refusal shows the sign-in page saying why.
pub async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<PasskeyForm>,
) -> HttpResponse {
    let return_to = safe_return_to(&state, &form.return_to);
    let answer = match passkey_session(&state, &client, &form).await {
        Ok(outcome) => sign_in_answer(&state, &request, outcome, return_to.clone()).await,
        Err(error) => {
            let context =
                PageContext::new(&state, &request, "Sign in").with_problem(problem_text(&error));
            login_form(
                &state,
                context,
                error.status_code(),
                String::new(),
                return_to.clone(),
            )
        }
    };
    crate::pages::allow_authorization_redirect(&state, answer, &return_to).await
}

async fn passkey_session(
    state: &AppState,
    client: &Client,
    form: &PasskeyForm,
) -> Result<SignIn, ApiError> {
    let (challenge, credential) = ceremony_answer(&form.challenge_id, &form.credential)?;
    Ok(passkey_sign_in(state, client, challenge, credential).await?)
}

/// `POST /account/passkeys/options` (by the script): options to add a passkey, as JSON;
/// the same checks as the account page's other changes.
///
/// The script reads JSON, so every refusal is a problem document here.
pub async fn options(
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    web::Form(form): web::Form<PasskeyForm>,
) -> HttpResponse {
    if refuse_foreign_form(&state, &request, form.csrf()).is_some() {
        return ApiError::Forbidden("This page expired: reload it").error_response();
    }
    let caller = match page_user(&state, &request).await {
        Ok(caller) => caller,
        // The service's own failure: the script says to try again.
        Err(answer) if answer.status().is_server_error() => return answer,
        Err(_) => return ApiError::invalid_token("Signed out: reload the page").error_response(),
    };
    let opened = async {
        fresh_sign_in(&state, &caller, SIGN_IN_AGAIN).await?;
        registration_options(&state, &caller).await
    };
    opened.await.unwrap_or_else(|error| error.error_response())
}

/// `POST /account/passkeys`: the passkey the browser made is added.
pub async fn add(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<PasskeyForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let added = async {
        let (challenge, credential) = ceremony_answer(&form.challenge_id, &form.credential)?;
        let name = optional_name(&form.name)?;
        let you = caller.caller();
        Ok::<_, ApiError>(add_passkey(&state, &client, you, challenge, credential, name).await?)
    };
    match added.await {
        Ok(_) => see_other("/account?changed=passkey-added"),
        Err(error) => refused(&state, &request, &caller, &error).await,
    }
}

/// `POST /account/passkeys/{id}/rename`.
pub async fn rename(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
    PageForm(form): PageForm<PasskeyForm>,
) -> HttpResponse {
    let caller = match page_user(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let renamed = async {
        let id = passkey_id(&id)?;
        let name = PasskeyName::parse(&form.name)
            .map_err(|invalid| ApiError::Validation(vec![invalid.into()]))?;
        Ok::<_, ApiError>(rename_passkey(&state, caller.user.id, id, &name).await?)
    };
    match renamed.await {
        Ok(_) => see_other("/account?changed=passkey-renamed"),
        Err(error) => refused(&state, &request, &caller, &error).await,
    }
}

/// `POST /account/passkeys/{id}/remove`: the passkey goes, and the other sessions end.
pub async fn remove(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    id: web::Path<String>,
    _: PageForm<PasskeyForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let removed = async {
        let id = passkey_id(&id)?;
        Ok::<_, ApiError>(remove_passkey(&state, &client, caller.caller(), id).await?)
    };
    match removed.await {
        Ok(()) => see_other("/account?changed=passkey-removed"),
        Err(error) => refused(&state, &request, &caller, &error).await,
    }
}

/// A blank name is no name (the server numbers it).
fn optional_name(raw: &str) -> Result<Option<PasskeyName>, ApiError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    PasskeyName::parse(raw)
        .map(Some)
        .map_err(|invalid| ApiError::Validation(vec![invalid.into()]))
}

/// The account page saying why a passkey change was refused.
async fn refused(
    state: &AppState,
    request: &HttpRequest,
    caller: &AuthenticatedUser,
    error: &ApiError,
) -> HttpResponse {
    let context = PageContext::new(state, request, ACCOUNT_TITLE).with_problem(problem_text(error));
    account_view(state, request, caller, context, error.status_code()).await
}
