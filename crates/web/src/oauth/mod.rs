//! Gatehouse as the OpenID Provider for other apps. Served only when it has an
//! asymmetric key to sign with (`OIDC_SIGNING_KEY_FILE`, an asymmetric `JWT_ALGORITHM`,
//! or in development one generated for the run): the server mounts
//! [`crate::routes::configure_provider`] then, and without it these paths are 404.
//! Discovery ([`discovery`]), the authorization endpoint and its consent page
//! ([`authorize`]), the endpoints for clients ([`token`]: token, revocation,
//! introspection, userinfo), RP-initiated logout ([`logout`]), and the administrators' register of clients ([`clients`]).

pub mod authorize;
pub mod clients;
pub mod cors;
pub mod discovery;
pub mod dto;
pub mod logout;
pub mod token;
