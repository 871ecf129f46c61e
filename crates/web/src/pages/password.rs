//! `/account/password`: changing the password from the account page.

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use crate::{
    account::{dto::ChangePasswordIn, password::change_password_of},
    error::ApiError,
    extract::{ClientContext, IpThrottled, require_account_assurance},
    pages::{
        Frame, PageContext, PageForm, csrf_field, page_user, problem_text, see_other,
        with_retry_after,
    },
    state::AppState,
};

#[derive(Template)]
#[template(path = "pages/password.html")]
struct PasswordPage {
    page: Frame,
    email: String,
    current_error: Option<String>,
    new_error: Option<String>,
}

/// The change-password form's fields.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

csrf_field!(PasswordForm);

const TITLE: &str = "Change your password";

/// `GET /account/password`.
pub async fn password_page(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let caller = match page_user(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let (page, cookie) = PageContext::new(&state, &request, TITLE).into_parts();
    PageContext::render(
        cookie,
        &state,
        StatusCode::OK,
        &PasswordPage {
            page,
            email: caller.user.email.as_str().to_owned(),
            current_error: None,
            new_error: None,
        },
    )
}

/// `POST /account/password`: the current password (under the account's back-off) and
/// the new one; the other sessions end. An account with a second factor needs a session
/// that used it.
pub async fn change_password(
    state: web::Data<AppState>,
    request: HttpRequest,
    throttled: Result<IpThrottled, ApiError>,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<PasswordForm>,
) -> HttpResponse {
    let caller = match page_user(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let changed = async {
        throttled?;
        require_account_assurance(&state, &caller).await?;
        let body = ChangePasswordIn {
            current_password: Some(form.current_password.clone()),
            new_password: Some(form.new_password.clone()),
        };
        let change = body.parse(&caller.user.email)?;
        change_password_of(&state, &client, &caller, change).await
    }
    .await;
    let error = match changed {
        Ok(()) => return see_other("/account?changed=password"),
        Err(error) => error,
    };
    let mut current_error = None;
    let mut new_error = None;
    match &error {
        ApiError::Validation(fields) => {
            for field in fields {
                match field.field.as_str() {
                    "current_password" => current_error = Some(field.message.clone()),
                    _ => new_error = Some(field.message.clone()),
                }
            }
        }
        ApiError::Unauthorized { .. } => {
            current_error = Some("This is not your current password.".to_owned());
        }
        _ => {}
    }
    let (page, cookie) = PageContext::new(&state, &request, TITLE)
        .with_problem(problem_text(&error))
        .into_parts();
    let answer = PageContext::render(
        cookie,
        &state,
        error.status_code(),
        &PasswordPage {
            page,
            email: caller.user.email.as_str().to_owned(),
            current_error,
            new_error,
        },
    );
    with_retry_after(answer, &error)
}
