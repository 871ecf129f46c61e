//! Managed signing keys (`SIGNING_KEYS=managed`): made, sealed and stored by the server,
//! moved through their lives by [`KeySchedule`], shared by every instance through the
//! database. Every instance runs the schedule ([`ManagedKeys::keep_in_step`]); the
//! repository's conditional steps make a step happen once however many take it.
//!
//! A private key is sealed under `MFA_ENCRYPTION_KEY`, bound to its `kid`, and is never
//! logged, recorded or answered: audit events carry the `kid`, the algorithm and the
//! state only.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use gatehouse_auth::{
    KeyRing, KeySet, SealedSecret, SecretSealer, SigningAlgorithm, SigningKey, VerifyingKey,
};
use gatehouse_domain::{
    AuditContext, AuditEventType, KeySchedule, KeyState, KeyStep, ManagedKey, NewAuditEvent,
};
use gatehouse_persistence::{SigningKeyRepository, StoredSigningKey};

use crate::{AppError, error_chain};

/// How managed keys are made and moved on.
#[derive(Debug, Clone)]
pub struct ManagedKeysConfig {
    /// What new keys are (`JWT_ALGORITHM`: RS256, ES256 or EdDSA).
    pub algorithm: SigningAlgorithm,
    /// When keys are published, rotated and removed.
    pub schedule: KeySchedule,
    /// How often an instance reads the keys and takes the steps due
    /// (`KEY_CHECK_INTERVAL_S`): the most an instance lags behind another's rotation.
    pub check_every: StdDuration,
}

/// Why managed keys could not be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key is `next` already: it signs from `activates_at`.
    #[error("key {kid} is next already; it signs from {activates_at}")]
    NextExists {
        /// The waiting key.
        kid: String,
        /// When it begins to sign.
        activates_at: DateTime<Utc>,
    },
    /// A stored key does not open or parse: sealed under another `MFA_ENCRYPTION_KEY`, or
    /// damaged.
    #[error(
        "signing key {kid} cannot be read ({why}); is MFA_ENCRYPTION_KEY (or _PREVIOUS) the key it was sealed under?"
    )]
    Unreadable {
        /// The key.
        kid: String,
        /// What failed.
        why: String,
    },
    /// What the keys stand on failed.
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<gatehouse_persistence::RepoError> for KeyError {
    fn from(error: gatehouse_persistence::RepoError) -> Self {
        Self::Failed(error.into())
    }
}

/// Who changes keys, as their audit events record it (`details.by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyActor {
    /// An operator at the command line: `cli`.
    CommandLine,
    /// The schedule (first start, publish-ahead, rotation days, expiry): `schedule`.
    Schedule,
}

impl KeyActor {
    fn name(self) -> &'static str {
        match self {
            Self::CommandLine => "cli",
            Self::Schedule => "schedule",
        }
    }
}

/// The managed keys in the database, and what opens them.
#[derive(Debug, Clone)]
pub struct ManagedKeys {
    keys: SigningKeyRepository,
    sealer: SecretSealer,
    config: ManagedKeysConfig,
}

impl ManagedKeys {
    /// Keys in `keys`, sealed by `sealer`, made and moved by `config`.
    pub fn new(
        keys: SigningKeyRepository,
        sealer: SecretSealer,
        config: ManagedKeysConfig,
    ) -> Self {
        Self {
            keys,
            sealer,
            config,
        }
    }

    /// The schedule keys follow.
    pub fn schedule(&self) -> &KeySchedule {
        &self.config.schedule
    }

    /// Every key, oldest first.
    pub async fn list(&self) -> Result<Vec<ManagedKey>, KeyError> {
        let stored = self.keys.list().await?;
        Ok(stored.into_iter().map(|stored| stored.key).collect())
    }

    /// Takes the steps due at `now` (the first key at the first start, an activation, an
    /// automatic rotation, a removal), then answers the keys to sign and verify with. A
    /// step that fails is logged and left to the next check: the keys are read as stored.
    pub async fn sync(&self, now: DateTime<Utc>) -> Result<KeySet, KeyError> {
        let stored = self.keys.list().await?;
        let facts: Vec<ManagedKey> = stored.iter().map(|stored| stored.key.clone()).collect();
        let steps = self.config.schedule.steps_due(&facts, now);
        if steps.is_empty() {
            return self.key_set(stored).await;
        }
        for step in steps {
            if let Err(error) = self.take(step, &stored, now).await {
                tracing::warn!(error = %error_chain(&error), "signing keys: a step was not taken");
            }
        }
        let stored = self.keys.list().await?;
        self.key_set(stored).await
    }

