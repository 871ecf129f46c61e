//! Request and response bodies as they travel over HTTP.
//!
//! Request DTOs hold raw strings; `TryFrom` turns them into domain types, collecting every
//! rejected field into one 422. Response DTOs are built from domain types and never carry
//! a hash or a secret.

use chrono::{DateTime, SecondsFormat, Utc};
use gatehouse_auth::IssuedToken;
use gatehouse_domain::{Email, Password, Session, SessionId, User};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{ApiError, error::FieldError};

/// Registration body: the account's email and chosen password.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "you@example.com", "password": "YourStrongPassw0rd!"}))]
pub struct RegisterIn {
    /// The address to register; compared case-insensitively.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "email", max_length = 254)]
    pub email: Option<String>,
    /// 8 to 128 characters; not the email, not a common password.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "password", min_length = 8, max_length = 128)]
    pub password: Option<String>,
}

/// Login body, as the starter's clients send it.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "you@example.com", "password": "YourStrongPassw0rd!"}))]
pub struct LoginIn {
    /// The account's email address.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "email", max_length = 254)]
    pub email: Option<String>,
    /// The account's password.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "password")]
    pub password: Option<String>,
}

/// `Debug` without the password, for bodies that carry one.
macro_rules! debug_without_password {
    ($($name:ident),*) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("email", &self.email)
                    .finish_non_exhaustive()
            }
        }
    )*};
}
debug_without_password!(RegisterIn, LoginIn);

/// A registration request that passed validation.
#[derive(Debug)]
pub struct Registration {
    /// Address to register.
    pub email: Email,
    /// Chosen password, policy checked.
    pub password: Password,
}

impl TryFrom<RegisterIn> for Registration {
    type Error = ApiError;

    fn try_from(body: RegisterIn) -> Result<Self, ApiError> {
        let email = required("email", body.email).and_then(|raw| Ok(Email::parse(&raw)?));
        let password = required("password", body.password);
        let password = match (&email, password) {
            (_, Err(e)) => Err(e),
            (email, Ok(raw)) => {
                Password::parse_new(raw, "password", email.as_ref().ok()).map_err(FieldError::from)
            }
        };
        match (email, password) {
            (Ok(email), Ok(password)) => Ok(Self { email, password }),
            (email, password) => Err(ApiError::Validation(
                [email.err(), password.err()]
                    .into_iter()
                    .flatten()
                    .collect(),
            )),
        }
    }
}

/// A login request that passed validation (no password policy: see [`Password::presented`]).
#[derive(Debug)]
pub struct Login {
    /// Address of the account.
    pub email: Email,
    /// Presented password.
    pub password: Password,
}

impl TryFrom<LoginIn> for Login {
    type Error = ApiError;

    fn try_from(body: LoginIn) -> Result<Self, ApiError> {
        let email = required("email", body.email).and_then(|raw| Ok(Email::parse(&raw)?));
        let password = required("password", body.password).map(Password::presented);
        match (email, password) {
            (Ok(email), Ok(password)) => Ok(Self { email, password }),
            (email, password) => Err(ApiError::Validation(
                [email.err(), password.err()]
                    .into_iter()
                    .flatten()
                    .collect(),
            )),
        }
    }
}

/// The OAuth2 password grant's form (RFC 6749 §4.3.2).
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// `password` when given (Swagger UI sends it).
    #[serde(default)]
    #[schema(example = "password")]
    pub grant_type: Option<String>,
    /// The account's email address.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "email")]
    pub username: Option<String>,
    /// The account's password.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "password")]
    pub password: Option<String>,
    /// Ignored: Gatehouse has no scopes.
    #[serde(default)]
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl TryFrom<TokenForm> for Login {
    type Error = ApiError;

    fn try_from(form: TokenForm) -> Result<Self, ApiError> {
        let grant = match form.grant_type.as_deref() {
            None | Some("password") => Ok(()),
            Some(_) => Err(FieldError {
                field: "grant_type".into(),
                message: "must be \"password\"".into(),
            }),
        };
        let email = required("username", form.username).and_then(|raw| {
            Email::parse(&raw).map_err(|e| FieldError {
                field: "username".into(),
                message: e.reason,
            })
        });
        let password = required("password", form.password).map(Password::presented);
        match (grant, email, password) {
            (Ok(()), Ok(email), Ok(password)) => Ok(Self { email, password }),
            (grant, email, password) => Err(ApiError::Validation(
                [grant.err(), email.err(), password.err()]
                    .into_iter()
                    .flatten()
                    .collect(),
            )),
        }
    }
}

fn required(field: &str, value: Option<String>) -> Result<String, FieldError> {
    value.ok_or_else(|| FieldError {
        field: field.to_owned(),
        message: "field required".to_owned(),
    })
}

/// A token pair, as `/auth/login` and `/auth/refresh` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    /// Send as `Authorization: Bearer …` to protected routes. Absent in cookies-only
    /// mode (`JWT_TOKEN_LOCATION=cookies`), where it travels only in its `HttpOnly` cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Send to `/auth/refresh` for a new access token. Absent in cookies-only mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Access token lifetime, seconds.
    #[schema(example = 900)]
    pub expires_in: i64,
}

