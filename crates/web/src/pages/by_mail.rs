//! `/forgot-password`, and the pages the mails' links open: `/reset-password?token=`,
//! `/verify?token=` and `/not-me?token=`. Opening a link spends nothing (mail scanners
//! fetch links): the page's button does.

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, web};
use askama::Template;
use gatehouse_app::by_mail::{
    LinkError,
    not_me::{secure_with_link, way_of_link},
    reset_with_token, verify_with_token,
};
use gatehouse_domain::{Email, WayIn};
use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::{Audit, ClientContext, IpThrottled},
    pages::{
        Frame, MessagePage, PageContext, PageForm, csrf_field, page_user, problem_text, see_other,
        with_retry_after,
    },
    state::AppState,
};

#[derive(Template)]
#[template(path = "pages/forgot.html")]
struct ForgotPage {
    page: Frame,
    email: String,
    email_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/reset.html")]
struct ResetPage {
    page: Frame,
    token: String,
    password_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/not_me.html")]
struct NotMePage {
    page: Frame,
    what: &'static str,
    token: String,
    password_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/verify.html")]
struct VerifyPage {
    page: Frame,
    token: String,
}

/// `?token=` of a mail's link.
#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// A form with an email.
#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// A form with a mail's token (and, for a reset, the new password).
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

csrf_field!(ForgotForm, TokenForm);

/// A page saying `text`, with a link on.
fn message(
    state: &AppState,
    request: &HttpRequest,
    status: StatusCode,
    title: &'static str,
    text: Result<String, String>,
    link: (&'static str, &'static str),
) -> HttpResponse {
    let context = PageContext::new(state, request, title);
    let context = match text {
        Ok(good) => context.with_notice(good),
        Err(bad) => context.with_problem(bad),
    };
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        state,
        status,
        &MessagePage {
            page,
            link_href: link.0,
            link_text: link.1,
        },
    )
}

/// The answer for a link that no longer works.
fn dead_link(state: &AppState, request: &HttpRequest, error: &ApiError) -> HttpResponse {
    let text = if matches!(error, ApiError::BadRequest(_)) {
        "This link has expired or was used already. Ask for a new one.".to_owned()
    } else {
        problem_text(error)
    };
    message(
        state,
        request,
        error.status_code(),
        "This link does not work",
        Err(text),
        ("/forgot-password", "Ask for a new link"),
    )
}

/// `GET /forgot-password`.
pub async fn forgot_page(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let (page, cookie) = PageContext::new(&state, &request, "Forgot your password?").into_parts();
    PageContext::render(
        cookie,
        &state,
        StatusCode::OK,
        &ForgotPage {
            page,
            email: String::new(),
            email_error: None,
        },
    )
}

/// `POST /forgot-password`: the same answer whether or not an account has the address.
pub async fn forgot(
    state: web::Data<AppState>,
    request: HttpRequest,
    throttled: Result<IpThrottled, ApiError>,
    Audit(audit): Audit,
    PageForm(form): PageForm<ForgotForm>,
) -> HttpResponse {
    let parsed = throttled.and_then(|_| Email::parse(&form.email).map_err(ApiError::from));
    let email = match parsed {
        Ok(email) => email,
        Err(error) => {
            let email_error = match &error {
                ApiError::Validation(fields) => fields.first().map(|f| f.message.clone()),
                _ => None,
            };
            let (page, cookie) = PageContext::new(&state, &request, "Forgot your password?")
                .with_problem(problem_text(&error))
                .into_parts();
            let answer = PageContext::render(
                cookie,
                &state,
                error.status_code(),
                &ForgotPage {
                    page,
                    email: form.email.clone(),
                    email_error,
                },
            );
            return with_retry_after(answer, &error);
        }
    };
    state.account_mails.password_reset(email, audit);
    message(
        &state,
        &request,
        StatusCode::ACCEPTED,
        "Check your mail",
        Ok("If an account has this address, a link to set a new password is on its way. It works once, for a limited time.".to_owned()),
        ("/login", "Back to sign-in"),
    )
}

/// `GET /reset-password?token=`: the form; the token is not looked at yet.
pub async fn reset_page(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let (page, cookie) = PageContext::new(&state, &request, "Set a new password").into_parts();
    PageContext::render(
        cookie,
        &state,
        StatusCode::OK,
        &ResetPage {
            page,
            token: query.into_inner().token,
            password_error: None,
        },
    )
}

/// `POST /reset-password`: spends the token, sets the password, ends every session.
pub async fn reset(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<TokenForm>,
) -> HttpResponse {
    match reset_with_token(&state, &client, &form.token, form.new_password.clone()).await {
        Ok(()) => message(
            &state,
            &request,
            StatusCode::OK,
            "Password set",
            Ok("Your new password is set, and every session of your account has ended.".to_owned()),
            ("/login", "Sign in"),
        ),
        Err(LinkError::Invalid(invalid)) => {
            let (page, cookie) = PageContext::new(&state, &request, "Set a new password")
                .with_problem("Please choose another password.")
                .into_parts();
            PageContext::render(
                cookie,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                &ResetPage {
                    page,
                    token: form.token.clone(),
                    password_error: Some(invalid.reason),
                },
            )
        }
        Err(refused) => dead_link(&state, &request, &refused.into()),
    }
}

/// `GET /verify?token=`: the button; the token is not looked at yet.
pub async fn verify_page(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let (page, cookie) = PageContext::new(&state, &request, "Confirm your address").into_parts();
    PageContext::render(
        cookie,
        &state,
        StatusCode::OK,
        &VerifyPage {
            page,
            token: query.into_inner().token,
        },
    )
}

/// `POST /verify`: spends the token; the address is verified.
pub async fn verify(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<TokenForm>,
) -> HttpResponse {
    match verify_with_token(&state, &client, &form.token).await {
        Ok(user) => message(
            &state,
            &request,
            StatusCode::OK,
            "Address confirmed",
            Ok(format!("{} is verified.", user.email.as_str())),
            ("/account", "Go to your account"),
        ),
        Err(refused) => dead_link(&state, &request, &refused.into()),
    }
}

/// `GET /not-me?token=`: what was added, a `New password` field and the `Secure my
/// account` button; spends nothing.
pub async fn not_me_page(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let token = query.into_inner().token;
    match way_of_link(&state, &token).await {
        Ok(way) => not_me_form(&state, &request, way, token, None),
        Err(refused) => dead_link(&state, &request, &refused.into()),
    }
}

fn not_me_form(
    state: &AppState,
    request: &HttpRequest,
    way: WayIn,
    token: String,
    password_error: Option<String>,
) -> HttpResponse {
    let mut context = PageContext::new(state, request, "Was this you?");
    let status = if password_error.is_some() {
        context = context.with_problem("Please choose another password.");
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        state,
        status,
        &NotMePage {
            page,
            what: way.describe(),
            token,
            password_error,
        },
    )
}

/// `POST /not-me`: spends the link; the way in goes, the new password replaces the old,
/// every device is signed out. The page says what was done and what ways in remain.
pub async fn not_me(
    state: web::Data<AppState>,
    request: HttpRequest,
    throttled: Result<IpThrottled, ApiError>,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<TokenForm>,
) -> HttpResponse {
    if let Err(limited) = throttled {
        return please_wait(&state, &request, &limited, ("/login", "Back to sign-in"));
    }
    let new_password = form.new_password.clone();
    match secure_with_link(&state, &client, &form.token, new_password).await {
        Ok(secured) => {
            let what = secured.way.describe();
            let done = if secured.removed {
                format!("Your account is secured: {what} was removed")
            } else {
                format!("Your account is secured: {what} had been removed already")
            };
            let remaining = if secured.remaining.is_empty() {
                "Your password is now the only way to sign in.".to_owned()
            } else {
                format!(
                    "Still on your account: {}. If any of them is not yours, sign in and remove it from your account page.",
                    secured.remaining.join(", ")
                )
            };
            message(
                &state,
                &request,
                StatusCode::OK,
                "Account secured",
                Ok(format!(
                    "{done}, your new password is set, and every device is signed out. {remaining}"
                )),
                ("/login", "Sign in"),
            )
        }
        Err(LinkError::Invalid(invalid)) => match way_of_link(&state, &form.token).await {
            Ok(way) => not_me_form(
                &state,
                &request,
                way,
                form.token.clone(),
                Some(invalid.reason),
            ),
            Err(refused) => dead_link(&state, &request, &refused.into()),
        },
        Err(refused) => dead_link(&state, &request, &refused.into()),
    }
}

/// `POST /account/verify-mail`: the verification mail again, for the signed-in account.
pub async fn send_verification(
    state: web::Data<AppState>,
    request: HttpRequest,
    throttled: Result<IpThrottled, ApiError>,
    Audit(audit): Audit,
    _: PageForm<ForgotForm>,
) -> HttpResponse {
    let caller = match page_user(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    if let Err(limited) = throttled {
        let back = ("/account", "Back to your account");
        return please_wait(&state, &request, &limited, back);
    }
    if !caller.user.is_verified {
        state.account_mails.verify_email(caller.user.id, audit);
    }
    see_other("/account?sent=verification")
}

/// The page for a spent budget: when to come back, and the way back.
fn please_wait(
    state: &AppState,
    request: &HttpRequest,
    limited: &ApiError,
    back: (&'static str, &'static str),
) -> HttpResponse {
    let text = Err(problem_text(limited));
    let status = limited.status_code();
    let answer = message(state, request, status, "Please wait", text, back);
    with_retry_after(answer, limited)
}
