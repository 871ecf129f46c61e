//! What browsers need from an auth service: CORS for the configured front-end origins
//! only, and the response headers that keep answers from being sniffed, leaked through
//! `Referer`, or fetched over plain HTTP.

use actix_cors::Cors;
use actix_web::{
    http::{Method, header},
    middleware::DefaultHeaders,
};

use crate::middleware::REQUEST_ID;

/// How long a browser may cache a preflight answer, seconds.
const PREFLIGHT_MAX_AGE_SECONDS: usize = 600;

/// CORS for exactly `origins` (`https://app.example.com`), with credentials (cookies) and
/// the headers Gatehouse's clients send. Requests from other origins are served as usual
/// but get no `Access-Control-Allow-Origin`, so browsers keep their pages from reading
/// the answers; non-browser clients are unaffected.
pub fn cors(origins: &[String]) -> Cors {
    let allowed = origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin));
    allowed
        .allowed_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            crate::cookies::CSRF_HEADER,
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER, header::WWW_AUTHENTICATE])
        .supports_credentials()
        .max_age(PREFLIGHT_MAX_AGE_SECONDS)
}

/// Headers on every answer: `X-Content-Type-Options: nosniff`, `Referrer-Policy:
/// no-referrer`, and with `hsts` (production, behind TLS) `Strict-Transport-Security`.
pub fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"));
    if hsts {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}
