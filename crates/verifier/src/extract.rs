//! The extractor, and its 401 answers.

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError,
    dev::Payload,
    http::{StatusCode, header},
    web,
};
use gatehouse_auth::{AccessClaims, ClientAccessClaims, TokenError};
use serde::Serialize;

use crate::Verifier;

/// The claims of a valid access token presented as `Authorization: Bearer …`. Needs a
/// `web::Data<Verifier>` in the app data.
#[derive(Debug, Clone)]
pub struct VerifiedToken(pub AccessClaims);

/// A [`VerifiedToken`] from a login that used two factors (`aal2`): what a route that
/// must not yield to a password alone declares. 403 `Stronger authentication required`
/// for an `aal1` token, so the client knows to log in again with its second factor.
#[derive(Debug, Clone)]
pub struct Aal2Token(pub AccessClaims);

/// The client id this service accepts client access tokens for (the `aud` they must
/// carry), as app data beside the [`Verifier`].
#[derive(Debug, Clone)]
pub struct ClientAudience(pub String);

/// The claims of a valid access token that gatehouse, as an OpenID Provider, issued to
/// this service's client ([`ClientAudience`]): header `typ` `at+jwt`. Gatehouse's own
/// access tokens are refused here, and these are refused by [`VerifiedToken`].
#[derive(Debug, Clone)]
pub struct ClientToken(pub ClientAccessClaims);

/// A scope a route requires of a client's token.
pub trait RequiredScope {
    /// The scope's name.
    const SCOPE: &'static str;
}

/// A [`ClientToken`] whose `scope` has `S::SCOPE`: 403 `Missing scope` without it.
#[derive(Debug, Clone)]
pub struct ScopedToken<S: RequiredScope>(pub ClientAccessClaims, pub std::marker::PhantomData<S>);

/// A role a route requires of a gatehouse access token's account.
pub trait RequiredRole {
    /// The role's name.
    const ROLE: &'static str;
}

/// A [`VerifiedToken`] whose `roles` include `R::ROLE`: 403 `Missing role` without it.
/// The roles are the account's when the token was issued: a role granted or revoked
/// since shows from the token's next refresh (at most the access lifetime later).
#[derive(Debug, Clone)]
pub struct RoleToken<R: RequiredRole>(pub AccessClaims, pub std::marker::PhantomData<R>);

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No bearer token.
    #[error("Not authenticated")]
    Missing,
    /// A token that did not verify.
    #[error("{}", token_detail(.0))]
    Rejected(TokenError),
    /// A valid token from a login with one factor where [`Aal2Token`] needs two.
    #[error("Stronger authentication required")]
    NotAal2,
    /// A valid client token without the scope a [`ScopedToken`] needs.
    #[error("Missing scope")]
    MissingScope(&'static str),
    /// A valid token whose account lacked the role a [`RoleToken`] needs.
    #[error("Missing role")]
    MissingRole,
    /// The app has no `web::Data<Verifier>`: a wiring mistake, not the client's.
    #[error("token verifier not configured")]
    NotConfigured,
}

fn token_detail(error: &TokenError) -> &'static str {
    match error {
        TokenError::Expired => "Token has expired",
        TokenError::WrongType => "Wrong token type",
        TokenError::Invalid | TokenError::UnknownKey => "Invalid token",
    }
}

/// RFC 9457 problem document, as Gatehouse writes them.
#[derive(Serialize)]
struct Problem {
    #[serde(rename = "type")]
    problem_type: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
}

impl ResponseError for VerifyError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Rejected(_) => StatusCode::UNAUTHORIZED,
            Self::NotAal2 | Self::MissingScope(_) | Self::MissingRole => StatusCode::FORBIDDEN,
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            Self::Missing => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::Rejected(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#));
            }
            Self::NotAal2 | Self::MissingRole => {}
            Self::MissingScope(scope) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(r#"Bearer error="insufficient_scope", scope="{scope}""#),
                ));
            }
            Self::NotConfigured => {
                tracing::error!("VerifiedToken used without web::Data<Verifier>")
            }
        }
        response.json(Problem {
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: if status.is_server_error() {
                "Internal server error".to_owned()
            } else {
                self.to_string()
            },
        })
    }
}

impl FromRequest for VerifiedToken {
    type Error = VerifyError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, VerifyError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let verifier = verifier.ok_or(VerifyError::NotConfigured)?;
            let token = token.ok_or(VerifyError::Missing)?;
            verifier
                .verify_access(&token)
                .await
                .map(Self)
                .map_err(VerifyError::Rejected)
        })
    }
}

impl FromRequest for Aal2Token {
    type Error = VerifyError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, VerifyError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let verified = VerifiedToken::from_request(req, payload);
        Box::pin(async move {
            let VerifiedToken(claims) = verified.await?;
            if claims.aal == gatehouse_auth::Aal::Aal2 {
                Ok(Self(claims))
            } else {
                Err(VerifyError::NotAal2)
            }
        })
    }
}

impl FromRequest for ClientToken {
    type Error = VerifyError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, VerifyError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        let audience = req.app_data::<web::Data<ClientAudience>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let (verifier, audience) = verifier.zip(audience).ok_or(VerifyError::NotConfigured)?;
            let token = token.ok_or(VerifyError::Missing)?;
            verifier
                .verify_client_access(&token, &audience.0)
                .await
                .map(Self)
                .map_err(VerifyError::Rejected)
        })
    }
}

impl<S: RequiredScope + 'static> FromRequest for ScopedToken<S> {
    type Error = VerifyError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, VerifyError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let verified = ClientToken::from_request(req, payload);
        Box::pin(async move {
            let ClientToken(claims) = verified.await?;
            if claims.scope.split(' ').any(|scope| scope == S::SCOPE) {
                Ok(Self(claims, std::marker::PhantomData))
            } else {
                Err(VerifyError::MissingScope(S::SCOPE))
            }
        })
    }
}

impl<R: RequiredRole + 'static> FromRequest for RoleToken<R> {
    type Error = VerifyError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, VerifyError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let verified = VerifiedToken::from_request(req, payload);
        Box::pin(async move {
            let VerifiedToken(claims) = verified.await?;
            if claims.roles.iter().any(|role| role == R::ROLE) {
                Ok(Self(claims, std::marker::PhantomData))
            } else {
                Err(VerifyError::MissingRole)
            }
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
