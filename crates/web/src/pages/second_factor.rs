//! The account page's two-step sign-in: setting up an authenticator app (a QR code drawn
//! on the server), its recovery codes, and turning it off.

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, web};
use askama::Template;
use gatehouse_app::account::{AccountError, totp};
use gatehouse_auth::TotpSecret;
use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::{AuthenticatedUser, ClientContext, SIGN_IN_AGAIN, fresh_sign_in},
    pages::{
        Frame, PageContext, PageForm, csrf_field, encode, error_page, page_user, problem_text,
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

csrf_field!(CodeForm);

const TITLE: &str = "Set up an authenticator app";

/// The signed-in caller of a form post that changes how the account signs in; else the
/// answer.
pub(crate) async fn caller_for_change(
    state: &AppState,
    request: &HttpRequest,
) -> Result<AuthenticatedUser, HttpResponse> {
    let caller = page_user(state, request).await?;
    if let Err(error) = fresh_sign_in(state, &caller, SIGN_IN_AGAIN).await {
        return Err(refusal(state, request, &error));
    }
    Ok(caller)
}

/// `POST /account/totp`: a new secret, shown as a QR code and as text.
pub async fn start(
    state: web::Data<AppState>,
    request: HttpRequest,
    _: PageForm<CodeForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    match totp::begin_totp_setup(&state, caller.user.id).await {
        Ok(secret) => setup_page(&state, &request, &caller, &secret, None),
        // On already: the account page says so.
        Err(AccountError::TotpAlreadyEnabled) => see_other("/account"),
        Err(refused @ AccountError::Unverified) => verify_first(&state, &request, &refused.into()),
        Err(refused) => error_page(&state, &request, &refused.into()),
    }
}

/// `POST /account/totp/confirm`: the app's code turns TOTP on; the recovery codes, once.
pub async fn confirm(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    PageForm(form): PageForm<CodeForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    match totp::confirm_totp_setup(&state, &client, caller.caller(), &form.code).await {
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
        Err(refused @ AccountError::InvalidCode) => {
            let error = ApiError::from(refused);
            match totp::totp_in_setup(&state, caller.user.id).await {
                Ok(Some(secret)) => setup_page(&state, &request, &caller, &secret, Some(&error)),
                Ok(None) => see_other("/account"),
                Err(failure) => error_page(&state, &request, &failure.into()),
            }
        }
        Err(AccountError::NoTotpSetup) => see_other("/account"),
        Err(refused @ AccountError::Unverified) => verify_first(&state, &request, &refused.into()),
        Err(refused) => error_page(&state, &request, &refused.into()),
    }
}

/// `POST /account/totp/disable`.
pub async fn disable(
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    _: PageForm<CodeForm>,
) -> HttpResponse {
    let caller = match caller_for_change(&state, &request).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    match totp::disable_totp(&state, &client, caller.caller()).await {
        Ok(()) | Err(AccountError::TotpNotEnabled) => see_other("/account?changed=totp"),
        Err(refused) => error_page(&state, &request, &refused.into()),
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
