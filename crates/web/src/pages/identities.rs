//! The account page's identities at other providers: unlinking one (linking goes through
//! `/auth/oidc/{name}/link`, which sends the browser to the provider).

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use gatehouse_app::account::{AccountError, unlink_identity};
use gatehouse_domain::IdentityId;

use crate::{
    error::ApiError,
    extract::ClientContext,
    pages::{
        PageContext, PageForm,
        account::{TITLE, account_view},
        passkeys::PasskeyForm,
        second_factor::caller_for_change,
        see_other,
    },
    state::AppState,
};

/// `POST /account/identities/{id}/remove`: unlinks the identity, unless it is the
/// account's last way to sign in.
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
    let Some(id) = IdentityId::parse(&id) else {
        return see_other("/account");
    };
    let refused = match unlink_identity(&state, &client, caller.caller(), id).await {
        Ok(()) => return see_other("/account?changed=identity-removed"),
        // Someone else's or gone already: nothing to say.
        Err(AccountError::IdentityNotFound) => return see_other("/account"),
        Err(refused) => ApiError::from(refused),
    };
    let context = PageContext::new(&state, &request, TITLE).with_problem(format!(
        "{}: set a password (Forgot your password?) or add a passkey first.",
        refused
    ));
    account_view(&state, &request, &caller, context, refused.status_code()).await
}
