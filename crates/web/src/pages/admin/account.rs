//! The buttons of an account's page: each checks the form, the administrator and their
//! sign-in, runs the admin API's flow with the administrator as actor, and goes back to
//! the account's page saying what was done (or shows it with what was refused).

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use gatehouse_app::{
    admin::{
        AccountChange, change_account, delete_account, end_account_session, reset_second_factor,
        send_reset_link,
    },
    roles::{RoleActor, RoleError, grant_role, revoke_role},
};
use gatehouse_domain::{AuditContext, RoleName, SessionId, UserId};
use serde::Deserialize;

use super::{ConfirmForm, admin_for_change, confirm, users, version_of};
use crate::{
    error::ApiError,
    extract::{Audit, AuthenticatedUser},
    pages::{PageContext, PageForm, csrf_field, error_page, problem_text, see_other},
    state::AppState,
};

/// The account a form is about, and the administrator acting on it (as the audit events
/// name them); else the answer.
async fn acting_on(
    state: &AppState,
    request: &HttpRequest,
    raw_id: &str,
    context: AuditContext,
) -> Result<(UserId, AuthenticatedUser, AuditContext), HttpResponse> {
    let id = UserId::parse(raw_id);
    let back = id.map_or_else(
        || "/admin/users".to_owned(),
        |id| format!("/admin/users/{id}"),
    );
    let admin = admin_for_change(state, request, &back).await?;
    let Some(id) = id else {
        return Err(users::no_such_account(state, request));
    };
    let acting = admin.as_actor(context);
    Ok((id, admin, acting))
}

/// Back to account `id`'s page, which says `done`.
fn done(id: UserId, done: &str) -> HttpResponse {
    see_other(&format!("/admin/users/{id}?done={done}"))
}

/// Account `id`'s page showing why `error` refused the change; the error page for a
/// failure of the service.
async fn refused(
    state: &AppState,
    request: &HttpRequest,
    id: UserId,
    error: ApiError,
) -> HttpResponse {
    let status = error.status_code();
    if status.is_server_error() {
        return error_page(state, request, &error);
    }
    let context = PageContext::new(state, request, "User").with_problem(problem_text(&error));
    users::account_page(state, request, id, context, status).await
}

/// `POST /admin/users/{id}/sessions/{session}/end`.
pub async fn end_session(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    path: web::Path<(String, String)>,
    _: PageForm<ConfirmForm>,
) -> HttpResponse {
    let (raw_id, raw_session) = path.into_inner();
    let (id, _, acting) = match acting_on(&state, &request, &raw_id, context).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    // A session id that is no id names no session of the account: nothing to end.
    let Some(session) = SessionId::parse(&raw_session) else {
        let error = ApiError::NotFound("This account has no such session");
        return refused(&state, &request, id, error).await;
    };
    match end_account_session(&state, &acting, id, session).await {
        Ok(true) => done(id, "ended"),
        Ok(false) => {
            let error = ApiError::NotFound("This account has no such session");
            refused(&state, &request, id, error).await
        }
        Err(error) => refused(&state, &request, id, error.into()).await,
    }
}

/// `POST /admin/users/{id}/second-factor/reset`: asks first.
pub async fn reset_factors(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    PageForm(form): PageForm<ConfirmForm>,
) -> HttpResponse {
    let (id, _, acting) = match acting_on(&state, &request, &raw_id, context).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let version = match account_version(&state, id).await {
        Ok(version) => version,
        Err(error) => return error_page(&state, &request, &error),
    };
    if !form.is_confirmed() {
        let email = match state.users.find_by_id(id).await {
            Ok(Some(user)) => user.email.as_str().to_owned(),
            Ok(None) => return users::no_such_account(&state, &request),
            Err(error) => return error_page(&state, &request, &error.into()),
        };
        return confirm(
            &state,
            &request,
            (
                "Reset the second factor?",
                format!(
                    "This removes the authenticator app, the recovery codes and every passkey of \
                 {email}, and ends all its sessions; its owner is told by mail. Do it only once \
                 you are sure the person asking owns the account."
                ),
            ),
            (
                format!("/admin/users/{id}/second-factor/reset"),
                "Reset second factor",
                format!("/admin/users/{id}"),
            ),
            vec![("version", version)],
        );
    }
    if form.version != version {
        let error = ApiError::Conflict(
            "The account changed after the question was asked (was the page sent twice?); nothing was reset",
        );
        return refused(&state, &request, id, error).await;
    }
    match reset_second_factor(&state, &acting, id).await {
        Ok(()) => done(id, "mfa-reset"),
        Err(error) => refused(&state, &request, id, error.into()).await,
    }
}

