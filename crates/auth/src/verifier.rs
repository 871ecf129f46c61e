//! Verifying Gatehouse access tokens in another service, without the power to issue them.
//!
//! A [`TokenVerifier`] is built from what a resource server may hold: the shared HMAC
//! secret, or the public keys Gatehouse publishes at `/.well-known/jwks.json`. With a key
//! set, the token's `kid` picks the key and the key's own algorithm is pinned, so the
//! token's `alg` header is never trusted and a public key can never be used as an HMAC
//! secret. Fetching the key set is left to the caller (this crate does no I/O).
//!
//! What a verifier cannot know is whether the session behind a token has ended: that lives
//! in Gatehouse's database. A revoked session's access tokens stay valid here until they
//! expire (15 minutes by default); services that need revocation at once ask Gatehouse
//! (`GET /users/me`).

use std::{collections::HashMap, str::FromStr};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse},
};

use crate::{
    ACCESS_TOKEN_TYPE, AccessClaims, AuthError, ClientAccessClaims, SigningAlgorithm, TokenError,
    jwt::{TokenType, access_claims, decode_claims, validation},
};

/// What a verifier requires beyond a good signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifierConfig {
    /// `iss` to require (Gatehouse's `JWT_ISSUER`), if any.
    pub issuer: Option<String>,
    /// `aud` to require (Gatehouse's `JWT_AUDIENCE`), if any.
    pub audience: Option<String>,
}

/// Verifies access tokens issued by Gatehouse. Cheap to share behind an `Arc`.
pub struct TokenVerifier {
    keys: Keys,
}

enum Keys {
    Shared(Box<(DecodingKey, Validation)>),
    /// By `kid`; each key with the validation of its own algorithm.
    Published(HashMap<String, (DecodingKey, Validation)>),
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.keys {
            Keys::Shared(..) => f.write_str("TokenVerifier(shared secret)"),
            Keys::Published(keys) => f
                .debug_tuple("TokenVerifier")
                .field(&keys.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl TokenVerifier {
    /// A verifier holding the shared secret (`JWT_SECRET_KEY`) of an HMAC algorithm.
    pub fn from_secret(
        algorithm: SigningAlgorithm,
        secret: &[u8],
        config: VerifierConfig,
    ) -> Result<Self, AuthError> {
        if !algorithm.is_hmac() {
            return Err(AuthError::KeySet(format!(
                "{algorithm:?} is not a shared-secret algorithm; build the verifier from the JWK set"
            )));
        }
        let validation = validation(
            algorithm.jose(),
            config.issuer.as_deref(),
            config.audience.as_deref(),
        );
        Ok(Self {
            keys: Keys::Shared(Box::new((DecodingKey::from_secret(secret), validation))),
        })
    }

    /// A verifier for the signing keys of a JWK set (`/.well-known/jwks.json`). Keys
    /// without a `kid`, meant for encryption, or of an algorithm Gatehouse does not sign
    /// with are skipped; a set with no usable key is an error.
    pub fn from_jwks(set: &JwkSet, config: &VerifierConfig) -> Result<Self, AuthError> {
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Some(algorithm) = signing_algorithm(jwk) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let validation = validation(
                algorithm.jose(),
                config.issuer.as_deref(),
                config.audience.as_deref(),
            );
            keys.insert(kid, (key, validation));
        }
        if keys.is_empty() {
            return Err(AuthError::KeySet(
                "no RS256, ES256 or EdDSA signing key with a kid".into(),
            ));
        }
        Ok(Self {
            keys: Keys::Published(keys),
        })
    }

    /// [`from_jwks`](Self::from_jwks) for the JSON text of a key set.
    pub fn from_jwks_json(json: &[u8], config: &VerifierConfig) -> Result<Self, AuthError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| AuthError::KeySet(e.to_string()))?;
        Self::from_jwks(&set, config)
    }

    /// Verifies an access token: signature, algorithm, `exp`/`nbf`, `type`, and
    /// `iss`/`aud` when configured. [`TokenError::UnknownKey`] means the token names a key
    /// this verifier does not have: fetch the key set again (the issuer may have rotated
    /// its key) and retry once.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = match &self.keys {
            Keys::Shared(shared) => {
                let (key, validation) = shared.as_ref();
                decode_claims(token, key, validation, TokenType::Access)?
            }
            Keys::Published(keys) => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
                let kid = header.kid.ok_or(TokenError::Invalid)?;
                let (key, validation) = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
                decode_claims(token, key, validation, TokenType::Access)?
            }
        };
        access_claims(claims)
    }
}

