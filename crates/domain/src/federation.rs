//! Identities at other OpenID Providers, linked to accounts.

use chrono::{DateTime, Utc};

use crate::{IdentityId, UserId};

/// A configured provider's name, as routes and identities carry it: 1–32 of `a-z`, `0-9`
/// and `-`, so it can name settings (`OIDC_<NAME>_*`) and path segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderName(String);

impl ProviderName {
    /// `raw` in lower case, if it is a valid name.
    pub fn parse(raw: &str) -> Option<Self> {
        let name = raw.trim().to_ascii_lowercase();
        let valid = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then_some(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An identity at a provider, linked to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Which link.
    pub id: IdentityId,
    /// Whose account it signs in to.
    pub user_id: UserId,
    /// The configured provider's name.
    pub provider: String,
    /// The provider's `iss`.
    pub issuer: String,
    /// The provider's `sub`.
    pub subject: String,
    /// The address the provider gave when it was linked.
    pub email: Option<String>,
    /// When it was linked.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::ProviderName;

    #[test]
    fn provider_names_fit_settings_and_paths() {
        assert_eq!(ProviderName::parse(" Google ").unwrap().as_str(), "google");
        assert!(ProviderName::parse("azure-ad").is_some());
        for bad in ["", "a b", "a/b", "a_b", &"x".repeat(33)] {
            assert!(ProviderName::parse(bad).is_none(), "{bad:?}");
        }
    }
}
