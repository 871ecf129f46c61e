//! The account page's two-step sign-in: setting up an authenticator app (a QR code drawn
//! on the server), its recovery codes, and turning it off.

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, web};
use askama::Template;
use gatehouse_auth::TotpSecret;
use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::{Audit, AuthenticatedUser, EMAIL_NOT_VERIFIED, require_account_assurance},
    mfa::{begin_totp_setup, confirm_totp_setup, disable_totp_of, totp_in_setup},
    pages::{
        Frame, PageContext, encode, error_page, page_user, problem_text, refuse_foreign_form,
        see_other, verify_first,
    },
    state::AppState,
};

#[derive(Template)]
#[template(path = "pages/totp.html")]
struct TotpPage {
    page: Frame,
    secret: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "pages/recovery_codes.html")]
struct RecoveryCodesPage {
    page: Frame,
    codes: Vec<String>,
    download_href: String,
}

/// A form with its token and, to confirm, the app's code.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

const TITLE: &str = "Set up an authenticator app";

/// Why a change to how one signs in was refused to a session signed in too long ago.
pub(crate) const SIGN_IN_AGAIN: &str = "Sign in again to change how you sign in";

/// The signed-in caller of a form post that changes how the account signs in; else the
/// answer.
pub(crate) async fn caller_for_change(
    state: &AppState,
    request: &HttpRequest,
    csrf: &str,
) -> Result<AuthenticatedUser, HttpResponse> {
    if let Some(refused) = refuse_foreign_form(state, request, csrf) {
        return Err(refused);
    }
    let caller = page_user(state, request).await?;
    if let Err(error) = may_change_sign_in(state, &caller).await {
        return Err(refusal(state, request, &error));
    }
    Ok(caller)
}

/// What the API's `FreshUser` requires, for the pages: a sign-in of the last few minutes
/// (the page session lasts days; its access token's lifetime still tells when it signed
/// in), which used the account's second factor if it has one. A session left open on a
/// shared computer, or a stolen cookie, cannot add a way in.
pub(crate) async fn may_change_sign_in(
    state: &AppState,
    caller: &AuthenticatedUser,
) -> Result<(), ApiError> {
    if !caller.claims.fresh || caller.claims.expires_at <= chrono::Utc::now() {
        return Err(ApiError::Forbidden(SIGN_IN_AGAIN));
    }
    require_account_assurance(state, caller).await
}

/// `POST /account/totp`: a new secret, shown as a QR code and as text.
pub async fn start(
    state: web::Data<AppState>,
    request: HttpRequest,
    web::Form(form): web::Form<CodeForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request, &form.csrf).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    match begin_totp_setup(&state, caller.user.id).await {
        Ok(secret) => setup_page(&state, &request, &caller, &secret, None),
        // On already: the account page says so.
        Err(ApiError::Conflict(_)) => see_other("/account"),
        Err(error @ ApiError::Forbidden(EMAIL_NOT_VERIFIED)) => {
            verify_first(&state, &request, &error)
        }
        Err(error) => error_page(&state, &request, &error),
    }
}

/// `POST /account/totp/confirm`: the app's code turns TOTP on; the recovery codes, once.
pub async fn confirm(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(audit): Audit,
    web::Form(form): web::Form<CodeForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request, &form.csrf).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    match confirm_totp_setup(&state, &caller, &audit, &form.code).await {
        Ok(codes) => {
            let text = codes.codes.join("\n") + "\n";
            let download_href = format!("data:text/plain;charset=utf-8,{}", encode(&text));
            let (page, cookie) =
                PageContext::new(&state, &request, "Your recovery codes").into_parts();
            PageContext::render(
                cookie,
                &state,
                StatusCode::OK,
                &RecoveryCodesPage {
                    page,
                    codes: codes.codes,
                    download_href,
                },
            )
        }
        Err(error @ ApiError::BadRequest(_)) => match totp_in_setup(&state, caller.user.id).await {
            Ok(Some(secret)) => setup_page(&state, &request, &caller, &secret, Some(&error)),
            Ok(None) => see_other("/account"),
            Err(failure) => error_page(&state, &request, &failure),
        },
        Err(ApiError::Conflict(_)) => see_other("/account"),
        Err(error @ ApiError::Forbidden(EMAIL_NOT_VERIFIED)) => {
            verify_first(&state, &request, &error)
        }
        Err(error) => error_page(&state, &request, &error),
    }
}

/// `POST /account/totp/disable`.
pub async fn disable(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(audit): Audit,
    web::Form(form): web::Form<CodeForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request, &form.csrf).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    match disable_totp_of(&state, &caller, &audit).await {
        Ok(()) | Err(ApiError::NotFound(_)) => see_other("/account?changed=totp"),
        Err(error) => error_page(&state, &request, &error),
    }
}

fn setup_page(
    state: &AppState,
    request: &HttpRequest,
    caller: &AuthenticatedUser,
    secret: &TotpSecret,
    error: Option<&ApiError>,
) -> HttpResponse {
    let uri = secret.otpauth_uri(&state.options.accounts.app_name, caller.user.email.as_str());
    let qr_svg = match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build(),
        Err(failure) => {
            tracing::error!(%failure, "QR code not drawn");
            String::new()
        }
    };
    // The SVG element alone: no XML declaration inside HTML.
    let qr_svg = qr_svg
        .find("<svg")
        .map_or(String::new(), |start| qr_svg[start..].to_owned());
    let mut context = PageContext::new(state, request, TITLE);
    let mut status = StatusCode::OK;
    if let Some(error) = error {
        context = context.with_problem(problem_text(error));
        status = error.status_code();
    }
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        state,
        status,
        &TotpPage {
            page,
            secret: secret.base32(),
            qr_svg,
        },
    )
}

/// The page for a refused change (a session signed in too long ago, or that skipped the
/// account's second factor): sign in again, then back to the account page.
pub(crate) fn refusal(state: &AppState, request: &HttpRequest, error: &ApiError) -> HttpResponse {
    let text = match error {
        ApiError::Forbidden(SIGN_IN_AGAIN) => format!("{SIGN_IN_AGAIN}."),
        other if other.status_code().is_client_error() => format!(
            "{} Sign in again, with your second factor.",
            problem_text(other)
        ),
        other => problem_text(other),
    };
    let (page, cookie) = PageContext::new(state, request, "Sign in again")
        .with_problem(text)
        .into_parts();
    PageContext::render(
        cookie,
        state,
        error.status_code(),
        &crate::pages::MessagePage {
            page,
            link_href: "/login?return_to=/account",
            link_text: "Sign in again",
        },
    )
}
