//! Gatehouse as an OpenID Provider for other apps: the clients that may ask it to sign
//! their users in, and the rules a client's registration obeys.

use chrono::{DateTime, Utc};
use url::{Host, Url};

use crate::ValidationError;

/// The longest client name.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;
/// The most redirect URIs (and, apart, post-logout redirect URIs) a client may have.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest URI kept.
const MAX_URI_BYTES: usize = 2000;

/// A client's id: random, URL-safe, made by gatehouse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// A client id as presented (22 to 64 characters of `A-Z a-z 0-9 - _`), or `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let fits = (22..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        fits.then(|| Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// A server-side app: authenticates with its secret.
    Confidential,
    /// A browser or mobile app: no secret, PKCE alone.
    Public,
}

impl ClientType {
    /// `confidential` or `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    /// The type named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "confidential" => Some(Self::Confidential),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// What a client may exchange at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    /// A code from the authorization endpoint.
    AuthorizationCode,
    /// A refresh token.
    RefreshToken,
    /// The client's own credentials (confidential clients that asked for it).
    ClientCredentials,
}

impl GrantType {
    /// The grant's name at the token endpoint.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// The grant named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }

    /// What a client gets unless it asks otherwise.
    pub const DEFAULT: [Self; 2] = [Self::AuthorizationCode, Self::RefreshToken];
}

/// A redirect URI as registered: absolute, `https` (or `http` on a loopback host, for
/// apps on the user's own machine), no fragment, no user or password. Requests must name
/// it exactly, string for string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Checks `raw` against the rule; `field` names it in the refusal.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, ValidationError> {
        let refuse = |reason: &str| ValidationError::new(field, reason.to_owned());
        if raw.len() > MAX_URI_BYTES {
            return Err(refuse("must be at most 2000 bytes"));
        }
        // The URL parser drops spaces and control characters that the stored string would
        // keep: what is stored must be what was checked.
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(refuse("must not contain spaces or control characters"));
        }
        let url = Url::parse(raw).map_err(|_| refuse("must be an absolute URL"))?;
        let loopback = match url.host() {
            Some(Host::Domain(name)) => name == "localhost",
            Some(Host::Ipv4(address)) => address.is_loopback(),
            Some(Host::Ipv6(address)) => address.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if loopback => {}
            "http" => return Err(refuse("must use https (http only on a loopback host)")),
            _ => return Err(refuse("must be an https URL")),
        }
        if url.fragment().is_some() {
            return Err(refuse("must not have a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry a user or password"));
        }
        // Kept as registered: requests are compared with it string for string.
        Ok(Self(raw.to_owned()))
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's registration, checked: what `POST /oauth/clients` and `clients create` take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Shown on the consent page and the account page.
    pub name: String,
    /// Where codes may be sent, matched exactly.
    pub redirect_uris: Vec<RedirectUri>,
    /// Where RP-initiated logout may send the browser after.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Whether it keeps a secret.
    pub client_type: ClientType,
    /// A first-party app asks for no consent.
    pub first_party: bool,
    /// What it may exchange at the token endpoint, sorted, no repeats.
    pub grant_types: Vec<GrantType>,
}

/// A client's registration as given, before its rules are checked.
#[derive(Debug, Clone, Default)]
pub struct ClientRequest {
    /// Its name.
    pub name: Option<String>,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Its post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// `confidential` (the default) or `public`.
    pub client_type: Option<String>,
    /// Whether it asks for no consent.
    pub first_party: bool,
    /// Its grant types; the default ones when none.
    pub grant_types: Vec<String>,
}

impl ClientSettings {
    /// Checks a registration: a name of 1 to 100 characters; 1 to 10 redirect URIs and up
    /// to 10 post-logout ones, each by the [`RedirectUri`] rule; a known type; known grant
    /// types, `client_credentials` for confidential clients only. Every broken rule is
    /// reported, each naming its field.
    pub fn parse(request: ClientRequest) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let name = request
            .name
            .map(|name| name.trim().to_owned())
            .unwrap_or_default();
        let chars = name.chars().count();
        if chars == 0 {
            errors.push(ValidationError::new("name", "field required".to_owned()));
        } else if chars > MAX_CLIENT_NAME_CHARS {
            errors.push(ValidationError::new(
                "name",
                "must be at most 100 characters".to_owned(),
            ));
        } else if name.chars().any(|c| c.is_control() || is_invisible(c)) {
            errors.push(ValidationError::new(
                "name",
                "must not contain control or invisible formatting characters".to_owned(),
            ));
        }
        let redirect_uris = uris(request.redirect_uris, "redirect_uris", true, &mut errors);
        let post_logout_redirect_uris = uris(
            request.post_logout_redirect_uris,
            "post_logout_redirect_uris",
            false,
            &mut errors,
        );
        let client_type = match request.client_type.as_deref() {
            None => ClientType::Confidential,
            Some(raw) => ClientType::parse(raw).unwrap_or_else(|| {
                errors.push(ValidationError::new(
                    "type",
                    "must be confidential or public".to_owned(),
                ));
                ClientType::Confidential
            }),
        };
        let mut grant_types = Vec::new();
        for raw in &request.grant_types {
            match GrantType::parse(raw) {
                Some(grant) => grant_types.push(grant),
                None => errors.push(ValidationError::new(
                    "grant_types",
                    format!("unknown grant type {raw:?}"),
                )),
            }
        }
        if request.grant_types.is_empty() {
            grant_types = GrantType::DEFAULT.to_vec();
        }
        grant_types.sort();
        grant_types.dedup();
        if client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials)
        {
            errors.push(ValidationError::new(
                "grant_types",
                "client_credentials needs a confidential client".to_owned(),
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                client_type,
                first_party: request.first_party,
                grant_types,
            })
        } else {
            Err(errors)
        }
    }
}

