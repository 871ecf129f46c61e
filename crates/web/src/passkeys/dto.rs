//! Passkeys' bodies. Options and credentials are the browser's JSON, passed through.

use chrono::{DateTime, Utc};
use gatehouse_domain::{CeremonyId, PasskeyName, PasskeySummary};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    dto::{FieldErrors, required, rfc3339_seconds},
    error::{ApiError, FieldError},
};

/// A ceremony's options: `publicKey` goes to `navigator.credentials.create()` or `.get()`
/// (through `PublicKeyCredential.parseCreationOptionsFromJSON()` /
/// `parseRequestOptionsFromJSON()`), `challenge_id` comes back with the credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyOut {
    /// Hand back with the credential; single use, valid 5 minutes.
    pub challenge_id: Uuid,
    /// WebAuthn options, binary fields base64url.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: Value,
}

/// A passkey as its owner lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyOut {
    /// For `PATCH` and `DELETE /auth/passkeys/{id}`.
    pub id: Uuid,
    /// Its name.
    #[schema(example = "Laptop")]
    pub name: String,
    /// When it was added.
    #[serde(serialize_with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime, example = "2026-12-01T10:00:00Z")]
    pub created_at: DateTime<Utc>,
    /// When it last signed in, or null.
    #[serde(serialize_with = "optional_rfc3339_seconds")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-01T10:05:00Z")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// True once it presented a signature counter that did not move forward: two copies
    /// of its key may exist. Remove it if you did not copy it.
    pub possibly_cloned: bool,
}

impl From<PasskeySummary> for PasskeyOut {
    fn from(passkey: PasskeySummary) -> Self {
        Self {
            id: passkey.id.as_uuid(),
            name: passkey.name.as_str().to_owned(),
            created_at: passkey.created_at,
            last_used_at: passkey.last_used_at,
            possibly_cloned: passkey.possibly_cloned,
        }
    }
}

fn optional_rfc3339_seconds<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339_seconds(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// Body of `POST /auth/passkeys/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"challenge_id": "0193…", "credential": {"id": "…", "rawId": "…", "type": "public-key", "response": {"attestationObject": "…", "clientDataJSON": "…"}}, "name": "Laptop"}))]
pub struct PasskeyRegisterIn {
    /// From the options.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub challenge_id: Option<String>,
    /// `credential.toJSON()` of what `navigator.credentials.create()` returned.
    #[serde(default)]
    #[schema(value_type = Object, required = true)]
    pub credential: Option<Value>,
    /// A name to tell it by (1–64 characters); by default `Passkey N`.
    #[serde(default)]
    pub name: Option<String>,
}

impl PasskeyRegisterIn {
    /// The challenge, the credential and the name, or one 422 naming each bad field.
    pub fn parse(self) -> Result<(Option<CeremonyId>, Value, Option<PasskeyName>), ApiError> {
        let mut errors = FieldErrors::default();
        let challenge = errors.check(challenge_id(self.challenge_id));
        let credential = errors.check(credential(self.credential));
        let name = errors.check(
            self.name
                .map(|name| PasskeyName::parse(&name).map_err(FieldError::from))
                .transpose(),
        );
        errors.finish(
            challenge
                .zip(credential)
                .zip(name)
                .map(|((c, v), n)| (c, v, n)),
        )
    }
}

/// Body of `POST /auth/passkeys/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"challenge_id": "0193…", "credential": {"id": "…", "rawId": "…", "type": "public-key", "response": {"authenticatorData": "…", "clientDataJSON": "…", "signature": "…", "userHandle": "…"}}}))]
pub struct PasskeyLoginIn {
    /// From the options.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub challenge_id: Option<String>,
    /// `credential.toJSON()` of what `navigator.credentials.get()` returned.
    #[serde(default)]
    #[schema(value_type = Object, required = true)]
    pub credential: Option<Value>,
}

impl PasskeyLoginIn {
    /// The challenge and the credential, or one 422 naming each bad field.
    pub fn parse(self) -> Result<(Option<CeremonyId>, Value), ApiError> {
        parse_assertion(self.challenge_id, self.credential)
    }
}

/// The challenge and the credential of an assertion, or one 422 naming each bad field.
pub(crate) fn parse_assertion(
    challenge: Option<String>,
    credential_json: Option<Value>,
) -> Result<(Option<CeremonyId>, Value), ApiError> {
    let mut errors = FieldErrors::default();
    let challenge = errors.check(challenge_id(challenge));
    let credential = errors.check(credential(credential_json));
    errors.finish(challenge.zip(credential))
}

/// Body of `PATCH /auth/passkeys/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Phone"}))]
pub struct PasskeyRenameIn {
    /// The new name, 1–64 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub name: Option<String>,
}

impl PasskeyRenameIn {
    /// The name, or 422.
    pub fn parse(self) -> Result<PasskeyName, ApiError> {
        let name = required("name", self.name).map_err(|e| ApiError::Validation(vec![e]))?;
        Ok(PasskeyName::parse(&name)?)
    }
}

/// A `challenge_id` that is no id at all is unknown, like one that was never issued:
/// `None`, which the route answers 400 as it does those.
fn challenge_id(raw: Option<String>) -> Result<Option<CeremonyId>, FieldError> {
    Ok(CeremonyId::parse(required("challenge_id", raw)?.trim()))
}

fn credential(raw: Option<Value>) -> Result<Value, FieldError> {
    match raw {
        Some(value @ Value::Object(_)) => Ok(value),
        Some(_) => Err(FieldError {
            field: "credential".into(),
            message: "must be an object: the credential's toJSON()".into(),
        }),
        None => Err(FieldError {
            field: "credential".into(),
            message: "field required".into(),
        }),
    }
}
