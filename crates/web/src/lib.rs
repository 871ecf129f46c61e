//! Gatehouse's HTTP layer on actix-web.
//!
//! Handlers are thin: a DTO is parsed into domain types at the edge, the handler calls
//! the hasher, the token codec and the repositories, and maps the result to a response
//! DTO. Every error becomes an [`ApiError`], which alone knows status codes and renders
//! RFC 9457 problem documents. [`AuthenticatedUser`] and friends declare in a route's
//! signature what the route needs.

pub mod accounts;
mod backoff;
pub mod browser;
pub mod cookies;
pub mod docs;
pub mod dto;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
mod state;

pub use docs::Docs;
pub use error::{ApiError, render_bare_errors};
pub use extract::{AnyToken, AuthenticatedUser, FreshUser, JsonBody, RefreshToken, Superuser};
pub use middleware::{collapse_unknown_methods, request_context};
pub use openapi::openapi;
pub use routes::{configure, configure_metrics, not_found};
pub use state::{AppState, DEFAULT_MAX_BODY_BYTES, WebOptions};
