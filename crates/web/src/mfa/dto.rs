//! The second factor's bodies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    dto::required,
    error::{ApiError, FieldError},
    passkeys::dto::parse_assertion,
};

/// `GET /auth/mfa`: what second factors the caller has.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusOut {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// Registered passkeys.
    pub passkeys: u32,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
}

/// `POST /auth/mfa/totp/setup`: what the authenticator app needs.
#[derive(Serialize, ToSchema)]
pub struct TotpSetupOut {
    /// The shared secret, base32, for typing into the app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same as an `otpauth://` URI, for a QR code.
    #[schema(
        example = "otpauth://totp/AuthX%20Starter:you%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=AuthX%20Starter&algorithm=SHA1&digits=6&period=30"
    )]
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpSetupOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSetupOut([REDACTED])")
    }
}

/// Body of `POST /auth/mfa/totp/confirm`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"code": "123456"}))]
pub struct TotpCodeIn {
    /// The six digits the app shows now.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub code: Option<String>,
}

impl std::fmt::Debug for TotpCodeIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpCodeIn([REDACTED])")
    }
}

impl TotpCodeIn {
    /// The code, or 422 naming the missing field.
    pub fn code(self) -> Result<String, ApiError> {
        required("code", self.code).map_err(|e| ApiError::Validation(vec![e]))
    }
}

/// A new set of recovery codes, shown once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesOut {
    /// Ten single-use codes; store them somewhere safe.
    #[schema(example = json!(["abcd-efgh-jkmn", "pqrs-tuvw-xyz2"]))]
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodesOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodesOut([REDACTED])")
    }
}

/// Body of `POST /auth/mfa/verify`: the `mfa_token` from the login's 403 and one of a
/// TOTP code or a recovery code.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"mfa_token": "…", "code": "123456"}))]
pub struct MfaVerifyIn {
    /// From the 403 `Second factor required` answer.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub mfa_token: Option<String>,
    /// A TOTP code.
    #[serde(default)]
    pub code: Option<String>,
    /// A recovery code (case, spaces and `-` do not matter).
    #[serde(default)]
    pub recovery_code: Option<String>,
    /// With `credential`: the `challenge_id` of `POST /auth/mfa/passkey/options`.
    #[serde(default)]
    pub challenge_id: Option<String>,
    /// With `challenge_id`: `credential.toJSON()` of what `navigator.credentials.get()`
    /// returned.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

/// Body of `POST /auth/mfa/passkey/options`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"mfa_token": "…"}))]
pub struct MfaPasskeyOptionsIn {
    /// From the 403 `Second factor required` answer.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub mfa_token: Option<String>,
}

impl std::fmt::Debug for MfaPasskeyOptionsIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaPasskeyOptionsIn([REDACTED])")
    }
}

impl MfaPasskeyOptionsIn {
    /// The token, or 422.
    pub fn token(self) -> Result<String, ApiError> {
        required("mfa_token", self.mfa_token).map_err(|e| ApiError::Validation(vec![e]))
    }
}

impl std::fmt::Debug for MfaVerifyIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaVerifyIn([REDACTED])")
    }
}

pub use gatehouse_app::signin::SecondFactorProof;

impl MfaVerifyIn {
    /// The token and the proof, or 422: a missing token, or not exactly one of `code`,
    /// `recovery_code` and a passkey's `challenge_id` with `credential`.
    pub fn parse(self) -> Result<(String, SecondFactorProof), ApiError> {
        let token = required("mfa_token", self.mfa_token);
        let passkey = self.challenge_id.is_some() || self.credential.is_some();
        let proof = match (self.code, self.recovery_code, passkey) {
            (Some(code), None, false) => Ok(SecondFactorProof::Totp(code)),
            (None, Some(code), false) => Ok(SecondFactorProof::RecoveryCode(code)),
            (None, None, true) => match parse_assertion(self.challenge_id, self.credential) {
                Ok((challenge, credential)) => Ok(SecondFactorProof::Passkey {
                    challenge,
                    credential,
                }),
                Err(ApiError::Validation(mut errors)) if !errors.is_empty() => {
                    Err(errors.remove(0))
                }
                Err(other) => return Err(other),
            },
            (None, None, false) => Err(FieldError {
                field: "code".into(),
                message: "field required (or recovery_code, or challenge_id with credential)"
                    .into(),
            }),
            _ => Err(FieldError {
                field: "code".into(),
                message: "give one of code, recovery_code, or challenge_id with credential".into(),
            }),
        };
        match (token, proof) {
            (Ok(token), Ok(proof)) => Ok((token, proof)),
            (token, proof) => Err(ApiError::Validation(
                [token.err(), proof.err()].into_iter().flatten().collect(),
            )),
        }
    }
}
