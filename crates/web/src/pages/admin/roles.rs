//! `/admin/roles`: the roles, with how many accounts hold each; `Create role` and
//! `Delete` (asked again), through the admin API's flows.

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, web};
use askama::Template;
use gatehouse_app::roles::{RoleActor, RoleError, create_role, delete_role};
use gatehouse_domain::RoleName;
use serde::Deserialize;

use super::{ConfirmForm, DoneQuery, admin_for_change, admin_user, confirm};
use crate::{
    error::ApiError,
    extract::Audit,
    pages::{Frame, PageContext, PageForm, csrf_field, error_page, problem_text, see_other},
    state::AppState,
};

const TITLE: &str = "Roles";
const HERE: &str = "/admin/roles";

#[derive(Template)]
#[template(path = "pages/admin_roles.html")]
struct RolesPage {
    page: Frame,
    /// (name, description, members).
    roles: Vec<(String, String, u64)>,
    /// What the creation form held when it was refused.
    name: String,
    description: String,
}

/// `GET /admin/roles`.
pub async fn roles(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<DoneQuery>,
) -> HttpResponse {
    if let Err(answer) = admin_user(&state, &request).await {
        return answer;
    }
    let mut context = PageContext::new(&state, &request, TITLE);
    match query.done.as_deref() {
        Some("created") => context = context.with_notice("The role is made."),
        Some("deleted") => {
            context =
                context.with_notice("The role is deleted; the accounts that held it lost it.");
        }
        _ => {}
    }
    page(
        &state,
        &request,
        context,
        StatusCode::OK,
        (String::new(), String::new()),
    )
    .await
}

async fn page(
    state: &AppState,
    request: &HttpRequest,
    context: PageContext,
    status: StatusCode,
    (name, description): (String, String),
) -> HttpResponse {
    let roles = match state.roles.list().await {
        Ok(roles) => roles,
        Err(error) => return error_page(state, request, &error.into()),
    };
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        state,
        status,
        &RolesPage {
            page,
            roles: roles
                .into_iter()
                .map(|role| {
                    (
                        role.name.as_str().to_owned(),
                        role.description,
                        role.members,
                    )
                })
                .collect(),
            name,
            description,
        },
    )
}

/// The creation form.
#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

csrf_field!(RoleForm);

/// `POST /admin/roles`: `Create role`.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    PageForm(form): PageForm<RoleForm>,
) -> HttpResponse {
    let admin = match admin_for_change(&state, &request, HERE).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let acting = admin.as_actor(context);
    let description = Some(form.description.as_str()).filter(|text| !text.trim().is_empty());
    match create_role(
        &state.roles,
        RoleActor::Admin(&acting),
        &form.name,
        description,
    )
    .await
    {
        Ok(_) => see_other("/admin/roles?done=created"),
        Err(error) => {
            let error = ApiError::from(error);
            if error.status_code().is_server_error() {
                return error_page(&state, &request, &error);
            }
            let context =
                PageContext::new(&state, &request, TITLE).with_problem(problem_text(&error));
            page(
                &state,
                &request,
                context,
                error.status_code(),
                (form.name, form.description),
            )
            .await
        }
    }
}

/// `POST /admin/roles/delete` (the role's `name` in the form: a name of dots would not
/// survive in a path): asks first.
pub async fn delete(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    PageForm(form): PageForm<ConfirmForm>,
) -> HttpResponse {
    let admin = match admin_for_change(&state, &request, HERE).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let Ok(name) = RoleName::parse(form.name.trim()) else {
        return not_found(&state, &request).await;
    };
    if !form.is_confirmed() {
        let members = match state.roles.list().await {
            Ok(roles) => roles
                .into_iter()
                .find(|role| role.name == name)
                .map(|role| role.members),
            Err(error) => return error_page(&state, &request, &error.into()),
        };
        let Some(members) = members else {
            return not_found(&state, &request).await;
        };
        return confirm(
            &state,
            &request,
            (
                "Delete this role?",
                format!(
                    "The role {} goes, and the {members} account(s) holding it lose it; their tokens \
                 stop carrying it from their next refresh.",
                    name.as_str()
                ),
            ),
            ("/admin/roles/delete".to_owned(), "Delete", HERE.to_owned()),
            vec![("name", name.as_str().to_owned())],
        );
    }
    let acting = admin.as_actor(context);
    match delete_role(&state.roles, RoleActor::Admin(&acting), &name).await {
        Ok(_) => see_other("/admin/roles?done=deleted"),
        Err(RoleError::NotFound) => not_found(&state, &request).await,
        Err(error) => error_page(&state, &request, &error.into()),
    }
}

/// The roles page saying that no role has the name (deleted meanwhile, or never made).
async fn not_found(state: &AppState, request: &HttpRequest) -> HttpResponse {
    let context = PageContext::new(state, request, TITLE).with_problem("Role not found.");
    page(
        state,
        request,
        context,
        StatusCode::NOT_FOUND,
        (String::new(), String::new()),
    )
    .await
}