/// Characters that change how a name reads without showing: zero-width ones, bidi
/// controls (a right-to-left override can make a name on the consent page look like
/// another), line and paragraph separators, the byte-order mark.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FEFF}'
    )
}

/// Parses each URI of a list for `field`, repeats dropped; `required`: at least one.
fn uris(
    raw: Vec<String>,
    field: &'static str,
    required: bool,
    errors: &mut Vec<ValidationError>,
) -> Vec<RedirectUri> {
    if required && raw.is_empty() {
        errors.push(ValidationError::new(
            field,
            "at least one is required".to_owned(),
        ));
    }
    if raw.len() > MAX_REDIRECT_URIS {
        errors.push(ValidationError::new(field, "at most 10".to_owned()));
        return Vec::new();
    }
    let mut parsed: Vec<RedirectUri> = Vec::new();
    for uri in raw {
        match RedirectUri::parse(&uri, field) {
            Ok(uri) if !parsed.contains(&uri) => parsed.push(uri),
            Ok(_) => {}
            Err(error) => errors.push(error),
        }
    }
    parsed
}

/// A registered client, as stored (its secret only as a hash, never here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthClient {
    /// Its id.
    pub id: ClientId,
    /// Its registration.
    pub settings: ClientSettings,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl OauthClient {
    /// Whether `uri` is one of its redirect URIs, string for string.
    pub fn redirects_to(&self, uri: &str) -> bool {
        self.settings
            .redirect_uris
            .iter()
            .any(|registered| registered.as_str() == uri)
    }

    /// Whether it may use `grant`.
    pub fn may_use(&self, grant: GrantType) -> bool {
        self.settings.grant_types.contains(&grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http_without_fragment_or_credentials() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?tenant=1",
            "http://127.0.0.1:8080/callback",
            "http://localhost/cb",
            "http://[::1]:3000/cb",
        ] {
            assert!(RedirectUri::parse(good, "redirect_uris").is_ok(), "{good}");
        }
        for bad in [
            "http://app.example.com/callback",
            "https://app.example.com/cb#fragment",
            "https://user:pass@app.example.com/cb",
            "/relative/path",
            "javascript:alert(1)",
            "ftp://files.example.com/",
            "com.example.app:/oauth",
            "",
            " https://app.example.com/cb",
            "https://app.example.com/cb\n",
            "https://app.example.com/c\r\nb",
            "\u{0}https://app.example.com/cb",
            "https://app.example.com/c b",
        ] {
            assert!(RedirectUri::parse(bad, "redirect_uris").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_registration_reports_every_broken_rule_by_field() {
        let errors = ClientSettings::parse(ClientRequest {
            name: Some("  ".into()),
            redirect_uris: vec![],
            client_type: Some("secret".into()),
            grant_types: vec!["password".into()],
            ..ClientRequest::default()
        })
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|error| error.field).collect();
        assert_eq!(fields, ["name", "redirect_uris", "type", "grant_types"]);
    }

    #[test]
    fn a_public_client_gets_no_client_credentials_and_defaults_apply() {
        let public = ClientRequest {
            name: Some("SPA".into()),
            redirect_uris: vec!["https://spa.example.com/cb".into()],
            client_type: Some("public".into()),
            grant_types: vec!["client_credentials".into()],
            ..ClientRequest::default()
        };
        assert!(ClientSettings::parse(public.clone()).is_err());
        let settings = ClientSettings::parse(ClientRequest {
            grant_types: vec![],
            ..public
        })
        .unwrap();
        assert_eq!(settings.grant_types, GrantType::DEFAULT);
        assert_eq!(settings.client_type, ClientType::Public);
    }

    #[test]
    fn a_name_that_hides_characters_is_refused() {
        for hiding in [
            "Wiki\u{202E}kiw",
            "Wi\u{200B}ki",
            "Wi\u{2028}ki",
            "\u{FEFF}Wiki",
            "Wi\tki",
        ] {
            let errors = ClientSettings::parse(ClientRequest {
                name: Some(hiding.into()),
                redirect_uris: vec!["https://wiki.example.com/cb".into()],
                ..ClientRequest::default()
            })
            .unwrap_err();
            assert_eq!(errors[0].field, "name", "{hiding:?}");
        }
    }

    #[test]
    fn client_ids_are_url_safe_and_long_enough() {
        assert!(ClientId::parse("abcdefghijklmnopqrstuv").is_some());
        assert!(ClientId::parse("short").is_none());
        assert!(ClientId::parse("abcdefghijklmnopqrstu/").is_none());
    }
}
