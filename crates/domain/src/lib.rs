//! Gatehouse's domain: the types every other crate speaks in, and the rules they obey.
//!
//! Values from outside (request bodies, tokens, database rows) are parsed into these types
//! once, at the edge; from then on a [`Email`] is known to be valid and lower-cased, a
//! [`Password`] is known to meet the policy and never prints itself, and so on. This crate
//! does no I/O and knows nothing of HTTP, SQL or async runtimes, so any service can reuse it.
//!
//! ```
//! use gatehouse_domain::{Email, Password};
//!
//! // Parsed once at the edge: trimmed, validated, lower-cased.
//! let email = Email::parse("  You@Example.COM ")?;
//! assert_eq!(email.as_str(), "you@example.com");
//!
//! // The registration policy: 8-128 characters, not the email, not a common password.
//! let password = Password::parse_new("YourStrongPassw0rd!", "password", Some(&email))?;
//! assert_eq!(format!("{password:?}"), "Password([REDACTED])");
//! let rejected = Password::parse_new("password123", "password", Some(&email)).unwrap_err();
//! assert_eq!(rejected.field, "password");
//! # Ok::<(), gatehouse_domain::ValidationError>(())
//! ```
//!
//! Refresh-token reuse detection is a rule on [`Session`]: see
//! [`Session::refresh_verdict`].
#![warn(missing_docs)]

mod audit;
mod authorization;
mod email;
mod error;
mod federation;
mod ids;
mod mfa;
mod network;
mod oauth;
mod one_time;
mod passkey;
mod password;
mod role;
mod session;
mod signing_key;
mod user;

pub use audit::{AuditContext, AuditEvent, AuditEventType, NewAuditEvent};
pub use authorization::{
    AuthorizationCode, AuthorizationError, AuthorizationParameters, AuthorizationRequest,
    CODE_LIFETIME, CodeChallenge, Grant, Issues, Prompt, Scope, Scopes, UntrustedTarget,
    is_code_verifier,
};
pub use email::Email;
pub use error::{Conflict, ValidationError};
pub use federation::{Identity, ProviderName};
pub use ids::{CeremonyId, GrantId, IdentityId, PasskeyId, SessionId, UserId};
pub use mfa::{
    Aal, Assurance, AuthMethod, SecondFactors, normalize_recovery_code, parse_totp_code,
};
pub use network::ClientNetwork;
pub use oauth::{
    ClientId, ClientRequest, ClientSettings, ClientType, GrantType, MAX_CLIENT_NAME_CHARS,
    MAX_REDIRECT_URIS, OauthClient, RedirectUri,
};
pub use one_time::{OneTimePurpose, WayIn};
pub use passkey::{CeremonyPurpose, MAX_PASSKEY_NAME_CHARS, PasskeyName, PasskeySummary};
pub use password::{Password, PasswordHash};
pub use role::{
    HeldRoles, MAX_ROLE_DESCRIPTION_CHARS, MAX_ROLE_NAME_CHARS, Role, RoleName,
    parse_role_description,
};
pub use session::{NewSession, RefreshPolicy, RefreshRotation, RefreshVerdict, Session};
pub use signing_key::{KeySchedule, KeyState, KeyStep, ManagedKey};
pub use user::{NewUser, User, UserUpdate};
