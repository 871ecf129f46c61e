//! Route registration.

use actix_web::{HttpRequest, HttpResponse, http::header, web};

use crate::ApiError;

pub mod auth;
pub mod health;
pub mod users;

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
    .service(web::resource("/auth/register").post(auth::register))
    .service(web::resource("/auth/login").post(auth::login))
    .service(web::resource("/auth/refresh").post(auth::refresh))
    .service(web::resource("/users/me").get(users::me))
    .service(web::resource("/health").get(health::health))
    .service(web::resource("/ready").get(health::ready))
    .service(web::resource("/metrics").get(crate::metrics::metrics))
    .service(web::resource("/docs").get(docs_redirect));
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
