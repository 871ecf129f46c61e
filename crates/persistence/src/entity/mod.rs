//! Table mappings. Private: rows become domain types before they leave the crate.

pub(crate) mod audit_event;
pub(crate) mod login_throttle;
pub(crate) mod mail_cooldown;
pub(crate) mod one_time_token;
pub(crate) mod session;
pub(crate) mod user;
