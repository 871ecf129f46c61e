//! `/login` (and its second step) and `/register`: the API's sign-in flows behind forms.

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, web};
use askama::Template;
use gatehouse_app::{
    SignIn, SignInError,
    signin::{
        Grant, finish_second_step, open_session, password_sign_in, register as create_account,
    },
};
use gatehouse_domain::parse_totp_code;
use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::{ClientContext, IpThrottled},
    mfa::dto::MfaVerifyIn,
    pages::{
        Frame, MessagePage, PageContext, PageForm, allow_authorization_redirect, csrf_field,
        form::NOT_A_CREDENTIAL, problem_text, safe_return_to, signed_in, with_retry_after,
    },
    signin::dto::{Login, LoginIn, RegisterIn, Registration},
    state::AppState,
};

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    page: Frame,
    email: String,
    return_to: String,
    /// A button per provider: (its start address, its label).
    providers: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "pages/second_step.html")]
struct SecondStepPage {
    page: Frame,
    mfa_token: String,
    return_to: String,
    /// Whether the account has a passkey to offer.
    passkey: bool,
}

#[derive(Template)]
#[template(path = "pages/register.html")]
struct RegisterPage {
    page: Frame,
    email: String,
    email_error: Option<String>,
    password_error: Option<String>,
}

/// `?return_to=` of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct ReturnTo {
    #[serde(default)]
    return_to: String,
    /// An OpenID client's `login_hint`: fills `Email`.
    #[serde(default)]
    login_hint: String,
}

/// The sign-in form's fields (all optional: a missing one is an empty one).
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
}

/// The second step's fields.
#[derive(Deserialize)]
pub struct SecondStepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mfa_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    return_to: String,
    /// Whether the page offered a passkey (shown again after a refusal).
    #[serde(default)]
    passkey: String,
    /// A passkey's answer (from the script), instead of a code.
    #[serde(default)]
    challenge_id: String,
    #[serde(default)]
    credential: String,
}

/// The sign-up form's fields.
#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

csrf_field!(LoginForm, SecondStepForm, RegisterForm);

pub(crate) fn login_form(
    state: &AppState,
    context: PageContext,
    status: StatusCode,
    email: String,
    return_to: String,
) -> HttpResponse {
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        state,
        status,
        &LoginPage {
            page,
            email,
            providers: state
                .providers
                .iter()
                .map(|provider| {
                    let config = provider.config();
                    let start = format!(
                        "/auth/oidc/{}/start?return_to={}",
                        config.name,
                        super::encode(&return_to)
                    );
                    (start, config.label.clone())
                })
                .collect(),
            return_to,
        },
    )
}

/// `GET /login`.
pub async fn login_page(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<ReturnTo>,
) -> HttpResponse {
    let return_to = safe_return_to(&state, &query.return_to);
    let context = PageContext::new(&state, &request, "Sign in");
    let hint: String = query.login_hint.trim().chars().take(320).collect();
    let page = login_form(&state, context, StatusCode::OK, hint, return_to.clone());
    allow_authorization_redirect(&state, page, &return_to).await
}

/// `POST /login`: the password; then the account page (or `return_to`), or the second
/// step when the account has a second factor.
pub async fn login(
    state: web::Data<AppState>,
    request: HttpRequest,
    throttled: Result<IpThrottled, ApiError>,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<LoginForm>,
) -> HttpResponse {
    let return_to = safe_return_to(&state, &form.return_to);
    let refuse = |error: ApiError| {
        let context =
            PageContext::new(&state, &request, "Sign in").with_problem(problem_text(&error));
        let page = login_form(
            &state,
            context,
            error.status_code(),
            form.email.clone(),
            return_to.clone(),
        );
        with_retry_after(page, &error)
    };
    if let Err(limited) = throttled {
        return refuse(limited);
    }
    let body = LoginIn {
        email: Some(form.email.clone()),
        password: Some(form.password.clone()),
    };
    let Login { email, password } = match body.try_into() {
        Ok(login) => login,
        Err(invalid) => return refuse(invalid),
    };
    let answer = match password_sign_in(&state, &client, &email, password, Grant::Login).await {
        Ok(outcome) => sign_in_answer(&state, &request, outcome, return_to.clone()).await,
        Err(refused) => refuse(refused.into()),
    };
    allow_authorization_redirect(&state, answer, &return_to).await
}

/// The pages' answer to a sign-in: signed in (the browser session, then `return_to`), or
/// the second step still to take.
pub(crate) async fn sign_in_answer(
    state: &AppState,
    request: &HttpRequest,
    outcome: SignIn,
    return_to: String,
) -> HttpResponse {
    match outcome {
        SignIn::Session(session) => signed_in(state, &session, &return_to).await,
        SignIn::SecondStep(step) => {
            let passkey = step.offers_passkey();
            second_step_page(state, request, step.mfa_token, return_to, passkey)
        }
    }
}

/// The second step of a sign-in whose first step passed (a password, or another
/// provider): a code field, and a passkey when the account has one.
pub(crate) fn second_step_page(
    state: &AppState,
    request: &HttpRequest,
    mfa_token: String,
    return_to: String,
    passkey: bool,
) -> HttpResponse {
    let (page, cookie) = PageContext::new(state, request, "Second step").into_parts();
    PageContext::render(
        cookie,
        state,
        StatusCode::OK,
        &SecondStepPage {
            page,
            mfa_token,
            return_to,
            passkey,
        },
    )
}

