//! Where the settings' values come from: the `.env` file (read as the Python starter's
//! python-dotenv reads it) and the environment, as layers for the `config` crate, and how
//! a value it cannot take is reported.

use std::{collections::HashMap, path::Path};

use config::{ConfigError, Environment};

use super::SettingsError;

/// Empty values count as unset, as in most `.env` conventions.
pub(super) fn layer(values: HashMap<String, String>) -> Environment {
    let values = values
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| (key.to_uppercase(), value))
        .collect();
    Environment::default().source(Some(values))
}

pub(super) fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, SettingsError> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::new(".env", e))?;
    let compatible = quote_bare_values(&text);
    dotenvy::from_read_iter(compatible.as_bytes())
        .collect::<Result<HashMap<_, _>, _>>()
        .map_err(|e| SettingsError::new(".env", e))
}

/// python-dotenv (what the starter's users have) accepts unquoted values with spaces,
/// such as `APP_NAME=AuthX Starter`; dotenvy does not. Quote such values first, so every
/// `.env` written for the starter reads the same here.
pub(super) fn quote_bare_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        out.push_str(&quote_bare_value(line));
        out.push('\n');
    }
    out
}

pub(super) fn quote_bare_value(line: &str) -> String {
    let Some((key, value)) = line.split_once('=') else {
        return line.to_owned();
    };
    let value = value.trim_start();
    if key.trim_start().starts_with('#') || value.starts_with(['"', '\'']) {
        return line.to_owned();
    }
    // An unquoted value ends at a ` #` comment, as in python-dotenv.
    let value = value
        .find(" #")
        .map_or(value, |comment| &value[..comment])
        .trim_end();
    if !value.contains(char::is_whitespace) {
        return line.to_owned();
    }
    if value.contains('\'') {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$");
        format!("{key}=\"{escaped}\"")
    } else {
        format!("{key}='{value}'")
    }
}

pub(super) fn describe_config_error(err: ConfigError) -> SettingsError {
    match err {
        ConfigError::Type {
            unexpected,
            expected,
            key: Some(key),
            ..
        } => SettingsError::new(
            &key.to_uppercase(),
            format!("expected {expected}, got {unexpected}"),
        ),
        ConfigError::At {
            error,
            key: Some(key),
            ..
        } => SettingsError::new(&key.to_uppercase(), error),
        other => SettingsError::new("configuration", other),
    }
}
