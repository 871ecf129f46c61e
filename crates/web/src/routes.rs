//! Route registration: every feature's routes, mounted in one place.

use actix_web::{
    FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder,
    http::{Method, header},
    web,
};

use crate::{
    account::{self, by_mail, password},
    admin, audit,
    error::ApiError,
    federation::{self, callback::callback, identities},
    keys,
    mfa::{self, second_step},
    oauth::clients,
    operations,
    passkeys::{self, sign_in},
    roles, sessions, signin,
    signin::refresh,
};

/// Registers every route and routes actix's own extractor errors (path, query, form,
/// JSON) into [`ApiError`], so they answer as problem documents too.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default().error_handler(|err, _| ApiError::field("path", err).into()),
    )
    .app_data(
        web::QueryConfig::default().error_handler(|err, _| ApiError::field("query", err).into()),
    )
    .app_data(web::FormConfig::default().error_handler(form_error))
    .app_data(web::JsonConfig::default().error_handler(json_error))
    .service(only(Method::POST, "/auth/register", signin::register))
    .service(only(Method::POST, "/auth/login", signin::login))
    .service(only(Method::POST, "/auth/token", signin::token))
    .service(only(Method::POST, "/auth/refresh", refresh::refresh))
    .service(only(Method::POST, "/auth/logout", sessions::logout))
    .service(only(Method::POST, "/auth/logout-all", sessions::logout_all))
    .service(only(Method::GET, "/auth/sessions", sessions::list_sessions))
    .service(only(
        Method::DELETE,
        "/auth/sessions/{id}",
        sessions::revoke_session,
    ))
    .service(only(
        Method::POST,
        "/auth/change-password",
        password::change_password,
    ))
    .service(only(
        Method::POST,
        "/auth/forgot-password",
        by_mail::forgot_password,
    ))
    .service(only(
        Method::POST,
        "/auth/reset-password",
        by_mail::reset_password,
    ))
    .service(only(
        Method::POST,
        "/auth/request-verify",
        by_mail::request_verify,
    ))
    .service(only(Method::POST, "/auth/verify", by_mail::verify))
    .service(only(Method::GET, "/auth/mfa", mfa::status))
    .service(only(Method::POST, "/auth/mfa/totp/setup", mfa::totp_setup))
    .service(only(
        Method::POST,
        "/auth/mfa/totp/confirm",
        mfa::totp_confirm,
    ))
    .service(only(Method::DELETE, "/auth/mfa/totp", mfa::totp_disable))
    .service(only(
        Method::POST,
        "/auth/mfa/recovery-codes",
        mfa::renew_recovery_codes,
    ))
    .service(only(
        Method::POST,
        "/auth/mfa/passkey/options",
        second_step::passkey_options,
    ))
    .service(only(Method::POST, "/auth/mfa/verify", second_step::verify))
    .service(only(
        Method::POST,
        "/auth/passkeys/register/options",
        passkeys::register_options,
    ))
    .service(only(
        Method::POST,
        "/auth/passkeys/register",
        passkeys::register,
    ))
    .service(only(Method::GET, "/auth/passkeys", passkeys::list))
    .service(only(
        Method::POST,
        "/auth/passkeys/login/options",
        sign_in::login_options,
    ))
    .service(only(Method::POST, "/auth/passkeys/login", sign_in::login))
    // After the fixed paths beside it (`register`, `login`), which `{id}` would match too.
    .service(
        methods("/auth/passkeys/{id}", "PATCH, DELETE")
            .route(web::patch().to(passkeys::rename))
            .route(web::delete().to(passkeys::remove)),
    )
    .service(only(Method::GET, "/auth/providers", federation::providers))
    .service(only(
        Method::GET,
        "/auth/oidc/{name}/start",
        federation::start,
    ))
    .service(only(
        Method::GET,
        "/auth/oidc/{name}/link",
        federation::link,
    ))
    .service(only(Method::GET, "/auth/oidc/{name}/callback", callback))
    .service(only(Method::GET, "/auth/identities", identities::list))
    .service(only(
        Method::DELETE,
        "/auth/identities/{id}",
        identities::remove,
    ))
    .service(only(Method::GET, "/users/me", account::me))
    .service(only(Method::GET, "/auth/activity", account::activity))
    .service(only(Method::GET, "/audit-events", audit::list_audit_events))
    .service(only(Method::GET, "/users", admin::list_users))
    .service(
        methods("/users/{id}", "GET, PATCH, DELETE")
            .route(web::get().to(admin::get_user))
            .route(web::patch().to(admin::update_user))
            .route(web::delete().to(admin::delete_user)),
    )
    .service(only(Method::DELETE, "/users/{id}/mfa", admin::reset_mfa))
    .service(
        methods("/roles", "GET, POST")
            .route(web::get().to(roles::list))
            .route(web::post().to(roles::create)),
    )
    .service(only(Method::DELETE, "/roles/{name}", roles::delete))
    .service(
        methods("/users/{id}/roles/{name}", "PUT, DELETE")
            .route(web::put().to(roles::grant))
            .route(web::delete().to(roles::revoke)),
    )
    .service(only(Method::GET, "/.well-known/jwks.json", keys::jwks))
    .service(only(Method::GET, "/health", operations::health))
    .service(only(Method::GET, "/ready", operations::ready))
    .service(only(Method::GET, "/docs", docs_redirect));
}