impl TokenOut {
    /// The answer for an access token and a refresh token.
    pub fn new(access: IssuedToken, refresh_token: String, access_ttl_seconds: i64) -> Self {
        Self {
            access_token: Some(access.token),
            refresh_token: Some(refresh_token),
            token_type: "bearer",
            expires_in: access_ttl_seconds,
        }
    }

    /// The answer when the tokens travel in cookies only: no token where page script
    /// could read it.
    pub fn without_tokens(access_ttl_seconds: i64) -> Self {
        Self {
            access_token: None,
            refresh_token: None,
            token_type: "bearer",
            expires_in: access_ttl_seconds,
        }
    }
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

fn rfc3339_seconds<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// One open session, as `GET /auth/sessions` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// Session id: the `sid` of its tokens; `DELETE /auth/sessions/{id}` ends it.
    pub id: Uuid,
    /// Login time.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T10:00:00Z")]
    pub created_at: DateTime<Utc>,
    /// Last login or refresh.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T10:00:00Z")]
    pub last_used_at: DateTime<Utc>,
    /// When its refresh tokens stop working at the latest.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-12-01T10:00:00Z")]
    pub expires_at: DateTime<Utc>,
    /// The client's `User-Agent` at login.
    pub user_agent: Option<String>,
    /// The client's IP address at login.
    pub ip: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

impl SessionOut {
    /// The listing entry for `session`; `current` is the caller's own session.
    pub fn new(session: Session, current: SessionId) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent,
            ip: session.ip,
            current: session.id == current,
        }
    }
}

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
        let current = required("current_password", self.current_password).map(Password::presented);
        let new = required("new_password", self.new_password).and_then(|raw| {
            Password::parse_new(raw, "new_password", Some(email)).map_err(FieldError::from)
        });
        match (current, new) {
            (Ok(current), Ok(new)) => Ok(PasswordChange { current, new }),
            (current, new) => Err(ApiError::Validation(
                [current.err(), new.err()].into_iter().flatten().collect(),
            )),
        }
    }
}

/// `GET /users` paging, as raw text so each bad value can be named.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// How many accounts to skip (default 0; at most 2⁶³−1, what the databases'
    /// `OFFSET` takes).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<String>,
}

/// Largest `GET /users` page.
pub const MAX_PAGE_SIZE: u64 = 100;
/// Largest `GET /users` offset: `i64::MAX`, the largest `OFFSET` every backend takes.
pub const MAX_PAGE_OFFSET: u64 = i64::MAX.unsigned_abs();

impl PageQuery {
    /// `(limit, offset)`, or a 422 naming the bad parameter.
    pub fn parse(&self) -> Result<(u64, u64), ApiError> {
        let number = |field: &str, raw: &Option<String>, default: u64| match raw {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .map_err(|_| ApiError::field(field, "must be a whole number")),
        };
        let limit = number("limit", &self.limit, 50)?;
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::field("limit", "must be between 1 and 100"));
        }
        // Offsets past i64::MAX would overflow the databases' OFFSET: refused, not
        // silently clamped (the page would echo an offset the client never asked for).
        let offset = number("offset", &self.offset, 0)?;
        if offset > MAX_PAGE_OFFSET {
            return Err(ApiError::field(
                "offset",
                format!("must be at most {MAX_PAGE_OFFSET}"),
            ));
        }
        Ok((limit, offset))
    }
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersPage {
    /// The accounts, by creation time, then id.
    pub items: Vec<UserOut>,
    /// How many accounts exist.
    pub total: u64,
    /// The page size asked for.
    pub limit: u64,
    /// How many were skipped.
    pub offset: u64,
}

/// Body of `PATCH /users/{id}`: only the fields given change.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"is_active": false}))]
pub struct UserPatchIn {
    /// New address (409 if taken). Marks the address unverified unless `is_verified` is
    /// given too.
    #[schema(format = "email")]
    pub email: Option<String>,
    /// New password, under the registration rules; ends the user's sessions.
    #[schema(format = "password")]
    pub password: Option<String>,
    /// `false` deactivates the account and ends its sessions.
    pub is_active: Option<bool>,
    /// Grant or withdraw administration.
    pub is_superuser: Option<bool>,
    /// Mark the address verified or not.
    pub is_verified: Option<bool>,
}

impl std::fmt::Debug for UserPatchIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatchIn")
            .field("email", &self.email)
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("is_verified", &self.is_verified)
            .finish_non_exhaustive()
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
        match (
            required("token", self.token),
            required("new_password", self.new_password),
        ) {
            (Ok(token), Ok(password)) => Ok((token, password)),
            (token, password) => Err(ApiError::Validation(
                [token.err(), password.err()]
                    .into_iter()
                    .flatten()
                    .collect(),
            )),
        }
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

/// Liveness and readiness answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    /// `ok`, or `unavailable` when a dependency is down.
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

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
