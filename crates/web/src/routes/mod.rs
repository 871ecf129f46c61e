//! Route registration.

use actix_web::{HttpRequest, web};

use crate::ApiError;

pub mod auth;
pub mod health;
pub mod users;

/// Registers every route and routes actix's own extractor errors (path, query, form,
/// JSON) into [`ApiError`], so they answer as problem documents too.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|err, _| {
        ApiError::field("path", err).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::field("query", err).into()
    }))
    .app_data(web::FormConfig::default().error_handler(form_error))
    .app_data(web::JsonConfig::default().error_handler(json_error))
    .service(auth::register)
    .service(auth::login)
    .service(auth::refresh)
    .service(users::me)
    .service(health::health)
    .service(health::ready);
}

/// The answer for any path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("Not Found")
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

