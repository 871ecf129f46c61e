//! JWT access and refresh tokens.
//!
//! The algorithm is pinned by configuration: verification builds its `Validation` from the
//! configured algorithm only, so a token whose header says `none` or another algorithm is
//! rejected. `exp` is required, `nbf` checked, the leeway is 30 seconds, and the `type`
//! claim keeps access and refresh tokens from standing in for each other.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::{SessionId, UserId};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
    errors::ErrorKind,
    jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash},
};
use serde::{Deserialize, Serialize};

use crate::{AuthError, TokenError};

/// Clock skew tolerated between issuer and verifier.
pub(crate) const LEEWAY_SECONDS: u64 = 30;

/// The signing algorithms Gatehouse supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// HMAC-SHA-256 with a shared secret.
    HS256,
    /// HMAC-SHA-384 with a shared secret.
    HS384,
    /// HMAC-SHA-512 with a shared secret.
    HS512,
    /// RSA PKCS#1 v1.5 with SHA-256, from a key pair.
    RS256,
    /// ECDSA P-256 with SHA-256, from a key pair.
    ES256,
    /// Ed25519, from a key pair.
    EdDSA,
}

impl SigningAlgorithm {
    /// Parses the JOSE name (`HS256`, `RS256`, …), case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "RS256" => Self::RS256,
            "ES256" => Self::ES256,
            "EDDSA" => Self::EdDSA,
            _ => return None,
        })
    }

    /// Whether the algorithm signs with a shared secret (else with a key pair).
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// The asymmetric algorithm a JOSE name stands for; HMAC and unsupported names are
    /// `None`, so a key set can never turn a public key into an HMAC secret.
    pub(crate) fn asymmetric_from_jose(algorithm: Algorithm) -> Option<Self> {
        match algorithm {
            Algorithm::RS256 => Some(Self::RS256),
            Algorithm::ES256 => Some(Self::ES256),
            Algorithm::EdDSA => Some(Self::EdDSA),
            _ => None,
        }
    }

    pub(crate) fn jose(self) -> Algorithm {
        match self {
            Self::HS256 => Algorithm::HS256,
            Self::HS384 => Algorithm::HS384,
            Self::HS512 => Algorithm::HS512,
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }
}

/// The key material for one algorithm: what signs and what verifies.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: SigningAlgorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public key as a JWK with its `kid` (key pairs only: a secret is never
    /// published).
    public_jwk: Option<Jwk>,
}

impl SigningKey {
    /// An HMAC key. `algorithm` must be one of the HS algorithms.
    pub fn hmac(algorithm: SigningAlgorithm, secret: &[u8]) -> Result<Self, AuthError> {
        if !algorithm.is_hmac() {
            return Err(AuthError::Key(ErrorKind::InvalidAlgorithm.into()));
        }
        Ok(Self {
            algorithm,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        })
    }

    /// An HS256 key: the default algorithm.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            algorithm: SigningAlgorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        }
    }

    /// A key pair from PEM text, for RS256, ES256 or EdDSA.
    pub fn from_pem(
        algorithm: SigningAlgorithm,
        private_pem: &[u8],
        public_pem: &[u8],
    ) -> Result<Self, AuthError> {
        let (encoding, decoding) = match algorithm {
            SigningAlgorithm::RS256 => (
                EncodingKey::from_rsa_pem(private_pem),
                DecodingKey::from_rsa_pem(public_pem),
            ),
            SigningAlgorithm::ES256 => (
                EncodingKey::from_ec_pem(private_pem),
                DecodingKey::from_ec_pem(public_pem),
            ),
            SigningAlgorithm::EdDSA => (
                EncodingKey::from_ed_pem(private_pem),
                DecodingKey::from_ed_pem(public_pem),
            ),
            _ => return Err(AuthError::Key(ErrorKind::InvalidAlgorithm.into())),
        };
        let decoding = decoding.map_err(AuthError::Key)?;
        let public_jwk = public_jwk(&decoding, algorithm)?;
        Ok(Self {
            algorithm,
            encoding: encoding.map_err(AuthError::Key)?,
            decoding,
            public_jwk: Some(public_jwk),
        })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The key id tokens carry in their header: the public key's RFC 7638 thumbprint
    /// (SHA-256), so it changes exactly when the key does. `None` for HMAC secrets.
    pub fn kid(&self) -> Option<&str> {
        self.public_jwk
            .as_ref()
            .and_then(|jwk| jwk.common.key_id.as_deref())
    }
}

