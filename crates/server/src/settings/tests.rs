//! Reading settings: defaults, the starter's `.env`, and one line per bad value.

use super::sources::{quote_bare_value, quote_bare_values};
use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    Settings::from_layers(HashMap::new(), env(pairs))
}

#[test]
fn defaults_need_nothing_and_generate_a_development_secret() {
    let settings = load(&[]).unwrap();
    assert_eq!((settings.host.as_str(), settings.port), ("127.0.0.1", 8000));
    assert_eq!(settings.database.url, "sqlite://data/app.db?mode=rwc");
    assert!(settings.jwt_secret_generated);
    assert_eq!(settings.jwt.access_ttl, chrono::Duration::minutes(15));
    assert_eq!(settings.hasher.memory_kib, 65_536);
}

#[test]
fn the_starters_env_file_works_unchanged() {
    let starter = include_str!("../../tests/fixtures/starter.env");
    let dir = std::env::temp_dir().join(format!("gatehouse-env-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(".env");
    std::fs::write(&path, starter).unwrap();
    let dotenv = read_dotenv(&path).unwrap();
    let settings = Settings::from_layers(dotenv, HashMap::new()).unwrap();
    assert_eq!(settings.app_name, "AuthX Starter");
    assert!(settings.debug);
    assert_eq!(settings.database_kind(), DatabaseKind::Postgres);
    assert_eq!(
        settings.database.normalized_url(),
        "postgresql://postgres:postgres@localhost:5432/app"
    );
    assert!(!settings.jwt_secret_generated);
    assert!(
        settings.jwt_secret_weak,
        "22-byte secret: allowed in development, with a warning"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_environment_wins_over_the_env_file() {
    let settings = Settings::from_layers(
        env(&[("APP_PORT", "9000"), ("APP_NAME", "from file")]),
        env(&[("APP_PORT", "9100")]),
    )
    .unwrap();
    assert_eq!(
        (settings.port, settings.app_name.as_str()),
        (9100, "from file")
    );
}

#[test]
fn bad_values_name_their_variable() {
    for (pairs, variable) in [
        (vec![("APP_PORT", "eighty")], "APP_PORT"),
        (vec![("APP_PORT", "70000")], "APP_PORT"),
        (vec![("APP_DEBUG", "maybe")], "APP_DEBUG"),
        (vec![("JWT_ALGORITHM", "none")], "JWT_ALGORITHM"),
        (
            vec![("ACCESS_TOKEN_EXPIRES_MIN", "0")],
            "ACCESS_TOKEN_EXPIRES_MIN",
        ),
        (vec![("DATABASE_URL", "oracle://x")], "DATABASE_URL"),
        (vec![("APP_ENV", "staging")], "APP_ENV"),
        (vec![("ARGON2_MEMORY_KIB", "4")], "ARGON2_MEMORY_KIB"),
        (vec![("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        (
            vec![("REFRESH_TOKEN_ROTATION", "sometimes")],
            "REFRESH_TOKEN_ROTATION",
        ),
        (
            vec![("REFRESH_REUSE_GRACE_S", "-1")],
            "REFRESH_REUSE_GRACE_S",
        ),
        (vec![("JWT_TOKEN_LOCATION", "query")], "JWT_TOKEN_LOCATION"),
        (vec![("COOKIE_SECURE", "sometimes")], "COOKIE_SECURE"),
        (vec![("CORS_ORIGINS", "*")], "CORS_ORIGINS"),
        (vec![("MAIL_TRANSPORT", "pigeon")], "MAIL_TRANSPORT"),
        (
            vec![("TRUSTED_PROXIES", "10.0.0.0/8, proxy")],
            "TRUSTED_PROXIES",
        ),
        (
            vec![("RATE_LIMIT_LOGIN_PER_MIN", "0")],
            "RATE_LIMIT_LOGIN_PER_MIN",
        ),
        (vec![("MAIL_FROM", "nobody")], "MAIL_FROM"),
        (vec![("PUBLIC_URL", "example.com")], "PUBLIC_URL"),
        (
            vec![("RESET_TOKEN_EXPIRES_MIN", "0")],
            "RESET_TOKEN_EXPIRES_MIN",
        ),
        (
            vec![("CORS_ORIGINS", "https://ok.example, app.example.com")],
            "CORS_ORIGINS",
        ),
        (
            vec![("CORS_ORIGINS", "https://app.example.com/path")],
            "CORS_ORIGINS",
        ),
        (vec![("JWT_ALGORITHM", "RS256")], "JWT_PRIVATE_KEY_FILE"),
    ] {
        let err = load(&pairs).unwrap_err();
        assert_eq!(err.variable, variable, "{pairs:?}: {err}");
    }
}

#[test]
fn production_requires_a_long_secret() {
    let err = load(&[("APP_ENV", "production")]).unwrap_err();
    assert_eq!(err.variable, "JWT_SECRET_KEY");
    let err = load(&[("APP_ENV", "production"), ("JWT_SECRET_KEY", "short")]).unwrap_err();
    assert_eq!(err.variable, "JWT_SECRET_KEY");
    let secret = "x".repeat(MIN_SECRET_BYTES);
    let settings = load(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", &secret),
        ("MAIL_TRANSPORT", "smtps://mail.example.com"),
        ("MFA_ENCRYPTION_KEY", TEST_MFA_KEY),
    ])
    .unwrap();
    assert!(!settings.jwt_secret_weak);
}

/// 32 bytes, base64.
const TEST_MFA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[test]
fn production_requires_an_mfa_key_and_development_derives_one() {
    let err = production(&[("MFA_ENCRYPTION_KEY", "")]).unwrap_err();
    assert_eq!(err.variable, "MFA_ENCRYPTION_KEY");
    let without = load(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", &"x".repeat(MIN_SECRET_BYTES)),
        ("MAIL_TRANSPORT", "smtps://mail.example.com"),
    ])
    .unwrap_err();
    assert_eq!(without.variable, "MFA_ENCRYPTION_KEY");
    assert!(
        without.to_string().contains("openssl rand -base64 32"),
        "{without}"
    );
    for bad in ["c2hvcnQ=", "not base64!"] {
        let err = production(&[("MFA_ENCRYPTION_KEY", bad)]).unwrap_err();
        assert_eq!(err.variable, "MFA_ENCRYPTION_KEY", "{bad}");
    }
    // Development: derived from the JWT secret (the same key at every start), else random.
    let secret = [("JWT_SECRET_KEY", "a development secret")];
    let first = load(&secret).unwrap();
    assert_eq!(first.mfa_key.id(), load(&secret).unwrap().mfa_key.id());
    assert!(!first.mfa_key_generated);
    assert!(load(&[]).unwrap().mfa_key_generated);
    // A rotation: the previous key is read, and a bad one is named.
    let rotating = production(&[("MFA_ENCRYPTION_KEY_PREVIOUS", TEST_MFA_KEY)]).unwrap();
    assert!(rotating.mfa_previous_key.is_some());
    let err = production(&[("MFA_ENCRYPTION_KEY_PREVIOUS", "c2hvcnQ=")]).unwrap_err();
    assert_eq!(err.variable, "MFA_ENCRYPTION_KEY_PREVIOUS");
}

#[test]
fn previous_signing_keys_are_read_and_a_wrong_kind_is_named() {
    let fixture = |name: &str| format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    let pair = [
        ("JWT_ALGORITHM", "EdDSA".to_owned()),
        ("JWT_PRIVATE_KEY_FILE", fixture("eddsa-private.pem")),
        ("JWT_PUBLIC_KEY_FILE", fixture("eddsa-public.pem")),
    ];
    let with = |extra: &[(&'static str, String)]| {
        let pairs: Vec<(&str, &str)> = pair
            .iter()
            .chain(extra)
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        load(&pairs)
    };
    let previous = fixture("eddsa-previous-public.pem");
    let two = format!("{previous}, {}", fixture("eddsa-other-public.pem"));
    let loaded = with(&[("JWT_PREVIOUS_PUBLIC_KEY_FILES", two)]).unwrap();
    assert_eq!(loaded.jwt.previous.len(), 2);
    for (variable, value) in [
        ("JWT_PREVIOUS_PUBLIC_KEY_FILES", fixture("es256-public.pem")),
        ("JWT_PREVIOUS_PUBLIC_KEY_FILES", fixture("no-such.pem")),
        ("JWT_SECRET_KEY_PREVIOUS", "x".repeat(MIN_SECRET_BYTES)),
    ] {
        let err = with(&[(variable, value.clone())]).unwrap_err();
        assert_eq!(err.variable, variable, "{value}: {err}");
    }
    // With HMAC: a previous secret, at least as long as a secret must be; never files.
    let secret = "x".repeat(MIN_SECRET_BYTES);
    let loaded = load(&[("JWT_SECRET_KEY_PREVIOUS", secret.as_str())]).unwrap();
    assert_eq!(loaded.jwt.previous.len(), 1);
    let err = load(&[("JWT_SECRET_KEY_PREVIOUS", "short")]).unwrap_err();
    assert_eq!(err.variable, "JWT_SECRET_KEY_PREVIOUS");
    let err = load(&[("JWT_PREVIOUS_PUBLIC_KEY_FILES", previous.as_str())]).unwrap_err();
    assert_eq!(err.variable, "JWT_PREVIOUS_PUBLIC_KEY_FILES");
}

/// Production settings that pass every check, to vary one at a time.
fn production(overrides: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let secret = "x".repeat(MIN_SECRET_BYTES);
    let mut pairs = vec![
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", secret.as_str()),
        ("MAIL_TRANSPORT", "smtps://mail.example.com"),
        ("MFA_ENCRYPTION_KEY", TEST_MFA_KEY),
    ];
    pairs.extend_from_slice(overrides);
    load(&pairs)
}

#[test]
fn production_refuses_placeholder_secrets() {
    assert!(production(&[]).is_ok());
    let example = include_str!("../../../../.env.example")
        .lines()
        .find_map(|line| line.strip_prefix("JWT_SECRET_KEY="))
        .unwrap();
    for placeholder in [
        example,
        "change-me-super-secret",
        "change-me-please-to-something-long-and-random",
        "CHANGE-ME-this-is-long-enough-to-pass-the-length-rule",
    ] {
        let err = production(&[("JWT_SECRET_KEY", placeholder)]).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET_KEY", "{placeholder}");
    }
    // Outside production, a placeholder only warns.
    assert!(load(&[("JWT_SECRET_KEY", example)]).is_ok());
}

#[test]
fn production_refuses_argon2_below_the_owasp_floor() {
    for (variable, value) in [("ARGON2_MEMORY_KIB", "19455"), ("ARGON2_ITERATIONS", "1")] {
        let err = production(&[(variable, value)]).unwrap_err();
        assert_eq!(err.variable, variable);
    }
    assert!(production(&[("ARGON2_MEMORY_KIB", "19456"), ("ARGON2_ITERATIONS", "2")]).is_ok());
    assert!(load(&[("ARGON2_MEMORY_KIB", "1024"), ("ARGON2_ITERATIONS", "1")]).is_ok());
}

#[test]
fn production_refuses_to_log_mails() {
    let secret = "x".repeat(MIN_SECRET_BYTES);
    let err = load(&[("APP_ENV", "production"), ("JWT_SECRET_KEY", &secret)]).unwrap_err();
    assert_eq!(err.variable, "MAIL_TRANSPORT");
}

#[test]
fn production_keeps_cookies_secure() {
    let secret = "x".repeat(MIN_SECRET_BYTES);
    let err = load(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", &secret),
        ("COOKIE_SECURE", "false"),
    ])
    .unwrap_err();
    assert_eq!(err.variable, "COOKIE_SECURE");
}

#[test]
fn cors_origins_are_a_comma_separated_list() {
    let settings = load(&[(
        "CORS_ORIGINS",
        "https://app.example.com, http://localhost:5173/",
    )])
    .unwrap();
    assert_eq!(
        settings.cors_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    assert!(load(&[]).unwrap().cors_origins.is_empty());
}

#[test]
fn numeric_looking_secrets_stay_text() {
    let secret = "12345678901234567890123456789012345";
    let settings = load(&[
        ("JWT_SECRET_KEY", secret),
        ("APP_ENV", "production"),
        ("MAIL_TRANSPORT", "smtps://mail.example.com"),
        ("MFA_ENCRYPTION_KEY", TEST_MFA_KEY),
    ])
    .unwrap();
    assert!(!settings.jwt_secret_weak);
}

#[test]
fn unquoted_values_with_spaces_read_as_python_dotenv_reads_them() {
    assert_eq!(
        quote_bare_value("APP_NAME=AuthX Starter"),
        "APP_NAME='AuthX Starter'"
    );
    assert_eq!(
        quote_bare_value("APP_NAME=AuthX Starter  # comment"),
        "APP_NAME='AuthX Starter'"
    );
    assert_eq!(quote_bare_value("A=it's here"), r#"A="it's here""#);
    assert_eq!(quote_bare_value("A=plain"), "A=plain");
    assert_eq!(quote_bare_value("A='quoted value'"), "A='quoted value'");
    assert_eq!(quote_bare_value("# A=b c"), "# A=b c");
    let parsed: HashMap<String, String> =
        dotenvy::from_read_iter(quote_bare_values("A=it's \\ \"x\" $HOME\n").as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    assert_eq!(parsed["A"], r#"it's \ "x" $HOME"#);
}

fn uuid_like() -> String {
    format!("{:x}", rand::random::<u64>())
}

#[test]
fn passkeys_default_to_public_url_and_an_ip_becomes_localhost() {
    let settings = load(&[]).unwrap();
    assert_eq!(settings.passkeys.rp_id, "localhost");
    assert_eq!(settings.passkeys.origins, ["http://localhost:8000"]);
    assert_eq!(settings.passkeys.rp_name, "AuthX Starter");
    assert!(
        settings
            .web
            .trusted_origins
            .contains(&"http://localhost:8000".to_owned())
    );
    let named = load(&[("PUBLIC_URL", "https://id.example.com/")]).unwrap();
    assert_eq!(named.passkeys.rp_id, "id.example.com");
    assert_eq!(named.passkeys.origins, ["https://id.example.com"]);
    let v6 = load(&[("PUBLIC_URL", "http://[::1]:9000")]).unwrap();
    assert_eq!(v6.passkeys.origins, ["http://localhost:9000"]);
}

#[test]
fn passkeys_take_an_rp_id_covering_every_origin() {
    let settings = load(&[
        ("WEBAUTHN_RP_ID", "Example.com"),
        (
            "WEBAUTHN_ORIGINS",
            "https://id.example.com, https://example.com:8443",
        ),
    ])
    .unwrap();
    assert_eq!(settings.passkeys.rp_id, "example.com");
    assert_eq!(
        settings.passkeys.origins,
        ["https://id.example.com", "https://example.com:8443"]
    );
    for (pairs, variable) in [
        (
            vec![
                ("WEBAUTHN_RP_ID", "example.com"),
                (
                    "WEBAUTHN_ORIGINS",
                    "https://id.example.com,https://evil.com",
                ),
            ],
            "WEBAUTHN_RP_ID",
        ),
        (
            vec![
                ("PUBLIC_URL", "https://example.com"),
                ("WEBAUTHN_RP_ID", "other.com"),
            ],
            "WEBAUTHN_RP_ID",
        ),
        (vec![("WEBAUTHN_RP_ID", "com")], "WEBAUTHN_RP_ID"),
        (
            vec![("WEBAUTHN_ORIGINS", "ftp://example.com")],
            "WEBAUTHN_ORIGINS",
        ),
        (
            vec![(
                "WEBAUTHN_ORIGINS",
                "https://a.example.com,https://b.example.org",
            )],
            "WEBAUTHN_ORIGINS",
        ),
    ] {
        let err = load(&pairs).unwrap_err();
        assert_eq!(err.variable, variable, "{pairs:?}: {err}");
        assert!(
            err.message.contains("RP id") || err.message.contains("origin"),
            "{err}"
        );
    }
}

#[test]
fn managed_signing_keys_are_read_and_bad_combinations_are_named() {
    let managed = [
        ("SIGNING_KEYS", "managed"),
        ("JWT_ALGORITHM", "ES256"),
        ("MFA_ENCRYPTION_KEY", TEST_MFA_KEY),
        ("KEY_PUBLISH_AHEAD_MIN", "4"),
        ("KEY_ROTATION_DAYS", "0"),
    ];
    let settings = load(&managed).unwrap();
    let config = settings.managed_keys.unwrap();
    assert_eq!(config.algorithm, gatehouse_auth::SigningAlgorithm::ES256);
    assert_eq!(config.schedule.publish_ahead, chrono::Duration::minutes(4));
    assert_eq!(config.schedule.rotate_every, None);
    // The refresh token's 7 days, the leeway, and a check's lag.
    assert_eq!(
        config.schedule.longest_token_life,
        chrono::Duration::days(7) + chrono::Duration::seconds(30 + 30)
    );
    assert_eq!(config.check_every, std::time::Duration::from_secs(30));
    assert_eq!(settings.web.jwks_max_age_seconds, 120);
    assert!(settings.provider_key.is_none());
    // Key files are the default, and the JWK set's max-age stays five minutes.
    let files = load(&[]).unwrap();
    assert!(files.managed_keys.is_none());
    assert_eq!(files.web.jwks_max_age_seconds, 300);

    for (change, variable) in [
        (("SIGNING_KEYS", "database"), "SIGNING_KEYS"),
        (("JWT_ALGORITHM", "HS256"), "JWT_ALGORITHM"),
        (("JWT_PRIVATE_KEY_FILE", "key.pem"), "JWT_PRIVATE_KEY_FILE"),
        (("JWT_PUBLIC_KEY_FILE", "key.pub"), "JWT_PUBLIC_KEY_FILE"),
        (
            ("JWT_PREVIOUS_PUBLIC_KEY_FILES", "old.pub"),
            "JWT_PREVIOUS_PUBLIC_KEY_FILES",
        ),
        (
            ("OIDC_SIGNING_KEY_FILE", "oidc.pem"),
            "OIDC_SIGNING_KEY_FILE",
        ),
        (("KEY_CHECK_INTERVAL_S", "0"), "KEY_CHECK_INTERVAL_S"),
        (("KEY_CHECK_INTERVAL_S", "61"), "KEY_CHECK_INTERVAL_S"),
        (("KEY_PUBLISH_AHEAD_MIN", "0"), "KEY_PUBLISH_AHEAD_MIN"),
        (("KEY_ROTATION_DAYS", "100000"), "KEY_ROTATION_DAYS"),
    ] {
        let mut pairs = managed.to_vec();
        pairs.push(change);
        let err = load(&pairs).unwrap_err();
        assert_eq!(err.variable, variable, "{change:?}: {err}");
    }
    // No key to seal under: in production, and in development with nothing to derive
    // one from.
    let err = production(&[
        ("SIGNING_KEYS", "managed"),
        ("JWT_ALGORITHM", "EdDSA"),
        ("MFA_ENCRYPTION_KEY", ""),
    ])
    .unwrap_err();
    assert_eq!(err.variable, "MFA_ENCRYPTION_KEY");
    let err = load(&[("SIGNING_KEYS", "managed"), ("JWT_ALGORITHM", "EdDSA")]).unwrap_err();
    assert_eq!(err.variable, "MFA_ENCRYPTION_KEY");
    assert!(err.message.contains("SIGNING_KEYS=managed"), "{err}");
}
