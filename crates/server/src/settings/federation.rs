//! `OIDC_PROVIDERS` and each provider's `OIDC_<NAME>_*`: read from the raw layers, since
//! the variables' names depend on the providers'.

use std::collections::HashMap;

use gatehouse_auth::OidcProviderConfig;
use gatehouse_domain::ProviderName;

use super::SettingsError;

/// The scopes asked for when `OIDC_<NAME>_SCOPES` is not set.
const DEFAULT_SCOPES: &str = "openid email profile";

/// The providers `values` (upper-case names, the environment's winning) configure, with
/// redirect URLs under `public_url`. Each needs an issuer (HTTPS, except on loopback), a
/// client id and a client secret.
pub(super) fn providers(
    values: &HashMap<String, String>,
    public_url: &str,
) -> Result<Vec<OidcProviderConfig>, SettingsError> {
    let Some(list) = values.get("OIDC_PROVIDERS") else {
        return Ok(Vec::new());
    };
    let mut providers: Vec<OidcProviderConfig> = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|raw| !raw.is_empty()) {
        let name = ProviderName::parse(raw).ok_or_else(|| {
            SettingsError::new(
                "OIDC_PROVIDERS",
                format!("{raw:?}: a name is 1–32 of a-z, 0-9 and -"),
            )
        })?;
        if providers.iter().any(|known| known.name == name.as_str()) {
            return Err(SettingsError::new(
                "OIDC_PROVIDERS",
                format!("{raw:?} is named twice"),
            ));
        }
        let prefix = format!("OIDC_{}_", name.as_str().replace('-', "_").to_uppercase());
        let get = |suffix: &str| {
            values
                .get(&format!("{prefix}{suffix}"))
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let required = |suffix: &str| {
            get(suffix).ok_or_else(|| {
                SettingsError::new(&format!("{prefix}{suffix}"), "required for this provider")
            })
        };
        let issuer = required("ISSUER")?;
        if !is_https_or_loopback(&issuer) {
            return Err(SettingsError::new(
                &format!("{prefix}ISSUER"),
                format!("{issuer:?} must be an https:// URL (http only on loopback)"),
            ));
        }
        let scopes = get("SCOPES").unwrap_or_else(|| DEFAULT_SCOPES.to_owned());
        providers.push(OidcProviderConfig {
            label: get("LABEL").unwrap_or_else(|| capitalized(name.as_str())),
            issuer,
            client_id: required("CLIENT_ID")?,
            client_secret: required("CLIENT_SECRET")?,
            scopes: scopes
                .split([' ', ','])
                .filter(|scope| !scope.is_empty())
                .map(str::to_owned)
                .collect(),
            redirect_url: format!(
                "{}/auth/oidc/{}/callback",
                public_url.trim_end_matches('/'),
                name.as_str()
            ),
            name: name.as_str().to_owned(),
        });
    }
    Ok(providers)
}

/// The `OIDC_*` entries of the layers, by upper-case name, later layers winning.
pub(super) fn federation_values(layers: &[&HashMap<String, String>]) -> HashMap<String, String> {
    layers
        .iter()
        .flat_map(|layer| layer.iter())
        .map(|(key, value)| (key.to_uppercase(), value.clone()))
        .filter(|(key, value)| key.starts_with("OIDC_") && !value.trim().is_empty())
        .collect()
}

fn is_https_or_loopback(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(host, _port)| host);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::providers;

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn providers_are_read_with_defaults_and_checked() {
        let read = providers(
            &values(&[
                ("OIDC_PROVIDERS", "google, azure-ad"),
                ("OIDC_GOOGLE_ISSUER", "https://accounts.google.com"),
                ("OIDC_GOOGLE_CLIENT_ID", "id"),
                ("OIDC_GOOGLE_CLIENT_SECRET", "secret"),
                ("OIDC_AZURE_AD_ISSUER", "https://login.example.com/v2.0"),
                ("OIDC_AZURE_AD_CLIENT_ID", "id2"),
                ("OIDC_AZURE_AD_CLIENT_SECRET", "secret2"),
                ("OIDC_AZURE_AD_LABEL", "Work account"),
                ("OIDC_AZURE_AD_SCOPES", "openid email"),
            ]),
            "https://auth.example.com/",
        )
        .unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].label, "Google");
        assert_eq!(read[0].scopes, ["openid", "email", "profile"]);
        assert_eq!(
            read[0].redirect_url,
            "https://auth.example.com/auth/oidc/google/callback"
        );
        assert_eq!(read[1].name, "azure-ad");
        assert_eq!(read[1].label, "Work account");

        let missing = providers(
            &values(&[
                ("OIDC_PROVIDERS", "google"),
                ("OIDC_GOOGLE_ISSUER", "https://a"),
            ]),
            "https://x",
        )
        .unwrap_err();
        assert_eq!(missing.variable, "OIDC_GOOGLE_CLIENT_ID");
        let plain_http = providers(
            &values(&[
                ("OIDC_PROVIDERS", "corp"),
                ("OIDC_CORP_ISSUER", "http://idp.example.com"),
                ("OIDC_CORP_CLIENT_ID", "a"),
                ("OIDC_CORP_CLIENT_SECRET", "b"),
            ]),
            "https://x",
        )
        .unwrap_err();
        assert_eq!(plain_http.variable, "OIDC_CORP_ISSUER");
        let loopback = values(&[
            ("OIDC_PROVIDERS", "test"),
            ("OIDC_TEST_ISSUER", "http://127.0.0.1:4000"),
            ("OIDC_TEST_CLIENT_ID", "a"),
            ("OIDC_TEST_CLIENT_SECRET", "b"),
        ]);
        assert!(providers(&loopback, "http://127.0.0.1:8000").is_ok());
        assert!(providers(&values(&[("OIDC_PROVIDERS", "a b")]), "https://x").is_err());
        assert!(providers(&values(&[]), "https://x").unwrap().is_empty());
    }
}