/// The public half of a key pair as a JWK: `kty` and the key's parameters, `alg`,
/// `use: sig`, and the thumbprint as `kid`.
fn public_jwk(decoding: &DecodingKey, algorithm: SigningAlgorithm) -> Result<Jwk, AuthError> {
    let mut jwk =
        Jwk::from_decoding_key(decoding, Some(algorithm.jose())).map_err(AuthError::Key)?;
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(AuthError::Key)?;
    jwk.common.key_id = Some(kid);
    Ok(jwk)
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Token settings.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// What signs and verifies.
    pub key: SigningKey,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token (and session) lifetime.
    pub refresh_ttl: Duration,
    /// `iss` to set and require, if any.
    pub issuer: Option<String>,
    /// `aud` to set and require, if any.
    pub audience: Option<String>,
}

impl JwtConfig {
    /// The starter's lifetimes (15 minutes, 7 days), no issuer or audience.
    pub fn new(key: SigningKey) -> Self {
        Self {
            key,
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(7),
            issuer: None,
            audience: None,
        }
    }
}

/// The two kinds of token, as the `type` claim spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Short-lived, presented to protected routes.
    Access,
    /// Long-lived, presented only to `/auth/refresh` and `/auth/logout`.
    Refresh,
}

/// The claims on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireClaims {
    sub: String,
    #[serde(rename = "type")]
    token_type: TokenType,
    jti: String,
    sid: String,
    #[serde(rename = "gen", default, skip_serializing_if = "Option::is_none")]
    generation: Option<u32>,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fresh: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

/// A signed token and when it stops being accepted.
#[derive(Clone)]
pub struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// Whose token it is.
    pub user_id: UserId,
    /// Which session it belongs to.
    pub session_id: SessionId,
    /// Issued straight from a password login (not from a refresh).
    pub fresh: bool,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

/// A verified refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshClaims {
    /// Whose token it is.
    pub user_id: UserId,
    /// Which session it belongs to.
    pub session_id: SessionId,
    /// How many refreshes lie between login and this token.
    pub generation: u32,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

/// Issues and verifies tokens. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JwtCodec {
    config: JwtConfig,
    validation: Validation,
}

impl JwtCodec {
    /// Builds the codec and proves the key works both ways: it signs a probe token and
    /// verifies it, so a private key that does not match its public key fails here, at
    /// start, rather than as rejected tokens later.
    pub fn new(config: JwtConfig) -> Result<Self, AuthError> {
        let validation = validation(
            config.key.algorithm.jose(),
            config.issuer.as_deref(),
            config.audience.as_deref(),
        );
        let codec = Self { config, validation };
        let probe = codec.issue_access(UserId::new(), SessionId::new(), false, Utc::now())?;
        codec
            .verify_access(&probe.token)
            .map_err(|_| AuthError::KeyMismatch)?;
        Ok(codec)
    }

