//! The account page's identities at other providers: unlinking one (linking goes through
//! `/auth/oidc/{name}/link`, which sends the browser to the provider).

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use gatehouse_domain::{AuditEventType, IdentityId, NewAuditEvent};
use gatehouse_persistence::IdentityRemoval;

use crate::{
    error::ApiError,
    extract::Audit,
    federation::identities::LAST_WAY,
    pages::{
        PageContext,
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
    Audit(audit): Audit,
    id: web::Path<String>,
    web::Form(form): web::Form<PasskeyForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request, form.csrf()).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let Some(id) = IdentityId::parse(&id) else {
        return see_other("/account");
    };
    let now = Utc::now();
    let event = NewAuditEvent::new(
        AuditEventType::IdentityRemoved,
        Some(caller.user.id),
        &audit,
        now,
    )
    .in_session(caller.session.id)
    .with("identity_id", id.to_string());
    let removed = state
        .identities
        .remove(caller.user.id, id, caller.session.id, now, &event)
        .await;
    let refused = match removed {
        Ok(IdentityRemoval::Removed) => return see_other("/account?changed=identity-removed"),
        // Someone else's or gone already: nothing to say.
        Ok(IdentityRemoval::NotFound) => return see_other("/account"),
        Ok(IdentityRemoval::LastWayToSignIn) => ApiError::Conflict(LAST_WAY),
        Err(error) => ApiError::from(error),
    };
    let context = PageContext::new(&state, &request, TITLE).with_problem(format!(
        "{}: set a password (Forgot your password?) or add a passkey first.",
        refused
    ));
    account_view(&state, &request, &caller, context, refused.status_code()).await
}
