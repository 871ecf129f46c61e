//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    dto::{ChangePasswordIn, LoginIn, RegisterIn, SessionOut, StatusOut, TokenOut, UserOut},
    error::{FieldError, Problem},
    metrics,
    routes::{auth, health, password, sessions, users},
};

#[derive(OpenApi)]
#[openapi(
    info(
        description = "Authentication service: accounts, password login, JWT access and refresh tokens with server-side sessions."
    ),
    paths(
        auth::register,
        auth::login,
        auth::refresh,
        password::change_password,
        sessions::logout,
        sessions::logout_all,
        sessions::list_sessions,
        sessions::revoke_session,
        users::me,
        health::health,
        health::ready,
        metrics::metrics
    ),
    components(schemas(
        RegisterIn,
        LoginIn,
        TokenOut,
        UserOut,
        SessionOut,
        ChangePasswordIn,
        StatusOut,
        Problem,
        FieldError
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login and tokens"),
        (name = "sessions", description = "Logout and the caller's sessions"),
        (name = "users", description = "Accounts"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document, titled `app_name`.
pub fn openapi(app_name: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    app_name.clone_into(&mut doc.info.title);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
