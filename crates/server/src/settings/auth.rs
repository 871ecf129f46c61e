//! Token signing and password hashing settings: the JWT key (an HMAC secret, or a key
//! pair from files) and the argon2 cost, with production's stricter floor.

use gatehouse_auth::{
    HasherConfig, JwtConfig, MfaKey, PasskeyConfig, Passkeys, SigningAlgorithm, SigningKey,
    VerifyingKey,
};

use super::{AppEnv, MIN_SECRET_BYTES, Raw, SettingsError, positive};

impl Raw {
    /// `WEBAUTHN_RP_ID` and `WEBAUTHN_ORIGINS`, by default the host and origin of
    /// `public_url`. An IP address there (the development default is
    /// `http://127.0.0.1:8000`) becomes `localhost`: browsers refuse IP addresses as RP
    /// ids, and `http://localhost` is a secure context, so passkeys work there out of the
    /// box (and nowhere else until these are set). Checked here, so that a relying party
    /// that cannot work stops the start.
    pub(super) fn passkeys(&self, public_url: &str) -> Result<PasskeyConfig, SettingsError> {
        let origins: Vec<String> = match given(&self.webauthn_origins) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(|origin| {
                    gatehouse_web::cookies::origin_of(origin)
                        .filter(|o| o.starts_with("http://") || o.starts_with("https://"))
                        .ok_or_else(|| {
                            SettingsError::new(
                                "WEBAUTHN_ORIGINS",
                                format!("{origin:?} is not an http(s) origin"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            None => gatehouse_web::cookies::origin_of(public_url)
                .map(|origin| ip_as_localhost(&origin))
                .into_iter()
                .collect(),
        };
        let rp_id = match given(&self.webauthn_rp_id) {
            Some(rp_id) => rp_id.to_ascii_lowercase(),
            None => origins.first().map(|o| host_of(o)).unwrap_or_default(),
        };
        let config = PasskeyConfig {
            rp_id,
            rp_name: self.app_name.clone(),
            origins,
        };
        Passkeys::new(&config).map_err(|problem| {
            let variable = if self.webauthn_rp_id.is_some() || self.webauthn_origins.is_none() {
                "WEBAUTHN_RP_ID"
            } else {
                "WEBAUTHN_ORIGINS"
            };
            SettingsError::new(variable, problem)
        })?;
        Ok(config)
    }

    /// `MFA_ENCRYPTION_KEY`; in development, without it, a key derived from
    /// `JWT_SECRET_KEY` (stable across restarts) or else a random one (reported).
    /// `MFA_ENCRYPTION_KEY_PREVIOUS`, when a key rotation is under way.
    pub(super) fn mfa_previous_key(&self) -> Result<Option<MfaKey>, SettingsError> {
        self.mfa_encryption_key_previous
            .as_deref()
            .filter(|text| !text.trim().is_empty())
            .map(|text| {
                MfaKey::from_base64(text)
                    .map_err(|problem| SettingsError::new("MFA_ENCRYPTION_KEY_PREVIOUS", problem))
            })
            .transpose()
    }

    pub(super) fn mfa_key(&self, app_env: AppEnv) -> Result<(MfaKey, bool), SettingsError> {
        match (&self.mfa_encryption_key, &self.jwt_secret_key, app_env) {
            (Some(text), _, _) => MfaKey::from_base64(text)
                .map(|key| (key, false))
                .map_err(|problem| SettingsError::new("MFA_ENCRYPTION_KEY", problem)),
            (None, _, AppEnv::Production) => Err(SettingsError::new(
                "MFA_ENCRYPTION_KEY",
                "required when APP_ENV=production: 32 bytes, base64 (openssl rand -base64 32)",
            )),
            (None, Some(secret), AppEnv::Development) => {
                Ok((MfaKey::derive_from(secret.as_bytes()), false))
            }
            (None, None, AppEnv::Development) => Ok((MfaKey::random(), true)),
        }
    }

    /// `JWT_*`. With managed keys (`managed`) no key is read here: the key is a stand-in
    /// until the database's keys are read at start.
    pub(super) fn jwt(
        &self,
        app_env: AppEnv,
        managed: bool,
    ) -> Result<(JwtConfig, bool, bool), SettingsError> {
        let algorithm = SigningAlgorithm::parse(self.jwt_algorithm.trim()).ok_or_else(|| {
            SettingsError::new(
                "JWT_ALGORITHM",
                format!(
                    "expected one of HS256, HS384, HS512, RS256, ES256, EdDSA, got {:?}",
                    self.jwt_algorithm
                ),
            )
        })?;
        let (key, generated, weak) = if managed && !algorithm.is_hmac() {
            let stand_in =
                SigningKey::generate_es256().map_err(|e| SettingsError::new("SIGNING_KEYS", e))?;
            (stand_in, false, false)
        } else if algorithm.is_hmac() {
            self.hmac_key(algorithm, app_env)?
        } else {
            (self.key_pair(algorithm)?, false, false)
        };
        let access_minutes = positive("ACCESS_TOKEN_EXPIRES_MIN", self.access_token_expires_min)?;
        let refresh_days = positive(
            "REFRESH_TOKEN_EXPIRES_DAYS",
            self.refresh_token_expires_days,
        )?;
        let config = JwtConfig {
            key,
            access_ttl: chrono::Duration::try_minutes(access_minutes)
                .ok_or_else(|| SettingsError::new("ACCESS_TOKEN_EXPIRES_MIN", "too large"))?,
            refresh_ttl: chrono::Duration::try_days(refresh_days)
                .ok_or_else(|| SettingsError::new("REFRESH_TOKEN_EXPIRES_DAYS", "too large"))?,
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            previous: if managed {
                Vec::new()
            } else {
                self.previous_keys(algorithm)?
            },
        };
        Ok((config, generated, weak))
    }

    /// `JWT_PREVIOUS_PUBLIC_KEY_FILES` (with a key pair) or `JWT_SECRET_KEY_PREVIOUS`
    /// (with HMAC): the keys of before a rotation by hand, which still verify. Each must
    /// be of `algorithm`; the other kind's variable set is an error, not ignored.
    fn previous_keys(
        &self,
        algorithm: SigningAlgorithm,
    ) -> Result<Vec<VerifyingKey>, SettingsError> {
        let files = given(&self.jwt_previous_public_key_files);
        let secret = given(&self.jwt_secret_key_previous);
        match (algorithm.is_hmac(), files, secret) {
            (true, Some(_), _) => Err(SettingsError::new(
                "JWT_PREVIOUS_PUBLIC_KEY_FILES",
                format!(
                    "is for key pairs; with JWT_ALGORITHM={algorithm:?} use JWT_SECRET_KEY_PREVIOUS"
                ),
            )),
            (false, _, Some(_)) => Err(SettingsError::new(
                "JWT_SECRET_KEY_PREVIOUS",
                format!(
                    "is for HMAC secrets; with JWT_ALGORITHM={algorithm:?} use JWT_PREVIOUS_PUBLIC_KEY_FILES"
                ),
            )),
            (true, None, Some(secret)) => {
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(SettingsError::new(
                        "JWT_SECRET_KEY_PREVIOUS",
                        format!(
                            "is {} bytes; at least {MIN_SECRET_BYTES} are required",
                            secret.len()
                        ),
                    ));
                }
                let key = VerifyingKey::hmac(algorithm, secret.as_bytes())
                    .map_err(|e| SettingsError::new("JWT_SECRET_KEY_PREVIOUS", e))?;
                Ok(vec![key])
            }
            (false, Some(files), None) => files
                .split(',')
                .map(str::trim)
                .filter(|path| !path.is_empty())
                .map(|path| {
                    let refused = |problem: String| {
                        SettingsError::new(
                            "JWT_PREVIOUS_PUBLIC_KEY_FILES",
                            format!("{path}: {problem}"),
                        )
                    };
                    let pem = std::fs::read(path).map_err(|e| refused(e.to_string()))?;
                    VerifyingKey::from_public_pem(algorithm, &pem).map_err(|e| {
                        refused(format!(
                            "not a {algorithm:?} public key, as JWT_ALGORITHM is ({e})"
                        ))
                    })
                })
                .collect(),
            (_, None, None) => Ok(Vec::new()),
        }
    }

    /// The OpenID Provider's signing key: the JWT key when it is a key pair, else
    /// `OIDC_SIGNING_KEY_FILE`'s (its type chooses RS256, ES256 or EdDSA), else in
    /// development one generated for this run (`true`); in production without either, none.
    pub(super) fn provider_key(
        &self,
        app_env: AppEnv,
        jwt: &JwtConfig,
    ) -> Result<(Option<SigningKey>, bool), SettingsError> {
        if !jwt.key.algorithm().is_hmac() {
            return Ok((Some(jwt.key.clone()), false));
        }
        if let Some(path) = self.oidc_signing_key_file.as_deref() {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| SettingsError::new("OIDC_SIGNING_KEY_FILE", format!("{path}: {e}")))?;
            let key = SigningKey::from_private_pem(&pem)
                .map_err(|e| SettingsError::new("OIDC_SIGNING_KEY_FILE", e))?;
            return Ok((Some(key), false));
        }
        match app_env {
            AppEnv::Development => {
                let key = SigningKey::generate_es256()
                    .map_err(|e| SettingsError::new("OIDC_SIGNING_KEY_FILE", e))?;
                Ok((Some(key), true))
            }
            AppEnv::Production => Ok((None, false)),
        }
    }

    fn hmac_key(
        &self,
        algorithm: SigningAlgorithm,
        app_env: AppEnv,
    ) -> Result<(SigningKey, bool, bool), SettingsError> {
        let secret = match (&self.jwt_secret_key, app_env) {
            (Some(secret), _) => secret.as_bytes().to_vec(),
            (None, AppEnv::Development) => {
                let key = SigningKey::hmac(algorithm, &rand::random::<[u8; 32]>())
                    .map_err(|e| SettingsError::new("JWT_ALGORITHM", e))?;
                return Ok((key, true, false));
            }
            (None, AppEnv::Production) => {
                return Err(SettingsError::new(
                    "JWT_SECRET_KEY",
                    format!("required when APP_ENV=production (at least {MIN_SECRET_BYTES} bytes)"),
                ));
            }
        };
        if app_env == AppEnv::Production && is_placeholder(&secret) {
            return Err(SettingsError::new(
                "JWT_SECRET_KEY",
                "is a placeholder from an example file; set a random secret (openssl rand -base64 48)",
            ));
        }
        let weak = secret.len() < MIN_SECRET_BYTES;
        if weak && app_env == AppEnv::Production {
            return Err(SettingsError::new(
                "JWT_SECRET_KEY",
                format!(
                    "is {} bytes; at least {MIN_SECRET_BYTES} are required when APP_ENV=production",
                    secret.len()
                ),
            ));
        }
        let key = SigningKey::hmac(algorithm, &secret)
            .map_err(|e| SettingsError::new("JWT_ALGORITHM", e))?;
        Ok((key, false, weak))
    }

    fn key_pair(&self, algorithm: SigningAlgorithm) -> Result<SigningKey, SettingsError> {
        let read = |variable: &str, path: &Option<String>| {
            let path = path.as_deref().ok_or_else(|| {
                SettingsError::new(
                    variable,
                    format!("required for JWT_ALGORITHM={algorithm:?}"),
                )
            })?;
            std::fs::read(path)
                .map_err(|e| SettingsError::new(variable, format!("cannot read {path}: {e}")))
        };
        let private_pem = read("JWT_PRIVATE_KEY_FILE", &self.jwt_private_key_file)?;
        let public_pem = read("JWT_PUBLIC_KEY_FILE", &self.jwt_public_key_file)?;
        let key = SigningKey::from_pem(algorithm, &private_pem, &public_pem)
            .map_err(|e| SettingsError::new("JWT_PRIVATE_KEY_FILE", e))?;
        // Sign and verify a probe now, so two files that are not one key pair stop the
        // server at start with this line rather than as rejected tokens later.
        gatehouse_auth::JwtCodec::new(JwtConfig::new(key.clone())).map_err(|e| {
            SettingsError::new(
                "JWT_PUBLIC_KEY_FILE",
                format!("does not fit JWT_PRIVATE_KEY_FILE: {e}"),
            )
        })?;
        Ok(key)
    }

    /// The argon2 cost and the hashing pool; in production, at least OWASP's floor.
    pub(super) fn hasher(&self, app_env: AppEnv) -> Result<HasherConfig, SettingsError> {
        let config = HasherConfig {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
            max_concurrent: self
                .hashing_concurrency
                .unwrap_or_else(|| HasherConfig::default().max_concurrent),
            max_wait: std::time::Duration::from_secs(self.hashing_max_wait_s),
        };
        if config.max_concurrent == 0 {
            return Err(SettingsError::new(
                "HASHING_CONCURRENCY",
                "must be at least 1",
            ));
        }
        argon2_params_check(&config)?;
        if app_env == AppEnv::Production {
            if config.memory_kib < OWASP_MIN_MEMORY_KIB {
                return Err(SettingsError::new(
                    "ARGON2_MEMORY_KIB",
                    format!(
                        "must be at least {OWASP_MIN_MEMORY_KIB} (OWASP's floor) when APP_ENV=production"
                    ),
                ));
            }
            if config.iterations < OWASP_MIN_ITERATIONS {
                return Err(SettingsError::new(
                    "ARGON2_ITERATIONS",
                    format!(
                        "must be at least {OWASP_MIN_ITERATIONS} (OWASP's floor) when APP_ENV=production"
                    ),
                ));
            }
        }
        Ok(config)
    }
}

/// Checks the argon2 cost here so a bad value names its variable (the hasher would only
/// say "invalid parameters").
fn argon2_params_check(config: &HasherConfig) -> Result<(), SettingsError> {
    if !(1..=16_777_215).contains(&config.parallelism) {
        return Err(SettingsError::new(
            "ARGON2_PARALLELISM",
            "must be between 1 and 16777215",
        ));
    }
    if config.iterations < 1 {
        return Err(SettingsError::new(
            "ARGON2_ITERATIONS",
            "must be at least 1",
        ));
    }
    if config.memory_kib < 8 * config.parallelism {
        return Err(SettingsError::new(
            "ARGON2_MEMORY_KIB",
            "must be at least 8 × ARGON2_PARALLELISM",
        ));
    }
    Ok(())
}

/// Secrets copied from an example file: the starter's `change-me-super-secret`, this
/// project's `.env.example` value, and anything else starting `change-me`.
fn is_placeholder(secret: &[u8]) -> bool {
    let text = String::from_utf8_lossy(secret).trim().to_ascii_lowercase();
    text.starts_with("change-me") || text.starts_with("changeme")
}

/// OWASP's minimum argon2id configuration (m = 19 MiB, t = 2).
const OWASP_MIN_MEMORY_KIB: u32 = 19_456;
const OWASP_MIN_ITERATIONS: u32 = 2;

/// `http://127.0.0.1:8000` → `http://localhost:8000`; an origin with a name as it is.
fn ip_as_localhost(origin: &str) -> String {
    let host = host_of(origin);
    let is_ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok();
    if is_ip {
        origin.replacen(&host, "localhost", 1)
    } else {
        origin.to_owned()
    }
}

/// The host of an origin as `origin_of` writes it (`scheme://host[:port]`).
fn host_of(origin: &str) -> String {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    match authority.rsplit_once(':') {
        // An IPv6 address's colons are inside its brackets.
        Some((host, port)) if !port.contains(']') => host.to_owned(),
        _ => authority.to_owned(),
    }
}

/// A variable's value when it is given and not blank, trimmed.
fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}