impl TokenVerifier {
    /// Verifies an access token gatehouse issued as an OpenID Provider to the client
    /// `audience` (RFC 9068): header `typ` `at+jwt`, signature by a published key,
    /// `exp`, `aud` = `audience`, and `iss` when configured. Gatehouse's own tokens (and
    /// ID tokens) are refused, as client tokens are by [`verify_access`](Self::verify_access).
    /// A shared-secret verifier has no client tokens to accept: the provider signs only
    /// with published keys.
    pub fn verify_client_access(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<ClientAccessClaims, TokenError> {
        let Keys::Published(keys) = &self.keys else {
            return Err(TokenError::Invalid);
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let (key, first_party) = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = first_party.clone();
        validation.validate_nbf = false;
        validation.set_audience(&[audience]);
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        jsonwebtoken::decode::<ClientAccessClaims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// The algorithm a JWK is for: its `alg`, else what its key type implies. Only the
/// asymmetric algorithms Gatehouse signs with qualify.
fn signing_algorithm(jwk: &Jwk) -> Option<SigningAlgorithm> {
    let jose = match jwk.common.key_algorithm {
        Some(alg) => Algorithm::from_str(&alg.to_string()).ok()?,
        None => match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            _ => return None,
        },
    };
    SigningAlgorithm::asymmetric_from_jose(jose)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use gatehouse_domain::{SessionId, UserId};

    use super::*;
    use crate::{JwtCodec, JwtConfig, SigningKey};

    const SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../server/tests/fixtures/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    fn key_pair_codec(algorithm: SigningAlgorithm, prefix: &str) -> JwtCodec {
        let key = SigningKey::from_pem(
            algorithm,
            &fixture(&format!("{prefix}-private.pem")),
            &fixture(&format!("{prefix}-public.pem")),
        )
        .unwrap();
        JwtCodec::new(JwtConfig::new(key)).unwrap()
    }

    #[test]
    fn a_shared_secret_verifier_accepts_the_issuers_tokens_only() {
        let codec = JwtCodec::new(JwtConfig::new(SigningKey::hs256(SECRET))).unwrap();
        let verifier =
            TokenVerifier::from_secret(SigningAlgorithm::HS256, SECRET, VerifierConfig::default())
                .unwrap();
        let (user, session) = (UserId::new(), SessionId::new());
        let token = codec.issue_access(user, session, true, Utc::now()).unwrap();
        let claims = verifier.verify_access(&token.token).unwrap();
        assert_eq!((claims.user_id, claims.session_id), (user, session));
        let other = TokenVerifier::from_secret(
            SigningAlgorithm::HS256,
            b"another-secret-of-32-bytes-or-more!!",
            VerifierConfig::default(),
        )
        .unwrap();
        assert_eq!(other.verify_access(&token.token), Err(TokenError::Invalid));
    }

    #[test]
    fn a_key_set_verifier_accepts_tokens_of_every_published_algorithm() {
        for (algorithm, prefix) in [
            (SigningAlgorithm::RS256, "rs256"),
            (SigningAlgorithm::ES256, "es256"),
            (SigningAlgorithm::EdDSA, "eddsa"),
        ] {
            let codec = key_pair_codec(algorithm, prefix);
            let json = serde_json::to_vec(&codec.jwks()).unwrap();
            let verifier = TokenVerifier::from_jwks_json(&json, &VerifierConfig::default())
                .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
            let token = codec
                .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
                .unwrap();
            assert!(
                verifier.verify_access(&token.token).is_ok(),
                "{algorithm:?}"
            );
            let refresh = codec
                .issue_refresh(
                    UserId::new(),
                    SessionId::new(),
                    0,
                    Utc::now(),
                    Utc::now() + chrono::Duration::days(1),
                )
                .unwrap();
            assert_eq!(
                verifier.verify_access(&refresh.token),
                Err(TokenError::WrongType)
            );
        }
    }

    #[test]
    fn unknown_kids_and_hmac_tokens_are_refused_by_a_key_set_verifier() {
        let eddsa = key_pair_codec(SigningAlgorithm::EdDSA, "eddsa");
        let rsa = key_pair_codec(SigningAlgorithm::RS256, "rs256");
        let verifier = TokenVerifier::from_jwks(&eddsa.jwks(), &VerifierConfig::default()).unwrap();
        let foreign = rsa
            .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
            .unwrap();
        assert_eq!(
            verifier.verify_access(&foreign.token),
            Err(TokenError::UnknownKey)
        );
        // An HMAC token (no kid) signed with the published key's bytes as the secret.
        let hmac = JwtCodec::new(JwtConfig::new(SigningKey::hs256(&fixture(
            "eddsa-public.pem",
        ))))
        .unwrap()
        .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
        .unwrap();
        assert_eq!(
            verifier.verify_access(&hmac.token),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_private_key_that_does_not_match_its_public_key_is_refused_at_construction() {
        let key = SigningKey::from_pem(
            SigningAlgorithm::EdDSA,
            &fixture("eddsa-private.pem"),
            &fixture("eddsa-other-public.pem"),
        )
        .unwrap();
        assert!(matches!(
            JwtCodec::new(JwtConfig::new(key)),
            Err(AuthError::KeyMismatch)
        ));
    }

    #[test]
    fn tokens_carry_the_public_keys_thumbprint_as_kid() {
        let codec = key_pair_codec(SigningAlgorithm::RS256, "rs256");
        let token = codec
            .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
            .unwrap();
        let kid = jsonwebtoken::decode_header(&token.token)
            .unwrap()
            .kid
            .unwrap();
        let published = codec.jwks();
        assert_eq!(
            published.keys[0].common.key_id.as_deref(),
            Some(kid.as_str())
        );
        // RFC 7638: base64url(SHA-256) is 43 characters.
        assert_eq!(kid.len(), 43);
    }

    #[test]
    fn a_key_set_without_a_usable_signing_key_is_refused() {
        let hmac_only = JwtCodec::new(JwtConfig::new(SigningKey::hs256(SECRET)))
            .unwrap()
            .jwks();
        assert!(hmac_only.keys.is_empty(), "a secret is never published");
        assert!(TokenVerifier::from_jwks(&hmac_only, &VerifierConfig::default()).is_err());
        assert!(TokenVerifier::from_jwks_json(b"not json", &VerifierConfig::default()).is_err());
    }
}
