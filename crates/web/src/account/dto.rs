//! The account routes' bodies: password change and reset, address verification.

use chrono::{DateTime, Utc};
use gatehouse_domain::{AuditEvent, Email, Password};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    dto::{FieldErrors, required, rfc3339_seconds},
    error::{ApiError, FieldError},
};

/// Body of `POST /auth/change-password`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "YourStrongPassw0rd!", "new_password": "An0ther-Strong-One"}))]
pub struct ChangePasswordIn {
    /// The password in use now.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "password")]
    pub current_password: Option<String>,
    /// 8 to 128 characters; not the email, not a common password.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "password", min_length = 8, max_length = 128)]
    pub new_password: Option<String>,
}

impl std::fmt::Debug for ChangePasswordIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePasswordIn([REDACTED])")
    }
}

/// A password change that passed validation.
#[derive(Debug)]
pub struct PasswordChange {
    /// As presented; checked against the stored hash.
    pub current: Password,
    /// The new password, policy checked against the account's email.
    pub new: Password,
}

impl ChangePasswordIn {
    /// Checks both fields, the new password against the policy for the account `email`.
    pub fn parse(self, email: &Email) -> Result<PasswordChange, ApiError> {
        let mut errors = FieldErrors::default();
        let current = errors
            .check(required("current_password", self.current_password).map(Password::presented));
        let new = errors.check(required("new_password", self.new_password).and_then(|raw| {
            Password::parse_new(raw, "new_password", Some(email)).map_err(FieldError::from)
        }));
        errors.finish(
            current
                .zip(new)
                .map(|(current, new)| PasswordChange { current, new }),
        )
    }
}

/// Body of `POST /auth/forgot-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "you@example.com"}))]
pub struct ForgotPasswordIn {
    /// The account's address.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "email")]
    pub email: Option<String>,
}

/// Body of `POST /auth/reset-password`.
#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordIn {
    /// The token from the reset mail.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub token: Option<String>,
    /// 8 to 128 characters; not the email, not a common password.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "password", min_length = 8, max_length = 128)]
    pub new_password: Option<String>,
}

impl std::fmt::Debug for ResetPasswordIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetPasswordIn([REDACTED])")
    }
}

impl ResetPasswordIn {
    /// Both fields, or a 422 naming the missing ones. The password's rules need the
    /// account, so they are checked once the token has been found.
    pub fn fields(self) -> Result<(String, String), ApiError> {
        let mut errors = FieldErrors::default();
        let token = errors.check(required("token", self.token));
        let password = errors.check(required("new_password", self.new_password));
        errors.finish(token.zip(password))
    }
}

/// Body of `POST /auth/verify`.
#[derive(Deserialize, ToSchema)]
pub struct VerifyIn {
    /// The token from the verification mail.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub token: Option<String>,
}

impl std::fmt::Debug for VerifyIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyIn([REDACTED])")
    }
}

/// The answer to a request that is handled in the background.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedOut {
    /// Always the same text, so it tells nothing about the account.
    #[schema(example = "If the account exists, a mail is on its way")]
    pub detail: &'static str,
}

/// One of the caller's own audit events, as `GET /auth/activity` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityOut {
    /// What happened: `login.succeeded`, `password.changed`, …
    #[serde(rename = "type")]
    #[schema(example = "login.succeeded")]
    pub event_type: &'static str,
    /// When.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T10:00:00Z")]
    pub at: DateTime<Utc>,
    /// From which address; `null` for what an administrator or the command line did.
    pub ip: Option<String>,
    /// With which browser or client; `null` for what an administrator or the command
    /// line did.
    pub user_agent: Option<String>,
}

impl From<AuditEvent> for ActivityOut {
    fn from(stored: AuditEvent) -> Self {
        let event = stored.event;
        // Where an administrator (or the command line) acted, their address and browser
        // are theirs, not the owner's to see.
        let by_someone_else = event.context.actor_id.is_some()
            || event.details.get("by").is_some_and(|by| by == "cli");
        let (ip, user_agent) = if by_someone_else {
            (None, None)
        } else {
            (event.context.ip, event.context.user_agent)
        };
        Self {
            event_type: event.event_type.as_str(),
            at: event.at,
            ip,
            user_agent,
        }
    }
}