/// The OpenID Provider's routes: mounted only when it has an asymmetric key to sign with
/// (without one, they are 404 like any unknown path).
pub fn configure_provider(cfg: &mut web::ServiceConfig) {
    let form = || web::PayloadConfig::new(crate::oauth::token::MAX_FORM_BYTES);
    cfg.service(only(
        Method::GET,
        "/.well-known/openid-configuration",
        crate::oauth::discovery::discovery,
    ))
    .service(only(
        Method::GET,
        "/.well-known/oauth-authorization-server",
        crate::oauth::discovery::discovery,
    ))
    .service(
        methods("/oauth/authorize", "GET, POST")
            .app_data(form())
            .route(web::get().to(crate::oauth::authorize::authorize_get))
            .route(web::post().to(crate::oauth::authorize::authorize_post)),
    )
    .service(
        methods("/oauth/logout", "GET, POST")
            .app_data(form())
            .route(web::get().to(crate::oauth::logout::logout_get))
            .route(web::post().to(crate::oauth::logout::logout_post)),
    )
    .service(
        methods("/oauth/token", "POST")
            .app_data(form())
            .route(web::post().to(crate::oauth::token::token))
            .route(web::method(Method::OPTIONS).to(crate::oauth::cors::preflight)),
    )
    .service(
        methods("/oauth/revoke", "POST")
            .app_data(form())
            .route(web::post().to(crate::oauth::token::revoke))
            .route(web::method(Method::OPTIONS).to(crate::oauth::cors::preflight)),
    )
    .service(
        only(
            Method::POST,
            "/oauth/introspect",
            crate::oauth::token::introspect,
        )
        .app_data(form()),
    )
    .service(
        methods("/oauth/userinfo", "GET, POST")
            .route(web::get().to(crate::oauth::token::userinfo))
            .route(web::post().to(crate::oauth::token::userinfo))
            .route(web::method(Method::OPTIONS).to(crate::oauth::cors::preflight)),
    )
    .service(
        methods("/oauth/clients", "GET, POST")
            .route(web::get().to(clients::list))
            .route(web::post().to(clients::create)),
    )
    .service(
        methods("/oauth/clients/{client_id}", "GET, PATCH, DELETE")
            .route(web::get().to(clients::get))
            .route(web::patch().to(clients::update))
            .route(web::delete().to(clients::delete)),
    )
    .service(only(
        Method::POST,
        "/oauth/clients/{client_id}/secret",
        clients::new_secret,
    ));
}

/// `GET /metrics`: on the public port by default, or alone on `METRICS_ADDR`.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.service(only(Method::GET, "/metrics", operations::scrape_metrics));
}

/// A resource answering `method` only; any other method gets 405 with the `Allow` header
/// RFC 9110 requires.
/// A resource answering its routes' methods, and 405 with `allow` to any other.
fn methods(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
            allow: allow.into(),
        })
    }))
}

fn only<F, Args>(method: Method, path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let allow = method.to_string();
    web::resource(path)
        .route(web::route().method(method).to(handler))
        .default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
        }))
}

/// `/docs` → `/docs/`, where the Swagger UI lives.
async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The answer for any path no route matches.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("Not Found"))
}

fn form_error(err: actix_web::error::UrlencodedError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::UrlencodedError as E;
    match err {
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Overflow { limit, .. } => ApiError::PayloadTooLarge { limit },
        other => ApiError::field("body", other),
    }
    .into()
}

fn json_error(err: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge { limit }
        }
        E::Deserialize(e) if e.classify() == serde_json::error::Category::Data => {
            ApiError::field("body", e)
        }
        other => ApiError::BadRequest(format!("Malformed JSON: {other}")),
    }
    .into()
}