/// Where account `id`'s story stands: its newest audit event. A reset, and whatever
/// else happens to the account, moves it on, so a confirmation sent again (a reloaded
/// page) does not reset a second factor set up since.
async fn account_version(state: &AppState, id: UserId) -> Result<String, ApiError> {
    let about = gatehouse_persistence::AuditFilter {
        user_id: Some(id),
        ..Default::default()
    };
    let (newest, _) = state.audit.list(&about, None, 1).await?;
    let newest = newest.first().map_or(0, |event| event.id);
    Ok(version_of(&newest.to_string()))
}

/// A role to grant.
#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

csrf_field!(GrantForm);

/// `POST /admin/users/{id}/roles`: `Grant`.
pub async fn grant(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    PageForm(form): PageForm<GrantForm>,
) -> HttpResponse {
    let (id, _, acting) = match acting_on(&state, &request, &raw_id, context).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let granted = match RoleName::parse(form.role.trim()) {
        Ok(name) => grant_role(&state.roles, RoleActor::Admin(&acting), id, &name).await,
        Err(_) => Err(RoleError::NotFound),
    };
    match granted {
        Ok(_) => done(id, "granted"),
        Err(error) => refused(&state, &request, id, error.into()).await,
    }
}

/// `POST /admin/users/{id}/roles/revoke`: `Revoke` the form's `role` (one not held:
/// nothing).
pub async fn revoke(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    PageForm(form): PageForm<GrantForm>,
) -> HttpResponse {
    let (id, _, acting) = match acting_on(&state, &request, &raw_id, context).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(name) = RoleName::parse(form.role.trim()) else {
        return done(id, "revoked");
    };
    match revoke_role(&state.roles, RoleActor::Admin(&acting), id, &name).await {
        Ok(_) => done(id, "revoked"),
        Err(error) => refused(&state, &request, id, error.into()).await,
    }
}

/// Applies `change` to the account of the path, then back to its page saying `said`.
async fn change(
    state: &AppState,
    request: &HttpRequest,
    (raw_id, context): (&str, AuditContext),
    change: AccountChange,
    said: &str,
) -> HttpResponse {
    let (id, _, acting) = match acting_on(state, request, raw_id, context).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    match change_account(state, &acting, id, change).await {
        Ok(_) => done(id, said),
        Err(error) => refused(state, request, id, error.into()).await,
    }
}

/// `POST /admin/users/{id}/deactivate`: its sessions end (not the last active superuser).
pub async fn deactivate(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    _: PageForm<ConfirmForm>,
) -> HttpResponse {
    let to_inactive = AccountChange {
        is_active: Some(false),
        ..AccountChange::default()
    };
    change(
        &state,
        &request,
        (&raw_id, context),
        to_inactive,
        "deactivated",
    )
    .await
}

/// `POST /admin/users/{id}/activate`.
pub async fn activate(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    _: PageForm<ConfirmForm>,
) -> HttpResponse {
    let to_active = AccountChange {
        is_active: Some(true),
        ..AccountChange::default()
    };
    change(&state, &request, (&raw_id, context), to_active, "activated").await
}

/// `POST /admin/users/{id}/mark-verified`.
pub async fn mark_verified(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    _: PageForm<ConfirmForm>,
) -> HttpResponse {
    let to_verified = AccountChange {
        is_verified: Some(true),
        ..AccountChange::default()
    };
    change(
        &state,
        &request,
        (&raw_id, context),
        to_verified,
        "verified",
    )
    .await
}

/// `POST /admin/users/{id}/reset-link`: `Send reset link`.
pub async fn reset_link(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    _: PageForm<ConfirmForm>,
) -> HttpResponse {
    let (id, _, acting) = match acting_on(&state, &request, &raw_id, context).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    match send_reset_link(&state, &acting, id).await {
        Ok(_) => done(id, "reset-link"),
        Err(error) => refused(&state, &request, id, error.into()).await,
    }
}

/// The address typed to confirm a deletion.
#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

csrf_field!(DeleteForm);

/// Why a deletion was not done: the address typed is not the account's.
const NOT_ITS_ADDRESS: &str = "The email typed is not this account's; nothing was deleted";

/// `POST /admin/users/{id}/delete`: `Delete`, once the account's address is typed.
pub async fn delete(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    PageForm(form): PageForm<DeleteForm>,
) -> HttpResponse {
    let (id, _, acting) = match acting_on(&state, &request, &raw_id, context).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let user = match state.users.find_by_id(id).await {
        Ok(Some(user)) => user,
        Ok(None) => return users::no_such_account(&state, &request),
        Err(error) => return error_page(&state, &request, &error.into()),
    };
    if !form.email.trim().eq_ignore_ascii_case(user.email.as_str()) {
        let error = ApiError::BadRequest(NOT_ITS_ADDRESS.to_owned());
        return refused(&state, &request, id, error).await;
    }
    match delete_account(&state, &acting, id).await {
        Ok(()) => see_other("/admin/users?done=deleted"),
        Err(error) => refused(&state, &request, id, error.into()).await,
    }
}
