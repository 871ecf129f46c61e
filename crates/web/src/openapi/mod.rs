//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{
        Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement,
        SecurityScheme,
    },
};

use crate::{
    account::{
        self, by_mail,
        dto::{
            AcceptedOut, ActivityOut, ChangePasswordIn, ForgotPasswordIn, ResetPasswordIn, VerifyIn,
        },
        password,
    },
    admin::{
        self,
        dto::{AdminUserOut, UserPatchIn, UsersPage},
    },
    audit::{
        self,
        dto::{AuditEventOut, AuditPage},
    },
    dto::UserOut,
    error::{FieldError, Problem},
    federation::{
        self, callback,
        dto::{IdentityOut, ProviderOut},
        identities,
    },
    keys::{self, JwkSetOut},
    mfa::{
        self,
        dto::{
            MfaPasskeyOptionsIn, MfaStatusOut, MfaVerifyIn, RecoveryCodesOut, TotpCodeIn,
            TotpSetupOut,
        },
        second_step,
    },
    oauth::{
        clients, discovery,
        dto::{
            ClientIn, ClientOut, ClientSecretOut, IntrospectionOut, OauthErrorOut, OauthTokenForm,
            OauthTokenIn, OauthTokenOut, UserInfoOut,
        },
        token as oauth_token,
    },
    operations::{self, StatusOut},
    passkeys::{
        self,
        dto::{CeremonyOut, PasskeyLoginIn, PasskeyOut, PasskeyRegisterIn, PasskeyRenameIn},
        sign_in,
    },
    roles::{
        self,
        dto::{RoleIn, RoleOut},
    },
    sessions::{self, dto::SessionOut},
    signin::{
        self,
        dto::{LoginIn, RegisterIn, TokenForm, TokenOut},
        refresh,
    },
};

#[derive(OpenApi)]
#[openapi(
    info(
        description = "Authentication service: accounts, password login, JWT access and refresh tokens with server-side sessions."
    ),
    paths(
        signin::register,
        signin::login,
        signin::token,
        refresh::refresh,
        password::change_password,
        by_mail::forgot_password,
        by_mail::reset_password,
        by_mail::request_verify,
        by_mail::verify,
        mfa::status,
        mfa::totp_setup,
        mfa::totp_confirm,
        mfa::totp_disable,
        mfa::renew_recovery_codes,
        second_step::passkey_options,
        second_step::verify,
        passkeys::register_options,
        passkeys::register,
        passkeys::list,
        passkeys::rename,
        passkeys::remove,
        sign_in::login_options,
        sign_in::login,
        federation::providers,
        federation::start,
        federation::link,
        callback::callback,
        identities::list,
        identities::remove,
        sessions::logout,
        sessions::logout_all,
        sessions::list_sessions,
        sessions::revoke_session,
        account::me,
        account::activity,
        audit::list_audit_events,
        admin::list_users,
        admin::get_user,
        admin::update_user,
        admin::delete_user,
        admin::reset_mfa,
        roles::list,
        roles::create,
        roles::delete,
        roles::grant,
        roles::revoke,
        clients::create,
        clients::list,
        clients::get,
        clients::update,
        clients::delete,
        clients::new_secret,
        discovery::discovery,
        oauth_token::token,
        oauth_token::revoke,
        oauth_token::introspect,
        oauth_token::userinfo,
        keys::jwks,
        operations::health,
        operations::ready,
        operations::scrape_metrics
    ),
    components(schemas(
        RegisterIn,
        LoginIn,
        TokenForm,
        TokenOut,
        JwkSetOut,
        UserOut,
        SessionOut,
        ChangePasswordIn,
        ForgotPasswordIn,
        ResetPasswordIn,
        VerifyIn,
        AcceptedOut,
        MfaStatusOut,
        TotpSetupOut,
        TotpCodeIn,
        RecoveryCodesOut,
        MfaPasskeyOptionsIn,
        CeremonyOut,
        PasskeyOut,
        PasskeyRegisterIn,
        PasskeyLoginIn,
        PasskeyRenameIn,
        ProviderOut,
        IdentityOut,
        MfaVerifyIn,
        ActivityOut,
        AuditEventOut,
        AuditPage,
        UsersPage,
        UserPatchIn,
        AdminUserOut,
        RoleIn,
        RoleOut,
        ClientIn,
        ClientOut,
        ClientSecretOut,
        OauthTokenForm,
        OauthTokenOut,
        OauthErrorOut,
        OauthTokenIn,
        IntrospectionOut,
        UserInfoOut,
        StatusOut,
        Problem,
        FieldError
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login and tokens"),
        (name = "sessions", description = "Logout and the caller's sessions"),
        (name = "account", description = "Password reset and address verification by mail"),
        (name = "mfa", description = "Second factor: TOTP, recovery codes, and the login's second step"),
        (name = "passkeys", description = "Passkeys (WebAuthn): adding and managing them, and signing in with one"),
        (name = "federation", description = "Signing in with another OpenID Provider, and the identities linked"),
        (name = "users", description = "Accounts"),
        (name = "admin", description = "Account management, for superusers"),
        (name = "roles", description = "Roles: made and granted by superusers, carried in access tokens (`roles`) for other services to decide with"),
        (name = "oauth", description = "Gatehouse as the OpenID Provider for other apps: the apps' registrations (superusers). Served only with an asymmetric signing key"),
        (name = "openid-provider", description = "Gatehouse as the OpenID Provider: discovery and the endpoints its clients call (OAuth's error format). The authorization endpoint and RP-initiated logout are pages"),
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
        // Swagger UI's "Authorize" dialog logs in with email (as username) and password
        // through /auth/token; the token it gets is then sent as a bearer token.
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::Password(Password::new("/auth/token", Scopes::new()))],
                "Email and password; the access token is sent as a bearer token",
            )),
        );
        // Every route that takes a bearer token takes the one from that dialog too.
        let oauth2 = SecurityRequirement::new("oauth2", Vec::<String>::new());
        let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                if let Some(security) = &mut operation.security
                    && security.contains(&bearer)
                {
                    security.push(oauth2.clone());
                }
            }
        }
    }
}

/// The document, titled `app_name`.
pub fn openapi(app_name: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    app_name.clone_into(&mut doc.info.title);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
