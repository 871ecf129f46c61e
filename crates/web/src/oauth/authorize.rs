//! The authorization endpoint (`GET` or `POST /oauth/authorize`) and its consent page.
//!
//! A request that names no known client, or a redirect URI the client did not register,
//! is answered with a 400 page and never redirected. Every other answer goes back to the
//! registered redirect URI with `state` and `iss` (RFC 9207): a code, or an error. The
//! user signs in on the pages first when needed (and comes back here), and is asked on a
//! consent page, whose answer is posted back here with the page's CSRF token.

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, http::header, web};
use askama::Template;
use gatehouse_app::provider::authorize::{
    self, Browser, ConsentAnswer, Decision, Target, TargetError,
};
use gatehouse_domain::{
    AuthorizationError, AuthorizationParameters, AuthorizationRequest, UntrustedTarget,
};

use crate::{
    error::ApiError,
    extract::{AuthenticatedUser, IpThrottled, audit_context},
    pages::{
        Frame, MessagePage, PageContext, allow_form_target, encode, error_page, problem_text,
        redirect_origin, refuse_foreign_form, signed_in_visitor, with_retry_after,
    },
    state::AppState,
};

/// The consent page.
#[derive(Template)]
#[template(path = "pages/consent.html")]
struct ConsentPage {
    page: Frame,
    client_name: String,
    redirect_host: String,
    scopes: Vec<&'static str>,
    email: String,
    /// The request's parameters, posted back with the answer.
    fields: Vec<(String, String)>,
}

/// The parameters of an authorization request (OIDC Core 3.1.2.1) the consent page
/// posts back; anything else a request carried stays behind (a `decision` smuggled into
/// the request must not reach the answer).
const AUTHORIZATION_PARAMETERS: [&str; 12] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "acr_values",
];