    /// The public keys that verify this codec's tokens, as a JWK set: the key pair's
    /// public key, or nothing for an HMAC secret (which must never be published).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.config.key.public_jwk.iter().cloned().collect(),
        }
    }

    /// Access token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.config.access_ttl
    }

    /// Refresh token (and session) lifetime.
    pub fn refresh_ttl(&self) -> Duration {
        self.config.refresh_ttl
    }

    /// Signs an access token issued at `now`. `fresh` marks tokens from a password login.
    pub fn issue_access(
        &self,
        user_id: UserId,
        session_id: SessionId,
        fresh: bool,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        self.sign(
            TokenType::Access,
            user_id,
            session_id,
            None,
            Some(fresh),
            now,
            self.config.access_ttl,
        )
    }

    /// Signs a refresh token of `generation` issued at `now`, valid until `session_expires_at`
    /// at the latest (a refresh never extends the session).
    pub fn issue_refresh(
        &self,
        user_id: UserId,
        session_id: SessionId,
        generation: u32,
        now: DateTime<Utc>,
        session_expires_at: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        let lifetime = (session_expires_at - now).min(self.config.refresh_ttl);
        self.sign(
            TokenType::Refresh,
            user_id,
            session_id,
            Some(generation),
            None,
            now,
            lifetime,
        )
    }

    /// Verifies an access token.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        access_claims(self.decode(token, TokenType::Access)?)
    }

    /// Verifies a refresh token.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let claims = self.decode(token, TokenType::Refresh)?;
        Ok(RefreshClaims {
            user_id: parse_id(&claims.sub).map(UserId::from_uuid)?,
            session_id: parse_id(&claims.sid).map(SessionId::from_uuid)?,
            generation: claims.generation.ok_or(TokenError::Invalid)?,
            expires_at: timestamp(claims.exp)?,
        })
    }

    /// Verifies a token of either type and tells which it was: for routes such as logout
    /// that take both.
    pub fn verify_any(&self, token: &str) -> Result<(TokenType, UserId, SessionId), TokenError> {
        match self.verify_access(token) {
            Ok(claims) => Ok((TokenType::Access, claims.user_id, claims.session_id)),
            Err(TokenError::WrongType) => self
                .verify_refresh(token)
                .map(|claims| (TokenType::Refresh, claims.user_id, claims.session_id)),
            Err(other) => Err(other),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        token_type: TokenType,
        user_id: UserId,
        session_id: SessionId,
        generation: Option<u32>,
        fresh: Option<bool>,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<IssuedToken, AuthError> {
        let expires_at = now + lifetime;
        let claims = WireClaims {
            sub: user_id.to_string(),
            token_type,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session_id.to_string(),
            generation,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            fresh,
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
        };
        let mut header = Header::new(self.config.key.algorithm.jose());
        header.kid = self.config.key.kid().map(str::to_owned);
        let token = jsonwebtoken::encode(&header, &claims, &self.config.key.encoding)
            .map_err(AuthError::Signing)?;
        Ok(IssuedToken { token, expires_at })
    }

    fn decode(&self, token: &str, expected: TokenType) -> Result<WireClaims, TokenError> {
        decode_claims(token, &self.config.key.decoding, &self.validation, expected)
    }
}

/// The checks every verification makes: the pinned algorithm, `exp` (required) and
/// `nbf` with the leeway, and `iss`/`aud` when configured.
pub(crate) fn validation(
    algorithm: Algorithm,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp", "nbf", "iat", "sub"];
    match issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    match audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Verifies `token` with `key` under `validation` and checks its `type`.
pub(crate) fn decode_claims(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
    expected: TokenType,
) -> Result<WireClaims, TokenError> {
    let data =
        jsonwebtoken::decode::<WireClaims>(token, key, validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
    if data.claims.token_type != expected {
        return Err(TokenError::WrongType);
    }
    Ok(data.claims)
}

/// The verified claims of an access token, in domain types.
pub(crate) fn access_claims(claims: WireClaims) -> Result<AccessClaims, TokenError> {
    Ok(AccessClaims {
        user_id: parse_id(&claims.sub).map(UserId::from_uuid)?,
        session_id: parse_id(&claims.sid).map(SessionId::from_uuid)?,
        fresh: claims.fresh.unwrap_or(false),
        expires_at: timestamp(claims.exp)?,
    })
}

fn parse_id(raw: &str) -> Result<uuid::Uuid, TokenError> {
    uuid::Uuid::parse_str(raw).map_err(|_| TokenError::Invalid)
}

fn timestamp(seconds: i64) -> Result<DateTime<Utc>, TokenError> {
    DateTime::from_timestamp(seconds, 0).ok_or(TokenError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";

    fn codec() -> JwtCodec {
        JwtCodec::new(JwtConfig::new(SigningKey::hs256(SECRET))).unwrap()
    }

    #[test]
    fn access_tokens_round_trip_with_their_claims() {
        let codec = codec();
        let (user, session) = (UserId::new(), SessionId::new());
        let issued = codec.issue_access(user, session, true, Utc::now()).unwrap();
        let claims = codec.verify_access(&issued.token).unwrap();
        assert_eq!(
            (claims.user_id, claims.session_id, claims.fresh),
            (user, session, true)
        );
    }

    #[test]
    fn token_types_are_not_interchangeable() {
        let codec = codec();
        let now = Utc::now();
        let refresh = codec
            .issue_refresh(
                UserId::new(),
                SessionId::new(),
                3,
                now,
                now + Duration::days(1),
            )
            .unwrap();
        assert_eq!(
            codec.verify_access(&refresh.token),
            Err(TokenError::WrongType)
        );
        assert_eq!(codec.verify_refresh(&refresh.token).unwrap().generation, 3);
        let access = codec
            .issue_access(UserId::new(), SessionId::new(), false, now)
            .unwrap();
        assert_eq!(
            codec.verify_refresh(&access.token),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn expired_tokens_are_rejected_beyond_the_leeway_only() {
        let codec = codec();
        let ttl = codec.access_ttl();
        let within_leeway = Utc::now() - ttl - Duration::seconds(10);
        let token = codec
            .issue_access(UserId::new(), SessionId::new(), false, within_leeway)
            .unwrap();
        assert!(codec.verify_access(&token.token).is_ok());
        let past_leeway = Utc::now() - ttl - Duration::seconds(60);
        let token = codec
            .issue_access(UserId::new(), SessionId::new(), false, past_leeway)
            .unwrap();
        assert_eq!(codec.verify_access(&token.token), Err(TokenError::Expired));
    }

    #[test]
    fn tokens_from_the_future_are_not_yet_valid() {
        let codec = codec();
        let later = Utc::now() + Duration::minutes(5);
        let token = codec
            .issue_access(UserId::new(), SessionId::new(), false, later)
            .unwrap();
        assert_eq!(codec.verify_access(&token.token), Err(TokenError::Invalid));
    }

    #[test]
    fn another_key_or_algorithm_or_none_is_rejected() {
        let issued = codec()
            .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
            .unwrap();
        let other_key = JwtCodec::new(JwtConfig::new(SigningKey::hs256(
            b"another-secret-of-32-bytes-or-more!!",
        )))
        .unwrap();
        assert_eq!(
            other_key.verify_access(&issued.token),
            Err(TokenError::Invalid)
        );

        let hs512 = SigningKey::hmac(SigningAlgorithm::HS512, SECRET).unwrap();
        let hs512_token = JwtCodec::new(JwtConfig::new(hs512))
            .unwrap()
            .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
            .unwrap();
        assert_eq!(
            codec().verify_access(&hs512_token.token),
            Err(TokenError::Invalid)
        );

        // Same claims, `alg: none`, no signature.
        let payload = issued.token.split('.').nth(1).unwrap();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        for forged in [
            format!("{none_header}.{payload}."),
            format!("{none_header}.{payload}"),
        ] {
            assert_eq!(codec().verify_access(&forged), Err(TokenError::Invalid));
        }
        for garbage in ["", "abc", "a.b.c", "....."] {
            assert_eq!(codec().verify_access(garbage), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn issuer_and_audience_are_required_when_configured() {
        let mut config = JwtConfig::new(SigningKey::hs256(SECRET));
        config.issuer = Some("gatehouse".into());
        config.audience = Some("api".into());
        let strict = JwtCodec::new(config).unwrap();
        let plain = codec()
            .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
            .unwrap();
        assert_eq!(strict.verify_access(&plain.token), Err(TokenError::Invalid));
        let own = strict
            .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
            .unwrap();
        assert!(strict.verify_access(&own.token).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn verification_never_panics_on_arbitrary_input(raw in "\\PC{0,400}") {
            let codec = codec();
            proptest::prop_assert!(codec.verify_access(&raw).is_err());
            proptest::prop_assert!(codec.verify_refresh(&raw).is_err());
        }

        #[test]
        fn every_one_character_change_of_a_valid_token_is_refused(
            position in 0usize..10_000,
            replacement in proptest::sample::select(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=".chars().collect::<Vec<_>>()
            ),
        ) {
            let codec = codec();
            let token = codec
                .issue_access(UserId::new(), SessionId::new(), true, Utc::now())
                .unwrap()
                .token;
            let position = position % token.len();
            let original = token.as_bytes()[position] as char;
            proptest::prop_assume!(original != replacement);
            let mut mutated = token.clone();
            mutated.replace_range(position..=position, &replacement.to_string());
            proptest::prop_assert!(codec.verify_access(&mutated).is_err(), "{}", mutated);
        }

        #[test]
        fn every_truncation_of_a_valid_token_is_refused(cut in 0usize..10_000) {
            let codec = codec();
            let token = codec
                .issue_access(UserId::new(), SessionId::new(), true, Utc::now())
                .unwrap()
                .token;
            let cut = cut % token.len();
            proptest::prop_assert!(codec.verify_access(&token[..cut]).is_err());
        }
    }

    #[test]
    fn debug_output_never_contains_a_token() {
        let issued = codec()
            .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
            .unwrap();
        assert!(!format!("{issued:?}").contains(&issued.token));
    }
}
