//! Request context: every request gets an id (the client's `X-Request-Id` if it is short
//! and printable, else a fresh UUID), a tracing span carrying it — so every log line of
//! the request shows it — a completion log line, and the id echoed in the response.

use std::time::Instant;

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method,
        header::{HeaderName, HeaderValue},
    },
    middleware::Next,
};
use tracing::Instrument;

/// The header carrying the request id both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const MAX_CLIENT_ID_LEN: usize = 128;

/// The request's id, as [`request_context`] chose it, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware function: wrap with `actix_web::middleware::from_fn(request_context)`.
pub async fn request_context(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_acceptable_client_id(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    // `user_id` is recorded by the authentication extractor, once it knows the caller.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.path(),
        user_id = tracing::field::Empty,
    );
    request.extensions_mut().insert(RequestId(id.clone()));
    let started = Instant::now();
    let result = next.call(request).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(mut response) => {
            tracing::info!(
                status = response.status().as_u16(),
                elapsed_ms,
                "request completed"
            );
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            Ok(response)
        }
        Err(err) => {
            tracing::warn!(error = %err, elapsed_ms, "request failed");
            Err(err)
        }
    }
}

fn is_acceptable_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_CLIENT_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The method every non-standard HTTP method is recorded as.
const OTHER_METHOD: &str = "OTHER";

/// Middleware function, wrapped outside the metrics: a client can invent any number of
/// HTTP methods, and each would become a label value (and a time series) of its own.
/// Methods outside RFC 9110's and PATCH are renamed `OTHER` before anything records them;
/// no route answers them, so the answer (404 or 405) stays the same.
pub async fn collapse_unknown_methods(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ];
    if !known.contains(request.method())
        && let Ok(other) = Method::from_bytes(OTHER_METHOD.as_bytes())
    {
        request.head_mut().method = other;
    }
    next.call(request).await
}
