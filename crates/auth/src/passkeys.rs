//! Passkeys (WebAuthn): the registration and authentication ceremonies, on webauthn-rs.
//!
//! Nothing is stored here. A ceremony's state comes back as a string for the caller to
//! keep (in a database, so that any instance can finish what another started) and to hand
//! back once; a registered passkey comes back as a string too, with its credential id,
//! and is handed in again to authenticate. Options go out and credentials come in as the
//! JSON that the browser's `PublicKeyCredential.toJSON()` and
//! `parseCreationOptionsFromJSON()` / `parseRequestOptionsFromJSON()` use.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

/// The relying party: who passkeys are made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyConfig {
    /// The RP id: a domain that is each origin's host or a suffix of it.
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// The origins pages that use passkeys are served from (`https://id.example.com`).
    pub origins: Vec<String>,
}

/// Why a ceremony could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The relying party settings cannot work (an origin whose host the RP id does not
    /// cover, an origin that is not a URL).
    #[error("{0}")]
    Config(String),
    /// The credential's JSON does not have the shape of a `PublicKeyCredential`.
    #[error("not a PublicKeyCredential: {0}")]
    Malformed(#[source] serde_json::Error),
    /// A check failed: signature, origin, RP id, challenge, type, user presence or
    /// verification, a credential the ceremony did not allow. The client's problem.
    #[error("passkey verification failed: {0}")]
    Verification(#[source] WebauthnError),
    /// The credential was among those the registration excluded: the account has it.
    #[error("the passkey is registered already")]
    AlreadyRegistered,
    /// The signature was good but the authenticator's counter did not move forward: two
    /// copies of the key may exist.
    #[error("the passkey's signature counter went back (possibly cloned)")]
    CounterWentBack,
    /// A ceremony state or stored passkey that does not parse, or a ceremony of another
    /// kind: the caller's storage, not the client.
    #[error("stored passkey data unusable: {0}")]
    Corrupt(String),
}

/// How a credential id is stored and looked up: its SHA-256, hex (ids may be up to 1023
/// bytes, too long for a portable unique index).
pub fn credential_id_hash(credential_id: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::one_time::hex(&Sha256::digest(credential_id))
}

/// What one ceremony's options and state are.
#[derive(Debug, Serialize, Deserialize)]
enum CeremonyState {
    Registration(PasskeyRegistration),
    SecondStep(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// A ceremony begun: the options for the browser and the state to keep until it ends.
#[derive(Debug)]
pub struct Ceremony {
    /// `{"publicKey": {...}}`, for `navigator.credentials.create/get`.
    pub options: Value,
    /// Kept by the caller and handed back, once, to finish.
    pub state: String,
}

/// A passkey just registered.
#[derive(Debug, Clone)]
pub struct NewPasskey {
    /// The authenticator's id for it (unique among all accounts).
    pub credential_id: Vec<u8>,
    /// What to store and hand back to authenticate.
    pub stored: String,
}

/// A successful authentication.
#[derive(Debug, Clone)]
pub struct PasskeyUse {
    /// The passkey as it should now be stored (its counter moved), when it changed.
    pub updated: Option<String>,
}

/// A new user handle for an account's passkeys: 64 random bytes, base64url. Random, not
/// the account id, so that authenticators (and whoever reads them) learn nothing of the
/// account from it.
pub fn new_user_handle() -> String {
    base64::Engine::encode(&URL_SAFE_NO_PAD, rand::random::<[u8; 64]>())
}

/// A credential a browser sent to sign in, parsed once.
#[derive(Debug, Clone)]
pub struct PresentedCredential(PublicKeyCredential);

impl PresentedCredential {
    /// Parses `toJSON()` output of a `navigator.credentials.get()` result.
    pub fn parse(json: Value) -> Result<Self, PasskeyError> {
        serde_json::from_value(json)
            .map(Self)
            .map_err(PasskeyError::Malformed)
    }

    /// Which credential signed.
    pub fn credential_id(&self) -> &[u8] {
        self.0.get_credential_id()
    }

    /// Whether the authenticator holds the credential under the account's user handle
    /// (a discoverable credential's): `handle`, the account's random one, or — for a
    /// passkey made before accounts had one — the account id itself.
    pub fn held_for(&self, handle: Option<&str>, account_id: Uuid) -> bool {
        let Some(presented) = self.0.get_user_unique_id() else {
            return false;
        };
        presented == account_id.as_bytes()
            || handle
                .is_some_and(|handle| base64::Engine::encode(&URL_SAFE_NO_PAD, presented) == handle)
    }
}

/// The relying party's ceremonies.
#[derive(Debug, Clone)]
pub struct Passkeys {
    webauthn: std::sync::Arc<Webauthn>,
}

impl Passkeys {
    /// The ceremonies for `config`; an error names what cannot work.
    pub fn new(config: &PasskeyConfig) -> Result<Self, PasskeyError> {
        let origins = config
            .origins
            .iter()
            .map(|origin| {
                let url = Url::parse(origin)
                    .map_err(|e| PasskeyError::Config(format!("origin {origin:?}: {e}")))?;
                check_rp_id_covers(&config.rp_id, &url)?;
                Ok(url)
            })
            .collect::<Result<Vec<_>, PasskeyError>>()?;
        let (first, others) = origins
            .split_first()
            .ok_or_else(|| PasskeyError::Config("no origin given".into()))?;
        let builder = WebauthnBuilder::new(&config.rp_id, first)
            .map_err(|e| PasskeyError::Config(e.to_string()))?
            .rp_name(&config.rp_name);
        let webauthn = others
            .iter()
            .fold(builder, |builder, origin| {
                builder.append_allowed_origin(origin)
            })
            .build()
            .map_err(|e| PasskeyError::Config(e.to_string()))?;
        Ok(Self {
            webauthn: std::sync::Arc::new(webauthn),
        })
    }

    /// Begins registering a passkey under `user_handle` (base64url; see
    /// [`new_user_handle`]), named `user_name` in the authenticator, that is none of
    /// `existing` (stored passkeys): a discoverable credential with user verification.
    pub fn start_registration(
        &self,
        user_handle: &str,
        user_name: &str,
        existing: &[String],
    ) -> Result<Ceremony, PasskeyError> {
        let exclude = existing
            .iter()
            .map(|stored| stored_passkey(stored).map(|passkey| passkey.cred_id().clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self
            .webauthn
            // webauthn-rs takes a UUID; the options get the account's own handle below
            // (a registration's state does not keep it: nothing is checked against it).
            .start_passkey_registration(Uuid::nil(), user_name, user_name, Some(exclude))
            .map_err(PasskeyError::Verification)?;
        let mut options = to_value(&options)?;
        if let Some(user) = options.pointer_mut("/publicKey/user") {
            user["id"] = user_handle.into();
        }
        // Passwordless sign-in needs the credential to be discoverable: webauthn-rs only
        // prefers it, the contract requires it.
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = "required".into();
            selection["requireResidentKey"] = true.into();
        }
        Ceremony::new(options, &CeremonyState::Registration(state))
    }

    /// Finishes a registration begun with `state`. A credential that `excluded` (how the
    /// caller tells whether a credential id is the account's already) says is held is
    /// [`PasskeyError::AlreadyRegistered`]: webauthn-rs refuses it like a failed check.
    pub fn finish_registration(
        &self,
        credential: Value,
        state: &str,
        excluded: impl FnOnce(&[u8]) -> bool,
    ) -> Result<NewPasskey, PasskeyError> {
        let CeremonyState::Registration(state) = ceremony_state(state)? else {
            return Err(PasskeyError::Corrupt("not a registration".into()));
        };
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(credential).map_err(PasskeyError::Malformed)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| match e {
                WebauthnError::CredentialAlteredAlgFromRequest if excluded(&credential.raw_id) => {
                    PasskeyError::AlreadyRegistered
                }
                other => PasskeyError::Verification(other),
            })?;
        Ok(NewPasskey {
            credential_id: passkey.cred_id().to_vec(),
            stored: to_string(&passkey)?,
        })
    }

    /// Begins a login's second step with one of `stored` (the account's passkeys).
    pub fn start_second_step(&self, stored: &[String]) -> Result<Ceremony, PasskeyError> {
        let passkeys = stored
            .iter()
            .map(|stored| stored_passkey(stored))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(PasskeyError::Verification)?;
        Ceremony::new(to_value(&options)?, &CeremonyState::SecondStep(state))
    }

    /// Begins a passwordless sign-in with whatever discoverable credential the browser
    /// offers (a button, or the autofill list when the page asks with
    /// `mediation: "conditional"`).
    pub fn start_discoverable(&self) -> Result<Ceremony, PasskeyError> {
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(PasskeyError::Verification)?;
        // The page chooses the mediation; the options are only the `publicKey` part.
        let options = serde_json::json!({ "publicKey": to_value(&options.public_key)? });
        Ceremony::new(options, &CeremonyState::Discoverable(state))
    }

    /// Finishes an authentication begun with `state` (a second step or a passwordless
    /// sign-in), by `presented`, which the caller found stored as `stored`.
    pub fn finish_authentication(
        &self,
        presented: &PresentedCredential,
        state: &str,
        stored: &str,
    ) -> Result<PasskeyUse, PasskeyError> {
        let mut passkey = stored_passkey(stored)?;
        let result = match ceremony_state(state)? {
            CeremonyState::SecondStep(state) => self
                .webauthn
                .finish_passkey_authentication(&presented.0, &state),
            CeremonyState::Discoverable(state) => self
                .webauthn
                .finish_discoverable_authentication_v2(&presented.0, state, &passkey),
            CeremonyState::Registration(_) => {
                return Err(PasskeyError::Corrupt("not an authentication".into()));
            }
        }
        .map_err(|e| match e {
            WebauthnError::CredentialPossibleCompromise => PasskeyError::CounterWentBack,
            other => PasskeyError::Verification(other),
        })?;
        // A second step's state holds the passkeys as they were when it began, and
        // webauthn-rs checked the counter against those: check it again against the
        // passkey as stored now, which another sign-in may have moved since.
        let counter = result.counter();
        let stored_counter = stored_counter(stored)?;
        if (counter > 0 || stored_counter > 0) && counter <= stored_counter {
            return Err(PasskeyError::CounterWentBack);
        }
        let changed = passkey.update_credential(&result);
        if changed.is_none() {
            // The ceremony accepted another credential than the one the caller stored.
            return Err(PasskeyError::Verification(
                WebauthnError::CredentialNotFound,
            ));
        }
        Ok(PasskeyUse {
            updated: changed
                .unwrap_or(false)
                .then(|| to_string(&passkey))
                .transpose()?,
        })
    }
}

/// The RP id must be the origin's host or a suffix of it at a dot (`example.com` covers
/// `id.example.com`, not `badexample.com`), and a domain name: browsers refuse IP
/// addresses as RP ids.
fn check_rp_id_covers(rp_id: &str, origin: &Url) -> Result<(), PasskeyError> {
    let Some(host) = origin.domain() else {
        return Err(PasskeyError::Config(format!(
            "origin {origin} has no domain name (passkeys need one; use localhost rather than 127.0.0.1)"
        )));
    };
    let covered = host == rp_id || host.ends_with(&format!(".{rp_id}"));
    if !covered || !rp_id.contains('.') && rp_id != "localhost" {
        return Err(PasskeyError::Config(format!(
            "RP id {rp_id:?} is not a registrable suffix of origin {origin}'s host {host:?}"
        )));
    }
    Ok(())
}

impl Ceremony {
    fn new(options: Value, state: &CeremonyState) -> Result<Self, PasskeyError> {
        Ok(Self {
            options,
            state: to_string(state)?,
        })
    }
}

fn ceremony_state(state: &str) -> Result<CeremonyState, PasskeyError> {
    serde_json::from_str(state).map_err(|e| PasskeyError::Corrupt(format!("ceremony state: {e}")))
}

fn stored_passkey(stored: &str) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(stored).map_err(|e| PasskeyError::Corrupt(format!("passkey: {e}")))
}

/// The signature counter of a stored passkey, as webauthn-rs serialises it.
fn stored_counter(stored: &str) -> Result<u32, PasskeyError> {
    serde_json::from_str::<Value>(stored)
        .ok()
        .and_then(|passkey| passkey.pointer("/cred/counter")?.as_u64())
        .and_then(|counter| u32::try_from(counter).ok())
        .ok_or_else(|| PasskeyError::Corrupt("passkey without a counter".into()))
}

fn to_value(value: &impl Serialize) -> Result<Value, PasskeyError> {
    serde_json::to_value(value).map_err(|e| PasskeyError::Corrupt(e.to_string()))
}

fn to_string(value: &impl Serialize) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(|e| PasskeyError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rp_id: &str, origins: &[&str]) -> PasskeyConfig {
        PasskeyConfig {
            rp_id: rp_id.into(),
            rp_name: "Test".into(),
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn the_rp_id_must_cover_every_origin() {
        assert!(Passkeys::new(&config("example.com", &["https://example.com"])).is_ok());
        assert!(
            Passkeys::new(&config(
                "example.com",
                &["https://id.example.com", "https://example.com:8443"]
            ))
            .is_ok()
        );
        assert!(Passkeys::new(&config("localhost", &["http://localhost:8000"])).is_ok());
        for (rp_id, origin) in [
            ("example.com", "https://badexample.com"),
            ("example.com", "https://example.org"),
            ("id.example.com", "https://example.com"),
            ("com", "https://example.com"),
            ("127.0.0.1", "http://127.0.0.1:8000"),
        ] {
            let refused = Passkeys::new(&config(rp_id, &["https://example.com", origin]));
            assert!(
                matches!(refused, Err(PasskeyError::Config(_))),
                "{rp_id} for {origin}"
            );
        }
        assert!(matches!(
            Passkeys::new(&config("example.com", &["not a url"])),
            Err(PasskeyError::Config(_))
        ));
    }

    #[test]
    fn registration_options_ask_for_a_discoverable_credential_with_verification() {
        let passkeys = Passkeys::new(&config("example.com", &["https://example.com"])).unwrap();
        let ceremony = passkeys
            .start_registration(&new_user_handle(), "you@example.com", &[])
            .unwrap();
        let selection = &ceremony.options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(ceremony.options["publicKey"]["rp"]["id"], "example.com");
        assert!(matches!(
            passkeys.finish_authentication(
                &PresentedCredential::parse(serde_json::json!({
                    "id": "AA", "rawId": "AA", "type": "public-key",
                    "response": {"authenticatorData": "AA", "clientDataJSON": "AA", "signature": "AA"}
                }))
                .unwrap(),
                &ceremony.state,
                "{}"
            ),
            Err(PasskeyError::Corrupt(_))
        ));
    }

    #[test]
    fn sign_in_options_allow_any_discoverable_credential() {
        let passkeys = Passkeys::new(&config("example.com", &["https://example.com"])).unwrap();
        let ceremony = passkeys.start_discoverable().unwrap();
        let options = &ceremony.options["publicKey"];
        assert_eq!(options["userVerification"], "required");
        assert_eq!(options["allowCredentials"], serde_json::json!([]));
        assert!(ceremony.options.get("mediation").is_none());
        assert!(PresentedCredential::parse(serde_json::json!({"id": 1})).is_err());
    }
}