/// `GET /oauth/authorize`: the parameters in the query.
pub async fn authorize_get(
    throttled: Result<IpThrottled, ApiError>,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> HttpResponse {
    if let Err(limited) = throttled {
        return throttled_page(&state, &request, &limited);
    }
    let pairs = url::form_urlencoded::parse(request.query_string().as_bytes())
        .into_owned()
        .collect();
    authorize(&state, &request, pairs, None).await
}

/// `POST /oauth/authorize`: the parameters in the form; with `decision`, the consent
/// page's answer (which must be this site's own form).
pub async fn authorize_post(
    throttled: Result<IpThrottled, ApiError>,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(limited) = throttled {
        return throttled_page(&state, &request, &limited);
    }
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let mut take = |name: &str| {
        let index = pairs.iter().position(|(field, _)| field == name)?;
        Some(pairs.remove(index).1)
    };
    let csrf = take("csrf");
    let decision = take("decision");
    let answer = match decision.as_deref() {
        None => None,
        Some(decision) => {
            if let Some(refused) =
                refuse_foreign_form(&state, &request, csrf.as_deref().unwrap_or_default())
            {
                return refused;
            }
            Some(if decision == "allow" {
                ConsentAnswer::Allow
            } else {
                ConsentAnswer::Deny
            })
        }
    };
    authorize(&state, &request, pairs, answer).await
}

async fn authorize(
    state: &AppState,
    request: &HttpRequest,
    pairs: Vec<(String, String)>,
    answer: Option<ConsentAnswer>,
) -> HttpResponse {
    let parameters = AuthorizationParameters::from_pairs(pairs.iter().cloned());
    let target = match authorize::target(state, &parameters).await {
        Ok(target) => target,
        Err(TargetError::Untrusted(why)) => return untrusted_page(state, request, why),
        Err(TargetError::Failed(error)) => return error_page(state, request, &error.into()),
    };
    let issuer = issuer(state);
    let back = |outcome: Result<String, AuthorizationError>| {
        redirect(&target, &issuer, parameters.state(), outcome)
    };
    let authorization = match parameters.request() {
        Ok(authorization) => authorization,
        Err(error) => return back(Err(error)),
    };
    let signed_in = match signed_in_visitor(state, request).await {
        Ok(signed_in) => signed_in,
        Err(error) => return error_page(state, request, &error),
    };
    let browser = signed_in.as_ref().map(|caller| Browser {
        user: &caller.user,
        session: &caller.session,
    });
    let decision = authorize::decide(
        state,
        &audit_context(request),
        (&target, &authorization),
        browser,
        answer,
    )
    .await;
    match decision {
        Ok(Decision::Code(code)) => back(Ok(code)),
        Ok(Decision::Refuse(error)) => back(Err(error)),
        Ok(Decision::SignIn) => sign_in_first(&pairs, &authorization),
        Ok(Decision::Consent) => match signed_in {
            Some(caller) => consent_page(state, request, &target, &authorization, &caller, pairs),
            None => sign_in_first(&pairs, &authorization),
        },
        Err(error) => error_page(state, request, &error.into()),
    }
}

/// The issuer: `PUBLIC_URL` without a trailing slash.
pub(crate) fn issuer(state: &AppState) -> String {
    state
        .options
        .accounts
        .public_url
        .trim_end_matches('/')
        .to_owned()
}

/// 302 to the target's redirect URI with the code or the error, `state` and `iss`.
fn redirect(
    target: &Target,
    issuer: &str,
    state: Option<&str>,
    outcome: Result<String, AuthorizationError>,
) -> HttpResponse {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    match outcome {
        Ok(code) => {
            query.append_pair("code", &code);
        }
        Err(error) => {
            query.append_pair("error", error.code());
            query.append_pair("error_description", &error.description());
        }
    }
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    query.append_pair("iss", issuer);
    let separator = if target.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{}", target.redirect_uri, query.finish());
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// To the sign-in page, which comes back to this request without `prompt=login` and
/// `max_age` (the fresh sign-in answers both: `max_age=0` would otherwise ask forever),
/// `login_hint` filling `Email`.
fn sign_in_first(pairs: &[(String, String)], authorization: &AuthorizationRequest) -> HttpResponse {
    let mut again = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if name == "prompt" {
            let rest: Vec<&str> = value.split(' ').filter(|part| *part != "login").collect();
            if !rest.iter().all(|part| part.is_empty()) {
                again.append_pair(name, &rest.join(" "));
            }
        } else if name != "max_age" {
            again.append_pair(name, value);
        }
    }
    let return_to = format!("/oauth/authorize?{}", again.finish());
    let mut location = format!("/login?return_to={}", encode(&return_to));
    if let Some(hint) = &authorization.login_hint {
        location.push_str(&format!("&login_hint={}", encode(hint)));
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn consent_page(
    state: &AppState,
    request: &HttpRequest,
    target: &Target,
    authorization: &AuthorizationRequest,
    caller: &AuthenticatedUser,
    fields: Vec<(String, String)>,
) -> HttpResponse {
    let fields = fields
        .into_iter()
        .filter(|(name, _)| AUTHORIZATION_PARAMETERS.contains(&name.as_str()))
        .collect();
    let (page, cookie) = PageContext::new(state, request, "Allow access?").into_parts();
    let redirect_host = url::Url::parse(&target.redirect_uri)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    let mut response = PageContext::render(
        cookie,
        state,
        StatusCode::OK,
        &ConsentPage {
            page,
            client_name: target.client.settings.name.clone(),
            redirect_host,
            scopes: authorization
                .scopes
                .iter()
                .map(|scope| scope.in_words())
                .collect(),
            email: caller.user.email.as_str().to_owned(),
            fields,
        },
    );
    // The answer is posted here and redirected to the client: allowed by the policy.
    if let Some(origin) = redirect_origin(&target.redirect_uri) {
        allow_form_target(&mut response, &origin);
    }
    response
}

/// The page of a request over the network's budget (each one stores a code): 429 with
/// `Retry-After`.
fn throttled_page(state: &AppState, request: &HttpRequest, limited: &ApiError) -> HttpResponse {
    let (page, cookie) = PageContext::new(state, request, "Too many requests")
        .with_problem(problem_text(limited))
        .into_parts();
    let page = PageContext::render(
        cookie,
        state,
        limited.status_code(),
        &MessagePage {
            page,
            link_href: "/account",
            link_text: "Go to your account",
        },
    );
    with_retry_after(page, limited)
}

/// The 400 page of a request that cannot go back to its client.
fn untrusted_page(state: &AppState, request: &HttpRequest, why: UntrustedTarget) -> HttpResponse {
    let problem = match why {
        UntrustedTarget::UnknownClient => {
            "The app that sent you here is not registered (unknown client_id)."
        }
        UntrustedTarget::UnregisteredRedirect => {
            "The app that sent you here asked to send you back to an address it did not register (redirect_uri)."
        }
    };
    let (page, cookie) = PageContext::new(state, request, "Sign-in request refused")
        .with_problem(problem)
        .into_parts();
    PageContext::render(
        cookie,
        state,
        StatusCode::BAD_REQUEST,
        &MessagePage {
            page,
            link_href: "/account",
            link_text: "Go to your account",
        },
    )
}
