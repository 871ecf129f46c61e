//! JWT access and refresh tokens.
//!
//! The algorithm is pinned by configuration: verification builds its `Validation` from the
//! configured algorithm only, so a token whose header says `none` or another algorithm is
//! rejected. `exp` is required, `nbf` checked, the leeway is 30 seconds, and the `type`
//! claim keeps access and refresh tokens from standing in for each other.

use chrono::{DateTime, Duration, Utc};
use gatehouse_domain::{Assurance, HeldRoles, SessionId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, errors::ErrorKind, jwk::JwkSet};

use crate::{AuthError, TokenError};

mod claims;
mod key_file;
mod keys;
mod provider;
mod ring;

pub use claims::{AccessClaims, IssuedToken, RefreshClaims, TokenType};
pub(crate) use claims::{WireClaims, access_claims};
use claims::{parse_id, timestamp};
pub use keys::{SigningAlgorithm, SigningKey, VerifyingKey};
pub use provider::{
    ACCESS_TOKEN_TYPE, ClientAccessClaims, IdTokenFacts, IdTokenHint, ProviderTokens,
    pkce_challenge,
};
pub use ring::{KeyRing, KeySet};

/// Clock skew tolerated between issuer and verifier.
pub(crate) const LEEWAY_SECONDS: u64 = 30;

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
    /// Keys that signed before a rotation by hand, of the same algorithm: their tokens
    /// still verify (an asymmetric one is picked by the token's `kid` and listed in the
    /// JWK set; an HMAC secret is tried after the current one and never listed).
    pub previous: Vec<VerifyingKey>,
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
            previous: Vec::new(),
        }
    }
}

/// Issues and verifies tokens. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JwtCodec {
    /// The keys: shared with whoever else signs with them, and replaced on a rotation.
    ring: KeyRing,
    access_ttl: Duration,
    refresh_ttl: Duration,
    issuer: Option<String>,
    audience: Option<String>,
    /// The checks for each algorithm a key of the ring may have (each key is checked
    /// under its own algorithm only, never the one a token's header names), and the same
    /// but `exp`'s: for a token that names a server-side session whose own state decides
    /// (see [`JwtCodec::verify_session_handle`]).
    validations: std::sync::Arc<[(SigningAlgorithm, Validation, Validation)]>,
}

impl JwtCodec {
    /// Builds the codec and proves the key works both ways: it signs a probe token and
    /// verifies it, so a private key that does not match its public key fails here, at
    /// start, rather than as rejected tokens later.
    pub fn new(config: JwtConfig) -> Result<Self, AuthError> {
        let validations = SigningAlgorithm::ALL
            .iter()
            .map(|&algorithm| {
                let validation = validation(
                    algorithm.jose(),
                    config.issuer.as_deref(),
                    config.audience.as_deref(),
                );
                let mut handle_validation = validation.clone();
                handle_validation.validate_exp = false;
                (algorithm, validation, handle_validation)
            })
            .collect();
        let codec = Self {
            ring: KeyRing::new(KeySet::new(config.key, config.previous)),
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
            issuer: config.issuer,
            audience: config.audience,
            validations,
        };
        let probe = codec.issue_access(UserId::new(), SessionId::new(), false, Utc::now())?;
        codec
            .verify_access(&probe.token)
            .map_err(|_| AuthError::KeyMismatch)?;
        Ok(codec)
    }

    /// The keys this codec signs and verifies with: replacing its set (a managed key's
    /// rotation) changes every clone of this codec and whatever else shares the ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The public keys that verify this codec's tokens, as a JWK set: the key pair's
    /// public key and the other ones', or nothing for HMAC secrets (which must never be
    /// published).
    pub fn jwks(&self) -> JwkSet {
        self.ring.load().jwks()
    }

    /// Access token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Refresh token (and session) lifetime.
    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    /// Signs an access token issued at `now`. `fresh` marks tokens from a password login.
    pub fn issue_access(
        &self,
        user_id: UserId,
        session_id: SessionId,
        fresh: bool,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        let (assurance, roles) = (&Assurance::password(), &HeldRoles::default());
        self.issue_access_at(user_id, session_id, fresh, (assurance, roles), now)
    }

