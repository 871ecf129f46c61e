//! The tokens gatehouse issues as an OpenID Provider to other apps: ID tokens, and access
//! tokens in RFC 9068's format (header `typ` `at+jwt`, the client as `aud`). They are
//! signed with the provider's asymmetric key. Neither kind can stand in for gatehouse's
//! own tokens (those carry a `type` claim and a plain `JWT` header, checked both ways),
//! even when the two share a key.

use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::{Assurance, ClientId, HeldRoles, Scopes, SessionId};
use jsonwebtoken::{Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use super::{IssuedToken, KeyRing, KeySet, LEEWAY_SECONDS, SigningAlgorithm, SigningKey};
use crate::{AuthError, TokenError};

/// The header `typ` of a client's access token (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Signs and checks the provider's tokens.
#[derive(Clone)]
pub struct ProviderTokens {
    /// Its own key, or the ring gatehouse's tokens are signed with (managed keys).
    keys: KeyRing,
    issuer: String,
    access_ttl: Duration,
}

/// What an ID token says beyond its issuer and times.
#[derive(Debug, Clone)]
pub struct IdTokenFacts<'a> {
    /// The user id.
    pub subject: String,
    /// The client.
    pub client: &'a ClientId,
    /// When the user signed in.
    pub auth_time: DateTime<Utc>,
    /// The request's nonce.
    pub nonce: Option<&'a str>,
    /// The browser session.
    pub session: SessionId,
    /// How the user signed in.
    pub assurance: &'a Assurance,
    /// The access token issued with it (for `at_hash`).
    pub access_token: &'a str,
    /// With scope `email`: the address and whether it is verified.
    pub email: Option<(&'a str, bool)>,
    /// With scope `roles`: the roles the account holds now.
    pub roles: Option<&'a HeldRoles>,
}

/// A client access token's claims, verified.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientAccessClaims {
    /// The issuer.
    pub iss: String,
    /// The user id, or the client id for `client_credentials`.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// The client.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Unique per token; a user grant's token starts with the grant id and a `.`.
    pub jti: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// The browser session, for a user's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// With scope `roles`: the roles the account held when the token was issued, sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// An ID token this provider issued, as `id_token_hint` presents it (expired or not).
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenHint {
    /// The user id.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// The browser session.
    pub sid: Option<String>,
    /// The client again: only ID tokens carry it (gatehouse's own tokens, which may share
    /// the key, the issuer and have an audience, never do).
    azp: String,
    /// `at_hash`: only ID tokens carry it.
    at_hash: String,
    /// Gatehouse's own tokens' `type`: an ID token has none.
    #[serde(rename = "type", default)]
    token_type: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    sid: String,
    acr: &'static str,
    amr: Vec<&'static str>,
    at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
}

impl ProviderTokens {
    /// Tokens signed by `key` (asymmetric) for `issuer`, access tokens living `access_ttl`.
    pub fn new(key: SigningKey, issuer: String, access_ttl: Duration) -> Result<Self, AuthError> {
        Self::on_ring(
            KeyRing::new(KeySet::new(key, Vec::new())),
            issuer,
            access_ttl,
        )
    }

    /// Tokens signed by whichever key of `keys` signs (asymmetric), and verified by the
    /// key their `kid` names: the same keys as gatehouse's own tokens, rotating with them.
    pub fn on_ring(keys: KeyRing, issuer: String, access_ttl: Duration) -> Result<Self, AuthError> {
        if keys.load().signing().algorithm().is_hmac() {
            return Err(AuthError::Key(ErrorKind::InvalidAlgorithm.into()));
        }
        Ok(Self {
            keys,
            issuer,
            access_ttl,
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public keys, as the JWK set lists them.
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.keys.load().jwks()
    }

    /// The algorithm the signing key signs with now.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.keys.load().signing().algorithm()
    }

    /// How long an access token lives.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// An access token for `client` on behalf of `subject` with `scopes` (and, when the
    /// client was granted scope `roles`, the account's `roles`).
    pub fn issue_access(
        &self,
        subject: &str,
        client: &ClientId,
        scopes: &Scopes,
        (jti, sid, roles): (String, Option<SessionId>, Option<&HeldRoles>),
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        let expires_at = now + self.access_ttl;
        let claims = ClientAccessClaims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: client.as_str().to_owned(),
            client_id: client.as_str().to_owned(),
            scope: scopes.to_string(),
            jti,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            sid: sid.map(|sid| sid.to_string()),
            roles: roles.map(HeldRoles::names),
        };
        let token = sign(self.keys.load().signing(), Some(ACCESS_TOKEN_TYPE), &claims)?;
        Ok(IssuedToken { token, expires_at })
    }

    /// An ID token with `facts`, living as long as an access token.
    pub fn issue_id_token(
        &self,
        facts: &IdTokenFacts<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let keys = self.keys.load();
        let claims = IdTokenClaims {
            iss: &self.issuer,
            sub: &facts.subject,
            aud: facts.client.as_str(),
            azp: facts.client.as_str(),
            exp: (now + self.access_ttl).timestamp(),
            iat: now.timestamp(),
            auth_time: facts.auth_time.timestamp(),
            nonce: facts.nonce,
            sid: facts.session.to_string(),
            acr: facts.assurance.aal().as_str(),
            amr: facts.assurance.amr(),
            at_hash: token_hash(keys.signing().algorithm(), facts.access_token),
            email: facts.email.map(|(email, _)| email),
            email_verified: facts.email.map(|(_, verified)| verified),
            roles: facts.roles.map(HeldRoles::names),
        };
        sign(keys.signing(), Some("JWT"), &claims)
    }

    /// Verifies a client access token: signature, issuer, expiry, header `typ` `at+jwt`.
    pub fn verify_access(&self, token: &str) -> Result<ClientAccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenError::Invalid);
        }
        let keys = self.keys.load();
        let (decoding, algorithm) = verifying_key(&keys, header.kid.as_deref())?;
        let mut validation = self.validation(algorithm, &["exp", "iat", "sub", "iss", "aud"]);
        validation.validate_aud = false;
        jsonwebtoken::decode::<ClientAccessClaims>(token, decoding, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    /// Reads an ID token this provider signed, whether or not it has expired (RP-initiated
    /// logout takes old ones).
    pub fn verify_id_token_hint(&self, token: &str) -> Result<IdTokenHint, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.typ.as_deref() == Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenError::Invalid);
        }
        let keys = self.keys.load();
        let (decoding, algorithm) = verifying_key(&keys, header.kid.as_deref())?;
        let mut validation = self.validation(algorithm, &["sub", "iss", "aud"]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        let hint = jsonwebtoken::decode::<IdTokenHint>(token, decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)?;
        if hint.token_type.is_some() || hint.azp != hint.aud || hint.at_hash.is_empty() {
            return Err(TokenError::Invalid);
        }
        Ok(hint)
    }

    fn validation(&self, algorithm: SigningAlgorithm, required: &[&str]) -> Validation {
        let mut validation = Validation::new(algorithm.jose());
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(required);
        validation
    }
}

