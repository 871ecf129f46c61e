//! A software authenticator for the passkey tests: it makes ES256 credentials, keeps them
//! as a platform authenticator keeps discoverable ones (with the account's user handle),
//! and answers `navigator.credentials.create()` / `.get()` options with the JSON that
//! `PublicKeyCredential.toJSON()` writes.
//!
//! Written for these tests rather than taken from webauthn-authenticator-rs: its
//! `SoftPasskey` makes no discoverable credentials, sends no user handle, and cannot be
//! told to skip user verification, sign for another origin or RP id, or replay an old
//! counter, which are what the refusal tests need. What the server does with its output
//! is decided by webauthn-rs; the pages' tests drive Chromium's own virtual authenticator.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::ecdsa::{Signature, SigningKey, signature::Signer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What a test changes in one answer, to make the server refuse it.
#[derive(Debug, Clone)]
pub struct Tweaks {
    /// The origin the "browser" writes into the client data.
    pub origin: Option<String>,
    /// The RP id the authenticator hashes into its data.
    pub rp_id: Option<String>,
    /// Whether the user was verified (PIN, biometrics).
    pub user_verified: bool,
    /// The client data's `type`.
    pub client_data_type: Option<&'static str>,
    /// The signature counter to report instead of the next one.
    pub counter: Option<u32>,
    /// Register the credential held at this index again instead of making a new one.
    pub same_credential_as: Option<usize>,
}

impl Default for Tweaks {
    fn default() -> Self {
        Self {
            origin: None,
            rp_id: None,
            user_verified: true,
            client_data_type: None,
            counter: None,
            same_credential_as: None,
        }
    }
}

/// One credential the authenticator holds.
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: Vec<u8>,
    key: SigningKey,
    pub rp_id: String,
    pub user_handle: Vec<u8>,
    pub counter: u32,
}

/// The authenticator, with the origin of the page that talks to it.
#[derive(Debug, Clone)]
pub struct SoftPasskey {
    pub origin: String,
    pub credentials: Vec<Credential>,
    /// Added to the counter at each use: 1 like a security key, 0 like a synced passkey.
    pub counter_step: u32,
}