    /// [`issue_access`](Self::issue_access) for a session opened with `assurance`
    /// (carried as `aal` and `amr`) of an account holding `roles` now (claim `roles`).
    pub fn issue_access_at(
        &self,
        user_id: UserId,
        session_id: SessionId,
        fresh: bool,
        (assurance, roles): (&Assurance, &HeldRoles),
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        self.access_token((user_id, session_id, assurance), fresh, (false, roles), now)
    }

    /// [`issue_access_at`](Self::issue_access_at) marked as the handle of a browser
    /// session that gatehouse's own pages opened (claim `page`): the only kind
    /// [`verify_session_handle`](Self::verify_session_handle) accepts.
    pub fn issue_page_handle(
        &self,
        user_id: UserId,
        session_id: SessionId,
        fresh: bool,
        (assurance, roles): (&Assurance, &HeldRoles),
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        self.access_token((user_id, session_id, assurance), fresh, (true, roles), now)
    }

    fn access_token(
        &self,
        subject: (UserId, SessionId, &Assurance),
        fresh: bool,
        (page, roles): (bool, &HeldRoles),
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        self.sign(
            TokenType::Access,
            subject,
            None,
            (Some(fresh), page, Some(roles.names())),
            now,
            self.access_ttl,
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
        let session = (session_id, session_expires_at);
        self.issue_refresh_at(user_id, session, generation, &Assurance::password(), now)
    }

    /// [`issue_refresh`](Self::issue_refresh) for a session (id, expiry) opened with
    /// `assurance`.
    pub fn issue_refresh_at(
        &self,
        user_id: UserId,
        (session_id, session_expires_at): (SessionId, DateTime<Utc>),
        generation: u32,
        assurance: &Assurance,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        self.refresh_token(
            user_id,
            (session_id, session_expires_at),
            generation,
            assurance,
            false,
            now,
        )
    }

    /// [`issue_refresh_at`](Self::issue_refresh_at) for a browser session of gatehouse's
    /// own pages (claim `page`): its refresh answers with page handles.
    pub fn issue_page_refresh(
        &self,
        user_id: UserId,
        session: (SessionId, DateTime<Utc>),
        generation: u32,
        assurance: &Assurance,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        self.refresh_token(user_id, session, generation, assurance, true, now)
    }

    fn refresh_token(
        &self,
        user_id: UserId,
        (session_id, session_expires_at): (SessionId, DateTime<Utc>),
        generation: u32,
        assurance: &Assurance,
        page: bool,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        let lifetime = (session_expires_at - now).min(self.refresh_ttl);
        self.sign(
            TokenType::Refresh,
            (user_id, session_id, assurance),
            Some(generation),
            (None, page, None),
            now,
            lifetime,
        )
    }

    /// Verifies an access token.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        access_claims(self.decode(token, TokenType::Access)?)
    }