    /// Makes a new key `next` (an operator's rotation): it is published at once and signs
    /// from [`KeySchedule::activates_at`]. Refused unless the current key opens with this
    /// process's `MFA_ENCRYPTION_KEY`: a key sealed under another would be one the
    /// servers cannot open.
    pub async fn rotate(&self, actor: KeyActor) -> Result<ManagedKey, KeyError> {
        let stored = self.keys.list().await?;
        if let Some(current) = stored.iter().find(|key| key.key.state == KeyState::Current) {
            self.open(current).await?;
        }
        let made = self.create(KeyState::Next, actor, Utc::now()).await?;
        match made {
            Some(key) => Ok(key),
            None => {
                let waiting = self
                    .list()
                    .await?
                    .into_iter()
                    .find(|key| key.state == KeyState::Next);
                let (kid, created_at) = waiting
                    .map(|key| (key.kid, key.created_at))
                    .unwrap_or_default();
                Err(KeyError::NextExists {
                    kid,
                    activates_at: self.config.schedule.activates_at(created_at),
                })
            }
        }
    }

    /// Every `check_every`, and at once when a change is announced (Postgres): takes the
    /// steps due and hands `ring` the keys whenever they changed. A failure is logged and
    /// tried again at the next check; the keys in use stay as they were meanwhile.
    pub async fn keep_in_step(self, ring: KeyRing) {
        let announced = std::sync::Arc::new(tokio::sync::Notify::new());
        self.keys.announce_changes_to(announced.clone());
        let mut interval = tokio::time::interval(self.config.check_every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut known = fingerprint(&ring.load());
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = announced.notified() => {}
            }
            match self.sync(Utc::now()).await {
                Ok(set) => {
                    let now_known = fingerprint(&set);
                    if now_known != known {
                        tracing::info!(
                            signing = set.signing().kid().unwrap_or_default(),
                            verifying = set.verifying().len(),
                            "signing keys changed"
                        );
                        ring.replace(set);
                        known = now_known;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "signing keys not checked");
                }
            }
        }
    }

    async fn take(
        &self,
        step: KeyStep,
        keys: &[StoredSigningKey],
        now: DateTime<Utc>,
    ) -> Result<(), KeyError> {
        let by = KeyActor::Schedule;
        match step {
            KeyStep::Create(state) => {
                self.create(state, by, now).await?;
            }
            KeyStep::Activate(kid) => {
                // Never a key this instance cannot open: sealed under another
                // MFA_ENCRYPTION_KEY, it would be a key nobody here can sign with.
                if let Some(next) = keys.iter().find(|key| key.key.kid == kid) {
                    self.open(next).await?;
                }
                let replaced = keys
                    .iter()
                    .find(|key| key.key.state == KeyState::Current)
                    .map(|key| key.key.kid.as_str())
                    .unwrap_or_default();
                let event = event(AuditEventType::KeyActivated, by, now)
                    .with("kid", &kid)
                    .with("replaced", replaced);
                if self.keys.activate(&kid, now, &event).await? {
                    tracing::info!(kid, replaced, "a new signing key signs from now");
                }
            }
            KeyStep::Remove(kid) => {
                let event = event(AuditEventType::KeyRetired, by, now).with("kid", &kid);
                if self.keys.remove(&kid, &event).await? {
                    tracing::info!(kid, "a retired signing key was removed");
                }
            }
        }
        Ok(())
    }

    /// Makes, seals and stores a key in `state`; `None` when another key holds that state.
    async fn create(
        &self,
        state: KeyState,
        by: KeyActor,
        now: DateTime<Utc>,
    ) -> Result<Option<ManagedKey>, KeyError> {
        let algorithm = self.config.algorithm;
        // RSA's prime search takes a while: off the async threads.
        let generated = tokio::task::spawn_blocking(move || SigningKey::generate(algorithm))
            .await
            .map_err(|join| AppError::Auth(gatehouse_auth::AuthError::KeyFile(join.to_string())))?
            .map_err(AppError::from)?;
        let (key, private_pem) = generated;
        // Dated once made (an RSA key takes a while): it is published from now on.
        let now = now.max(Utc::now());
        let kid = key.kid().unwrap_or_default().to_owned();
        let public_jwk = serde_json::to_string(&key.public_jwk())
            .map_err(|e| AppError::Auth(gatehouse_auth::AuthError::KeyFile(e.to_string())))?;
        let sealed = self
            .sealer
            .seal_bytes(&bound_to(&kid), private_pem.as_bytes());
        let managed = ManagedKey {
            kid: kid.clone(),
            algorithm: algorithm.name().to_owned(),
            state,
            created_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            retired_at: None,
        };
        let stored = StoredSigningKey {
            key: managed.clone(),
            public_jwk,
            seal_key_id: sealed.key_id,
            sealed_private_key: sealed.sealed,
        };
        let event = event(AuditEventType::KeyCreated, by, now)
            .with("kid", &kid)
            .with("algorithm", algorithm.name())
            .with("state", state.as_str());
        if !self.keys.insert(&stored, &event).await? {
            return Ok(None);
        }
        tracing::info!(
            kid,
            algorithm = algorithm.name(),
            state = state.as_str(),
            "signing key made"
        );
        Ok(Some(managed))
    }

    /// Opens the stored keys (sealing again under the current `MFA_ENCRYPTION_KEY` any
    /// that an older one sealed) into the set to sign and verify with. The current key
    /// must open; another that does not is left out, with a warning (its tokens fail
    /// here, rather than every instance stopping on it).
    async fn key_set(&self, stored: Vec<StoredSigningKey>) -> Result<KeySet, KeyError> {
        let mut signing = None;
        let mut verifying: Vec<VerifyingKey> = Vec::new();
        for stored in stored {
            match (stored.key.state, self.open(&stored).await) {
                (KeyState::Current, opened) => signing = Some(opened?),
                (_, Ok(key)) => verifying.push(key.verifying()),
                (_, Err(error)) => {
                    tracing::warn!(error = %error_chain(&error), "signing keys: a key is left out");
                }
            }
        }
        let signing = signing.ok_or_else(|| KeyError::Unreadable {
            kid: String::new(),
            why: "no key is current".into(),
        })?;
        Ok(KeySet::new(signing, verifying))
    }

    async fn open(&self, stored: &StoredSigningKey) -> Result<SigningKey, KeyError> {
        let kid = &stored.key.kid;
        let unreadable = |why: String| KeyError::Unreadable {
            kid: kid.clone(),
            why,
        };
        let sealed = SealedSecret {
            key_id: stored.seal_key_id.clone(),
            sealed: stored.sealed_private_key.clone(),
        };
        let pem = self
            .sealer
            .open_bytes(&bound_to(kid), &sealed)
            .map_err(|e| unreadable(e.to_string()))?;
        let text = std::str::from_utf8(&pem).map_err(|e| unreadable(e.to_string()))?;
        let key = SigningKey::from_private_pem(text).map_err(|e| unreadable(e.to_string()))?;
        if key.kid() != Some(kid.as_str()) {
            return Err(unreadable(
                "its public key is not the one its kid names".into(),
            ));
        }
        if stored.seal_key_id != self.sealer.current_key_id() {
            let resealed = self.sealer.seal_bytes(&bound_to(kid), &pem);
            self.keys
                .reseal(kid, &resealed.key_id, &resealed.sealed)
                .await?;
            tracing::info!(
                kid,
                "signing key sealed again under the current MFA_ENCRYPTION_KEY"
            );
        }
        Ok(key)
    }
}

/// The associated data a private key is sealed with: it opens as this `kid`'s only.
fn bound_to(kid: &str) -> Vec<u8> {
    [b"gatehouse signing key\0".as_slice(), kid.as_bytes()].concat()
}

fn event(kind: AuditEventType, by: KeyActor, now: DateTime<Utc>) -> NewAuditEvent {
    NewAuditEvent::new(kind, None, &AuditContext::default(), now).with("by", by.name())
}

/// Which keys sign and verify, to tell whether a set changed.
fn fingerprint(set: &KeySet) -> Vec<String> {
    std::iter::once(set.signing().kid())
        .chain(set.verifying().iter().map(VerifyingKey::kid))
        .map(|kid| kid.unwrap_or_default().to_owned())
        .collect()
}
