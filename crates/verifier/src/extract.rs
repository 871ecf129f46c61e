//! The extractor, and its 401 answers.

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError,
    dev::Payload,
    http::{StatusCode, header},
    web,
};
use gatehouse_auth::{AccessClaims, TokenError};
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
            Self::NotAal2 => StatusCode::FORBIDDEN,
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
            Self::NotAal2 => {}
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

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