    /// Verifies an access token as a handle on its session, whether or not it has
    /// expired: signature, algorithm, type and the other claims as usual. For callers that
    /// then check the session itself on every request (gatehouse's own pages, whose
    /// browser session lasts as long as the server-side session does), never for an API.
    /// Only a handle the pages issued ([`issue_page_handle`](Self::issue_page_handle)) is
    /// one: an API client's access token, expired or not, opens no page.
    pub fn verify_session_handle(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = access_claims(self.decode_with(token, true, TokenType::Access)?)?;
        if !claims.page_session {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// Verifies a refresh token.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let claims = self.decode(token, TokenType::Refresh)?;
        Ok(RefreshClaims {
            user_id: parse_id(&claims.sub).map(UserId::from_uuid)?,
            session_id: parse_id(&claims.sid).map(SessionId::from_uuid)?,
            generation: claims.generation.ok_or(TokenError::Invalid)?,
            assurance: match &claims.amr {
                None => Assurance::password(),
                Some(names) => Assurance::from_amr(names.iter().map(String::as_str))
                    .ok_or(TokenError::Invalid)?,
            },
            expires_at: timestamp(claims.exp)?,
            page_session: claims.page == Some(true),
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
        (user_id, session_id, assurance): (UserId, SessionId, &Assurance),
        generation: Option<u32>,
        (fresh, page, roles): (Option<bool>, bool, Option<Vec<String>>),
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<IssuedToken, AuthError> {
        let expires_at = now + lifetime;
        let claims = WireClaims {
            sub: user_id.to_string(),
            token_type,
            // 32 hex digits, not the hyphenated 36: the bytes the `roles` claim adds to
            // every access token are paid for here.
            jti: uuid::Uuid::new_v4().simple().to_string(),
            sid: session_id.to_string(),
            generation,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            fresh,
            aal: Some(assurance.aal().as_str().to_owned()),
            amr: Some(assurance.amr().into_iter().map(str::to_owned).collect()),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            page: page.then_some(true),
            roles,
        };
        let keys = self.ring.load();
        let key = keys.signing();
        let mut header = Header::new(key.algorithm.jose());
        header.kid = key.kid().map(str::to_owned);
        let token =
            jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(AuthError::Signing)?;
        Ok(IssuedToken { token, expires_at })
    }

    fn decode(&self, token: &str, expected: TokenType) -> Result<WireClaims, TokenError> {
        self.decode_with(token, false, expected)
    }

    /// The checks for a key of `algorithm`; `handle`: without `exp`'s.
    fn validation_for(&self, algorithm: SigningAlgorithm, handle: bool) -> &Validation {
        let (_, validation, handle_validation) = self
            .validations
            .iter()
            .find(|(each, _, _)| *each == algorithm)
            .unwrap_or_else(|| unreachable!("a validation is built for every algorithm"));
        if handle {
            handle_validation
        } else {
            validation
        }
    }

    /// Verifies with the signing key, or with the other key the token's `kid` names, or
    /// (HMAC secrets have no `kid`) with each other secret in turn. A token without a
    /// `kid` is the signing key's to verify, whatever else the ring holds. Each key checks
    /// under its own algorithm.
    fn decode_with(
        &self,
        token: &str,
        handle: bool,
        expected: TokenType,
    ) -> Result<WireClaims, TokenError> {
        let keys = self.ring.load();
        let signing = keys.signing();
        let with_signing_key = || {
            let validation = self.validation_for(signing.algorithm, handle);
            decode_claims(token, &signing.decoding, validation, expected)
        };
        if keys.verifying().is_empty() {
            return with_signing_key();
        }
        let Some(signing_kid) = signing.kid() else {
            // Secrets: the current one, then each other in turn.
            let current = with_signing_key();
            if !matches!(current, Err(TokenError::Invalid)) {
                return current;
            }
            for key in keys.verifying() {
                let validation = self.validation_for(key.algorithm, handle);
                match decode_claims(token, &key.decoding, validation, expected) {
                    Err(TokenError::Invalid) => continue,
                    verified => return verified,
                }
            }
            return current;
        };
        // Key pairs: the header says which key, so only that one is tried.
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::Invalid)?
            .kid;
        match kid {
            None => with_signing_key(),
            Some(kid) if kid == signing_kid => with_signing_key(),
            Some(kid) => {
                let key = keys
                    .verifying()
                    .iter()
                    .find(|key| key.kid() == Some(kid.as_str()))
                    .ok_or(TokenError::Invalid)?;
                let validation = self.validation_for(key.algorithm, handle);
                decode_claims(token, &key.decoding, validation, expected)
            }
        }
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
    // A client's access token (`at+jwt`) or anything else typed is not one of ours,
    // even when it shares our key.
    if data.header.typ.as_deref().is_some_and(|typ| typ != "JWT") {
        return Err(TokenError::Invalid);
    }
    if data.claims.token_type != expected {
        return Err(TokenError::WrongType);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests;
