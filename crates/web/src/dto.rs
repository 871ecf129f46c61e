//! What several features' bodies share: the account as clients see it, and the pieces
//! request bodies are parsed with. Each feature keeps its own bodies in its `dto`
//! module: request bodies hold raw strings and `TryFrom` (or `parse`) turns them into
//! domain types, collecting every rejected field into one 422; response bodies are built
//! from domain types and never carry a hash or a secret.

use chrono::{DateTime, SecondsFormat, Utc};
use gatehouse_domain::User;
use serde::{Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};

/// The errors of a request body's fields, collected so that one 422 names every field
/// that failed: each field is [`check`](Self::check)ed, then [`finish`](Self::finish)
/// gives the parsed body or that 422.
#[derive(Debug, Default)]
pub(crate) struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// The field's value, or `None` with its error kept.
    pub(crate) fn check<T>(&mut self, field: Result<T, FieldError>) -> Option<T> {
        field.map_err(|error| self.0.push(error)).ok()
    }

    /// `parsed` when every field passed, else the 422 naming each that did not.
    pub(crate) fn finish<T>(self, parsed: Option<T>) -> Result<T, ApiError> {
        match parsed {
            Some(parsed) if self.0.is_empty() => Ok(parsed),
            _ => Err(ApiError::Validation(self.0)),
        }
    }
}

/// A required field of a request body: 422 `field required` when it is missing.
pub(crate) fn required(field: &str, value: Option<String>) -> Result<String, FieldError> {
    value.ok_or_else(|| FieldError {
        field: field.to_owned(),
        message: "field required".to_owned(),
    })
}

/// A user account as clients see it. Never a password or hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    /// Account id (UUID v7).
    pub id: Uuid,
    /// Lower-cased address.
    #[schema(example = "you@example.com")]
    pub email: String,
    /// Inactive accounts cannot log in.
    pub is_active: bool,
    /// Whether the email address was verified.
    pub is_verified: bool,
    /// Administrator.
    pub is_superuser: bool,
    /// RFC 3339, UTC, whole seconds.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T10:00:00Z")]
    pub created_at: DateTime<Utc>,
    /// RFC 3339, UTC, whole seconds.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T10:00:00Z")]
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserOut {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            is_active: user.is_active,
            is_verified: user.is_verified,
            is_superuser: user.is_superuser,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// RFC 3339, UTC, whole seconds: how every time in a response is written.
pub(crate) fn rfc3339_seconds<S: Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use crate::{
        account::dto::ChangePasswordIn,
        signin::dto::{LoginIn, RegisterIn, TokenForm},
    };

    #[test]
    fn request_bodies_never_print_passwords() {
        let secret = "hunter2-Secret!";
        let bodies = [
            format!(
                "{:?}",
                RegisterIn {
                    email: Some("you@example.com".into()),
                    password: Some(secret.into()),
                }
            ),
            format!(
                "{:?}",
                LoginIn {
                    email: Some("you@example.com".into()),
                    password: Some(secret.into()),
                }
            ),
            format!(
                "{:?}",
                ChangePasswordIn {
                    current_password: Some(secret.into()),
                    new_password: Some(secret.into()),
                }
            ),
            format!(
                "{:?}",
                TokenForm {
                    grant_type: None,
                    username: Some("you@example.com".into()),
                    password: Some(secret.into()),
                    scope: None,
                }
            ),
        ];
        for printed in bodies {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}