/// The key named `kid` (the signing key, or one that signed before a rotation) and its
/// algorithm: the token's header chooses among our keys, never the algorithm.
fn verifying_key<'k>(
    keys: &'k KeySet,
    kid: Option<&str>,
) -> Result<(&'k jsonwebtoken::DecodingKey, SigningAlgorithm), TokenError> {
    let signing = keys.signing();
    if kid.is_none() || kid == signing.kid() {
        return Ok((&signing.decoding, signing.algorithm));
    }
    keys.verifying()
        .iter()
        .find(|key| key.kid().is_some() && key.kid() == kid)
        .map(|key| (&key.decoding, key.algorithm))
        .ok_or(TokenError::Invalid)
}

fn sign(key: &SigningKey, typ: Option<&str>, claims: &impl Serialize) -> Result<String, AuthError> {
    let mut header = Header::new(key.algorithm().jose());
    header.typ = typ.map(str::to_owned);
    header.kid = key.kid().map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).map_err(AuthError::Signing)
}

/// The PKCE `S256` challenge of `verifier`: base64url(SHA-256(verifier)), unpadded.
pub fn pkce_challenge(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

/// `at_hash`: the left half of the token's hash under the algorithm's hash (SHA-256 for
/// RS256 and ES256, SHA-512 for EdDSA with Ed25519), base64url.
fn token_hash(algorithm: SigningAlgorithm, token: &str) -> String {
    let digest: Vec<u8> = match algorithm {
        SigningAlgorithm::EdDSA => Sha512::digest(token.as_bytes()).to_vec(),
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    base64url(&digest[..digest.len() / 2])
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> ProviderTokens {
        ProviderTokens::new(
            SigningKey::generate_es256().unwrap(),
            "https://id.example.com".into(),
            Duration::minutes(5),
        )
        .unwrap()
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn access_tokens_verify_and_id_tokens_do_not_pass_for_them() {
        let tokens = tokens();
        let client = ClientId::parse("0123456789abcdef0123456789abcdef").unwrap();
        let scopes = Scopes::parse("openid email").unwrap();
        let access = tokens
            .issue_access(
                "user",
                &client,
                &scopes,
                ("g.1".into(), None, None),
                Utc::now(),
            )
            .unwrap();
        let claims = tokens.verify_access(&access.token).unwrap();
        assert_eq!(
            (claims.aud.as_str(), claims.scope.as_str()),
            (client.as_str(), "openid email")
        );
        let assurance = Assurance::password();
        let id_token = tokens
            .issue_id_token(
                &IdTokenFacts {
                    subject: "user".into(),
                    client: &client,
                    auth_time: Utc::now(),
                    nonce: Some("n"),
                    session: SessionId::new(),
                    assurance: &assurance,
                    access_token: &access.token,
                    email: None,
                    roles: None,
                },
                Utc::now(),
            )
            .unwrap();
        assert!(tokens.verify_access(&id_token).is_err());
        assert_eq!(
            tokens.verify_id_token_hint(&id_token).unwrap().aud,
            client.as_str()
        );
        assert!(tokens.verify_id_token_hint(&access.token).is_err());
    }
}