/// `POST /login/second-step`: a TOTP code or a recovery code (told apart by their shape).
pub async fn second_step(
    state: web::Data<AppState>,
    request: HttpRequest,
    throttled: Result<IpThrottled, ApiError>,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<SecondStepForm>,
) -> HttpResponse {
    let return_to = safe_return_to(&state, &form.return_to);
    let again = |error: ApiError| {
        let (page, cookie) = PageContext::new(&state, &request, "Second step")
            .with_problem(problem_text(&error))
            .into_parts();
        let answer = PageContext::render(
            cookie,
            &state,
            error.status_code(),
            &SecondStepPage {
                page,
                mfa_token: form.mfa_token.clone(),
                return_to: return_to.clone(),
                passkey: !form.passkey.is_empty(),
            },
        );
        with_retry_after(answer, &error)
    };
    if let Err(limited) = throttled {
        return again(limited);
    }
    let body = if form.credential.is_empty() {
        let is_totp = parse_totp_code(&form.code).is_some();
        MfaVerifyIn {
            mfa_token: Some(form.mfa_token.clone()),
            code: is_totp.then(|| form.code.clone()),
            recovery_code: (!is_totp).then(|| form.code.clone()),
            challenge_id: None,
            credential: None,
        }
    } else {
        match serde_json::from_str(&form.credential) {
            Ok(credential) => MfaVerifyIn {
                mfa_token: Some(form.mfa_token.clone()),
                code: None,
                recovery_code: None,
                challenge_id: Some(form.challenge_id.clone()),
                credential: Some(credential),
            },
            Err(_) => return again(ApiError::field("credential", NOT_A_CREDENTIAL)),
        }
    };
    let (token, proof) = match body.parse() {
        Ok(parsed) => parsed,
        Err(invalid) => return again(invalid),
    };
    let answer = match finish_second_step(&state, &client, &token, proof).await {
        Ok(outcome) => sign_in_answer(&state, &request, outcome, return_to.clone()).await,
        // A dead `mfa_token` cannot be tried again: back to the password.
        Err(SignInError::InvalidMfaToken) => {
            let context = PageContext::new(&state, &request, "Sign in")
                .with_problem("Your sign-in expired. Please start again.");
            let status = ApiError::from(SignInError::InvalidMfaToken).status_code();
            login_form(&state, context, status, String::new(), return_to.clone())
        }
        Err(refused) => again(refused.into()),
    };
    allow_authorization_redirect(&state, answer, &return_to).await
}

/// `GET /register`.
pub async fn register_page(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let (page, cookie) = PageContext::new(&state, &request, "Create an account").into_parts();
    PageContext::render(
        cookie,
        &state,
        StatusCode::OK,
        &RegisterPage {
            page,
            email: String::new(),
            email_error: None,
            password_error: None,
        },
    )
}

/// `POST /register`: the account, then signed in to the account page (or, when logins
/// need a verified address, a page saying to check the mail).
pub async fn register(
    state: web::Data<AppState>,
    request: HttpRequest,
    throttled: Result<IpThrottled, ApiError>,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<RegisterForm>,
) -> HttpResponse {
    let again = |error: ApiError| {
        let mut email_error = None;
        let mut password_error = None;
        let mut context = PageContext::new(&state, &request, "Create an account");
        match &error {
            ApiError::Validation(fields) => {
                for field in fields {
                    match field.field.as_str() {
                        "email" => email_error = Some(capitalized(&field.message)),
                        "password" => password_error = Some(capitalized(&field.message)),
                        _ => {}
                    }
                }
                context = context.with_problem("Please correct the fields below.");
            }
            ApiError::Conflict(detail) => {
                email_error = Some(format!("{detail}."));
                context = context.with_problem("Please correct the fields below.");
            }
            other => context = context.with_problem(problem_text(other)),
        }
        let (page, cookie) = context.into_parts();
        let answer = PageContext::render(
            cookie,
            &state,
            error.status_code(),
            &RegisterPage {
                page,
                email: form.email.clone(),
                email_error,
                password_error,
            },
        );
        with_retry_after(answer, &error)
    };
    if let Err(limited) = throttled {
        return again(limited);
    }
    let body = RegisterIn {
        email: Some(form.email.clone()),
        password: Some(form.password.clone()),
    };
    let user = match body.try_into() {
        Ok(Registration { email, password }) => {
            match create_account(&state, &client, email, password).await {
                Ok(user) => user,
                Err(error) => return again(error.into()),
            }
        }
        Err(invalid) => return again(invalid),
    };
    if state.options.accounts.require_verified_email {
        let (page, cookie) = PageContext::new(&state, &request, "Check your mail")
            .with_notice(format!(
                "Your account is ready. We sent a link to {} to confirm the address; follow it, then sign in.",
                user.email.as_str()
            ))
            .into_parts();
        return PageContext::render(
            cookie,
            &state,
            StatusCode::CREATED,
            &MessagePage {
                page,
                link_href: "/login",
                link_text: "Sign in",
            },
        );
    }
    let assurance = gatehouse_domain::Assurance::password();
    match open_session(&state, &client, &user, assurance, None).await {
        Ok(session) => signed_in(&state, &session, super::HOME).await,
        Err(error) => super::error_page(&state, &request, &error.into()),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
