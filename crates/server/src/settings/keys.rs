//! `SIGNING_KEYS`: key files (today's setting, the default) or keys the server manages in
//! the database (`managed`), with their timings, and the bad combinations that stop the
//! start.

use gatehouse_app::keys::ManagedKeysConfig;
use gatehouse_auth::SigningAlgorithm;
use gatehouse_domain::KeySchedule;

use super::{AppEnv, Raw, SettingsError};

/// The variables that name key files, which managed keys replace.
const KEY_FILE_VARIABLES: [&str; 4] = [
    "JWT_PRIVATE_KEY_FILE",
    "JWT_PUBLIC_KEY_FILE",
    "JWT_PREVIOUS_PUBLIC_KEY_FILES",
    "OIDC_SIGNING_KEY_FILE",
];

/// Bounds that keep the schedule's dates far inside the calendar.
const MAX_PUBLISH_AHEAD_MIN: u32 = 24 * 60;
const MAX_ROTATION_DAYS: u32 = 3650;

/// The verifiers' clock leeway, added to a retiring key's life.
const LEEWAY: chrono::Duration = chrono::Duration::seconds(30);

impl Raw {
    /// Whether `SIGNING_KEYS` is `managed` (else `files`).
    pub(super) fn managed_signing_keys(&self) -> Result<bool, SettingsError> {
        match self.signing_keys.trim().to_ascii_lowercase().as_str() {
            "files" | "" => Ok(false),
            "managed" => Ok(true),
            other => Err(SettingsError::new(
                "SIGNING_KEYS",
                format!("expected files or managed, got {other:?}"),
            )),
        }
    }

    /// With `SIGNING_KEYS=managed`: the algorithm new keys have and the schedule, after
    /// refusing what cannot go with them (an HMAC algorithm, key files, no
    /// `MFA_ENCRYPTION_KEY` to seal them under). `token_lifetimes` are the access and
    /// refresh tokens' (an ID token lives as long as an access token).
    pub(super) fn managed_keys(
        &self,
        app_env: AppEnv,
        token_lifetimes: (chrono::Duration, chrono::Duration),
    ) -> Result<Option<ManagedKeysConfig>, SettingsError> {
        if !self.managed_signing_keys()? {
            return Ok(None);
        }
        let algorithm = SigningAlgorithm::parse(self.jwt_algorithm.trim())
            .filter(|algorithm| !algorithm.is_hmac())
            .ok_or_else(|| {
                SettingsError::new(
                    "JWT_ALGORITHM",
                    format!(
                        "is {:?}; SIGNING_KEYS=managed makes key pairs: set RS256, ES256 or EdDSA",
                        self.jwt_algorithm
                    ),
                )
            })?;
        let files = [
            &self.jwt_private_key_file,
            &self.jwt_public_key_file,
            &self.jwt_previous_public_key_files,
            &self.oidc_signing_key_file,
        ];
        for (variable, value) in KEY_FILE_VARIABLES.iter().zip(files) {
            if value.as_deref().is_some_and(|text| !text.trim().is_empty()) {
                return Err(SettingsError::new(
                    variable,
                    "is a key file; with SIGNING_KEYS=managed the keys are kept in the database (unset it, or set SIGNING_KEYS=files)",
                ));
            }
        }
        let no_sealing_key = self
            .mfa_encryption_key
            .as_deref()
            .is_none_or(|text| text.trim().is_empty());
        if no_sealing_key && (app_env == AppEnv::Production || self.jwt_secret_key.is_none()) {
            return Err(SettingsError::new(
                "MFA_ENCRYPTION_KEY",
                "is required with SIGNING_KEYS=managed: it seals the private keys in the database (openssl rand -base64 32)",
            ));
        }
        if !(1..=MAX_PUBLISH_AHEAD_MIN).contains(&self.key_publish_ahead_min) {
            return Err(SettingsError::new(
                "KEY_PUBLISH_AHEAD_MIN",
                format!("must be between 1 and {MAX_PUBLISH_AHEAD_MIN}"),
            ));
        }
        if self.key_rotation_days > MAX_ROTATION_DAYS {
            return Err(SettingsError::new(
                "KEY_ROTATION_DAYS",
                format!("must be at most {MAX_ROTATION_DAYS} (0: never)"),
            ));
        }
        // Every instance must list a new key well before it signs (a verifier may fetch
        // the set from the slowest one) and sign with it within a minute.
        let most = u64::from(self.key_publish_ahead_min * 30).min(60);
        if !(1..=most).contains(&self.key_check_interval_s) {
            return Err(SettingsError::new(
                "KEY_CHECK_INTERVAL_S",
                format!(
                    "must be between 1 and {most} (a minute at most, and half of KEY_PUBLISH_AHEAD_MIN)"
                ),
            ));
        }
        let check_every =
            chrono::Duration::seconds(i64::try_from(self.key_check_interval_s).unwrap_or(60));
        let (access, refresh) = token_lifetimes;
        let schedule = KeySchedule {
            publish_ahead: chrono::Duration::minutes(self.key_publish_ahead_min.into()),
            rotate_every: (self.key_rotation_days > 0)
                .then(|| chrono::Duration::days(self.key_rotation_days.into())),
            // An instance that has not yet heard of an activation signs with the old key
            // for up to a check more: its tokens must outlive that too.
            longest_token_life: access.max(refresh) + LEEWAY + check_every,
        };
        Ok(Some(ManagedKeysConfig {
            algorithm,
            schedule,
            check_every: std::time::Duration::from_secs(self.key_check_interval_s),
        }))
    }

    /// How long verifiers may cache the JWK set: half the publish-ahead time, at most
    /// five minutes.
    pub(super) fn jwks_max_age_seconds(&self) -> u32 {
        self.key_publish_ahead_min.saturating_mul(30).min(300)
    }
}
