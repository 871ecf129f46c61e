//! Sign-in bodies: what register, login and the password grant take, and the token pair
//! they answer with. Request bodies hold raw strings; `TryFrom` turns them into domain
//! types, collecting every rejected field into one 422.

use gatehouse_auth::IssuedToken;
use gatehouse_domain::{Email, Password};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    dto::{FieldErrors, required},
    error::{ApiError, FieldError},
};

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
        let mut errors = FieldErrors::default();
        let email =
            errors.check(required("email", body.email).and_then(|raw| Ok(Email::parse(&raw)?)));
        let password = errors.check(required("password", body.password).and_then(|raw| {
            Password::parse_new(raw, "password", email.as_ref()).map_err(FieldError::from)
        }));
        errors.finish(
            email
                .zip(password)
                .map(|(email, password)| Self { email, password }),
        )
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
        let mut errors = FieldErrors::default();
        let email =
            errors.check(required("email", body.email).and_then(|raw| Ok(Email::parse(&raw)?)));
        let password = errors.check(required("password", body.password).map(Password::presented));
        errors.finish(
            email
                .zip(password)
                .map(|(email, password)| Self { email, password }),
        )
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
        let mut errors = FieldErrors::default();
        errors.check(match form.grant_type.as_deref() {
            None | Some("password") => Ok(()),
            Some(_) => Err(FieldError {
                field: "grant_type".into(),
                message: "must be \"password\"".into(),
            }),
        });
        let email = errors.check(required("username", form.username).and_then(|raw| {
            Email::parse(&raw).map_err(|e| FieldError {
                field: "username".into(),
                message: e.reason,
            })
        }));
        let password = errors.check(required("password", form.password).map(Password::presented));
        errors.finish(
            email
                .zip(password)
                .map(|(email, password)| Self { email, password }),
        )
    }
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
