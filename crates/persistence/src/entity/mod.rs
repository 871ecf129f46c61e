//! Table mappings. Private: rows become domain types before they leave the crate.

pub(crate) mod audit_event;
pub(crate) mod federated_login;
pub(crate) mod identity;
pub(crate) mod login_throttle;
pub(crate) mod mail_cooldown;
pub(crate) mod mfa_challenge;
pub(crate) mod oauth_client;
pub(crate) mod oauth_code;
pub(crate) mod oauth_consent;
pub(crate) mod oauth_grant;
pub(crate) mod oauth_refresh_token;
pub(crate) mod one_time_token;
pub(crate) mod passkey;
pub(crate) mod passkey_ceremony;
pub(crate) mod recovery_code;
pub(crate) mod role;
pub(crate) mod session;
pub(crate) mod signing_key;
pub(crate) mod totp_authenticator;
pub(crate) mod user;
pub(crate) mod user_role;
