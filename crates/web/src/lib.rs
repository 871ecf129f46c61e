//! Gatehouse's HTTP layer on actix-web.
//!
//! Organised by feature — [`signin`], [`sessions`], [`account`], [`mfa`], [`passkeys`],
//! [`federation`], [`pages`], [`admin`], [`audit`], [`keys`], [`operations`] — each
//! holding its routes and its request and response bodies; the flows they call are
//! `gatehouse_app`'s. The plumbing they share sits beside them: [`error`] (the one place
//! that knows status codes and renders RFC 9457 problem documents), [`extract`] (what a
//! route needs, declared in its signature: [`AuthenticatedUser`] and friends,
//! [`JsonBody`], the flows' client), [`rate_limit`], [`cookies`], [`browser`],
//! [`middleware`], [`mod@openapi`] and [`docs`]. [`routes::configure`] mounts the API's
//! routes and [`pages::configure`] the pages (the server mounts both). Handlers are thin:
//! a body is parsed into domain types at the edge, the handler calls a flow, and its
//! outcome becomes the answer.

pub mod account;
pub mod admin;
pub mod audit;
pub mod browser;
pub mod cookies;
pub mod docs;
pub mod dto;
pub mod error;
pub mod extract;
pub mod federation;
pub mod keys;
pub mod metrics;
pub mod mfa;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod operations;
pub mod pages;
pub mod passkeys;
pub mod rate_limit;
pub mod roles;
pub mod routes;
pub mod sessions;
pub mod shared_responses;
pub mod signin;
mod state;

pub use docs::Docs;
pub use error::{ApiError, render_bare_errors};
pub use extract::{
    AnyToken, AuthenticatedUser, FreshUser, JsonBody, RefreshToken, Superuser, SuperuserChange,
};
pub use middleware::{collapse_unknown_methods, request_context};
pub use openapi::openapi;
pub use routes::{configure, configure_metrics, configure_provider, not_found};
pub use state::{AppState, DEFAULT_MAX_BODY_BYTES, WebOptions};
