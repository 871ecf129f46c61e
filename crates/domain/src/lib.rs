//! Gatehouse's domain: the types every other crate speaks in, and the rules they obey.
//!
//! Values from outside (request bodies, tokens, database rows) are parsed into these types
//! once, at the edge; from then on a [`Email`] is known to be valid and lower-cased, a
//! [`Password`] is known to meet the policy and never prints itself, and so on. This crate
//! does no I/O and knows nothing of HTTP, SQL or async runtimes, so any service can reuse it.
#![warn(missing_docs)]

mod email;
mod error;
mod ids;
mod password;
mod session;
mod user;

pub use email::Email;
pub use error::{Conflict, ValidationError};
pub use ids::{SessionId, UserId};
pub use password::{Password, PasswordHash};
pub use session::{NewSession, RefreshVerdict, Session};
pub use user::{NewUser, User};