impl SoftPasskey {
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            credentials: Vec::new(),
            counter_step: 1,
        }
    }

    /// Answers registration options (`{"challenge_id", "publicKey"}`): `Err` when one of
    /// `excludeCredentials` is held here (the browser's `InvalidStateError`).
    pub fn create(&mut self, options: &Value) -> Result<Value, &'static str> {
        self.create_with(options, &Tweaks::default())
    }

    pub fn create_with(&mut self, options: &Value, tweaks: &Tweaks) -> Result<Value, &'static str> {
        let public_key = &options["publicKey"];
        let rp_id = public_key["rp"]["id"].as_str().unwrap().to_owned();
        let excluded: Vec<Vec<u8>> = public_key["excludeCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|descriptor| decode(&descriptor["id"]))
            .collect();
        let again = tweaks
            .same_credential_as
            .map(|i| self.credentials[i].clone());
        if again.is_none()
            && self
                .credentials
                .iter()
                .any(|held| held.rp_id == rp_id && excluded.contains(&held.id))
        {
            return Err("excluded");
        }
        let credential = again.clone().unwrap_or_else(|| Credential {
            id: rand::random::<[u8; 32]>().to_vec(),
            key: SigningKey::from_slice(&rand::random::<[u8; 32]>()).unwrap(),
            rp_id: rp_id.clone(),
            user_handle: decode(&public_key["user"]["id"]),
            counter: 0,
        });
        let client_data = self.client_data(
            tweaks.client_data_type.unwrap_or("webauthn.create"),
            &public_key["challenge"],
            tweaks,
        );
        let point = credential.key.verifying_key().to_encoded_point(false);
        let mut cose_key = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cose_key.extend(bytes(point.x().unwrap()));
        cose_key.push(0x22);
        cose_key.extend(bytes(point.y().unwrap()));
        let mut auth_data = authenticator_data(
            tweaks.rp_id.as_deref().unwrap_or(&rp_id),
            flags(tweaks) | 0x40,
            tweaks.counter.unwrap_or(0),
        );
        auth_data.extend([0; 16]); // AAGUID: none
        auth_data.extend(u16::try_from(credential.id.len()).unwrap().to_be_bytes());
        auth_data.extend(&credential.id);
        auth_data.extend(cose_key);
        let mut attestation = vec![0xa3];
        attestation.extend(text("fmt"));
        attestation.extend(text("none"));
        attestation.extend(text("attStmt"));
        attestation.push(0xa0);
        attestation.extend(text("authData"));
        attestation.extend(bytes(&auth_data));
        let answer = json!({
            "id": URL_SAFE_NO_PAD.encode(&credential.id),
            "rawId": URL_SAFE_NO_PAD.encode(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation),
                "transports": ["internal"],
            },
        });
        if again.is_none() {
            self.credentials.push(credential);
        }
        Ok(answer)
    }

    /// Answers sign-in options with a credential they allow (any held for the RP id when
    /// `allowCredentials` is empty); `None` when none is held.
    pub fn get(&mut self, options: &Value) -> Option<Value> {
        self.get_with(options, &Tweaks::default())
    }

    pub fn get_with(&mut self, options: &Value, tweaks: &Tweaks) -> Option<Value> {
        let public_key = &options["publicKey"];
        let rp_id = public_key["rpId"].as_str().unwrap().to_owned();
        let allowed: Vec<Vec<u8>> = public_key["allowCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|descriptor| decode(&descriptor["id"]))
            .collect();
        let step = self.counter_step;
        let index = self.credentials.iter().position(|held| {
            held.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&held.id))
        })?;
        let client_data = self.client_data(
            tweaks.client_data_type.unwrap_or("webauthn.get"),
            &public_key["challenge"],
            tweaks,
        );
        let credential = &mut self.credentials[index];
        credential.counter += step;
        let auth_data = authenticator_data(
            tweaks.rp_id.as_deref().unwrap_or(&rp_id),
            flags(tweaks),
            tweaks.counter.unwrap_or(credential.counter),
        );
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: Signature = credential.key.sign(&signed);
        Some(json!({
            "id": URL_SAFE_NO_PAD.encode(&credential.id),
            "rawId": URL_SAFE_NO_PAD.encode(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes()),
                "userHandle": URL_SAFE_NO_PAD.encode(&credential.user_handle),
            },
        }))
    }

    fn client_data(&self, kind: &str, challenge: &Value, tweaks: &Tweaks) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge.as_str().unwrap(),
            "origin": tweaks.origin.as_deref().unwrap_or(&self.origin),
            "crossOrigin": false,
        }))
        .unwrap()
    }
}

/// User present, and verified unless the tweak says not.
fn flags(tweaks: &Tweaks) -> u8 {
    if tweaks.user_verified { 0x05 } else { 0x01 }
}

fn authenticator_data(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend(counter.to_be_bytes());
    data
}

fn decode(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().unwrap()).unwrap()
}

/// A CBOR byte string.
fn bytes(data: &[u8]) -> Vec<u8> {
    let mut encoded = match data.len() {
        len @ 0..24 => vec![0x40 | u8::try_from(len).unwrap()],
        len @ 24..256 => vec![0x58, u8::try_from(len).unwrap()],
        len => {
            let mut head = vec![0x59];
            head.extend(u16::try_from(len).unwrap().to_be_bytes());
            head
        }
    };
    encoded.extend(data);
    encoded
}

/// A short CBOR text string.
fn text(value: &str) -> Vec<u8> {
    let mut encoded = vec![0x60 | u8::try_from(value.len()).unwrap()];
    encoded.extend(value.as_bytes());
    encoded
}
