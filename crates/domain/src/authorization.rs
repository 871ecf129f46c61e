//! The OpenID Provider's rules: the scopes a client may ask for, what an authorization
//! request must say (and which of its errors may go back to the client), when consent is
//! asked, what binds an authorization code, and what a grant may issue.

use std::collections::{BTreeSet, HashMap, hash_map::Entry};

use chrono::{DateTime, Duration, Utc};

use crate::{Aal, Assurance, ClientId, GrantId, SessionId, UserId};

/// How long an authorization code can be redeemed.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);
/// The longest `state`, `nonce` or `login_hint` taken.
const MAX_PARAMETER_CHARS: usize = 1024;

/// A scope gatehouse grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// An ID token, userinfo.
    OpenId,
    /// The address and whether it is verified.
    Email,
    /// `preferred_username`.
    Profile,
    /// A refresh token: access while the user is away.
    OfflineAccess,
    /// The roles the account holds (claim `roles`).
    Roles,
}

impl Scope {
    /// Every scope, in the order they are shown.
    pub const ALL: [Scope; 5] = [
        Self::OpenId,
        Self::Email,
        Self::Profile,
        Self::OfflineAccess,
        Self::Roles,
    ];

    /// Its name in `scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenId => "openid",
            Self::Email => "email",
            Self::Profile => "profile",
            Self::OfflineAccess => "offline_access",
            Self::Roles => "roles",
        }
    }

    /// What it lets the client do, in words, for the consent page.
    pub fn in_words(self) -> &'static str {
        match self {
            Self::OpenId => "Know who you are (your account's id)",
            Self::Email => "See your email address and whether it is confirmed",
            Self::Profile => "See your user name",
            Self::OfflineAccess => "Keep this access while you are away",
            Self::Roles => "See the roles your account holds here",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }
}

/// A set of scopes; written space-separated in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// The space-separated `raw`; the first name gatehouse does not grant is the error.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(' ')
            .filter(|name| !name.is_empty())
            .map(|name| Scope::parse(name).ok_or_else(|| name.to_owned()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// Whether every scope of this set is in `other`.
    pub fn is_within(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    /// This set and `other`'s scopes.
    pub fn union(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.union(&other.0).copied().collect())
    }

    /// Whether the set has no scope.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

/// The errors the authorization endpoint sends back to the client's redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationError {
    /// `response_type` is not `code`.
    UnsupportedResponseType,
    /// A parameter is missing, repeated or malformed; says which.
    InvalidRequest(String),
    /// A scope gatehouse does not grant.
    InvalidScope(String),
    /// `prompt=none` and nobody is signed in (or the sign-in is too old).
    LoginRequired,
    /// `prompt=none` and the user would have to consent.
    ConsentRequired,
    /// The user refused.
    AccessDenied,
    /// `acr_values=aal2` for an account without a second factor.
    UnmetAuthenticationRequirements,
}

impl AuthorizationError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidScope(_) => "invalid_scope",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::AccessDenied => "access_denied",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::UnsupportedResponseType => "Only response_type=code is supported".into(),
            Self::InvalidRequest(why) => why.clone(),
            Self::InvalidScope(name) => format!("Unknown scope: {name}"),
            Self::LoginRequired => "The user is not signed in".into(),
            Self::ConsentRequired => "The user has not consented".into(),
            Self::AccessDenied => "The user denied the request".into(),
            Self::UnmetAuthenticationRequirements => {
                "The account has no second factor for aal2".into()
            }
        }
    }
}

/// Why an authorization request cannot even go back to its client: shown as a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UntrustedTarget {
    /// No such client (or no `client_id`, or more than one).
    UnknownClient,
    /// The `redirect_uri` is missing, repeated or not registered for the client.
    UnregisteredRedirect,
}

/// An authorization request's parameters, each once (a repeated one is remembered).
#[derive(Debug, Clone, Default)]
pub struct AuthorizationParameters {
    values: HashMap<String, String>,
    repeated: BTreeSet<String>,
}

impl AuthorizationParameters {
    /// The query's (or form's) name-value pairs, in order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut parameters = Self::default();
        for (name, value) in pairs {
            match parameters.values.entry(name) {
                Entry::Occupied(sent) => {
                    parameters.repeated.insert(sent.key().clone());
                }
                Entry::Vacant(first) => {
                    first.insert(value);
                }
            }
        }
        parameters
    }

    /// The parameter `name`, when it was sent once and is not empty (OAuth treats an empty
    /// parameter as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.repeated.contains(name) {
            return None;
        }
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// The client and redirect URI the request names, when each was sent once.
    pub fn target(&self) -> Result<(ClientId, &str), UntrustedTarget> {
        let client_id = self
            .get("client_id")
            .and_then(ClientId::parse)
            .ok_or(UntrustedTarget::UnknownClient)?;
        let redirect_uri = self
            .get("redirect_uri")
            .ok_or(UntrustedTarget::UnregisteredRedirect)?;
        Ok((client_id, redirect_uri))
    }

    /// `state`, to send back whatever else is wrong (not when repeated or too long).
    pub fn state(&self) -> Option<&str> {
        self.get("state")
            .filter(|state| state.chars().count() <= MAX_PARAMETER_CHARS)
    }

    /// The rest of the request, once its target is trusted.
    pub fn request(&self) -> Result<AuthorizationRequest, AuthorizationError> {
        if let Some(name) = self.repeated.iter().next() {
            return Err(invalid(format!("The parameter {name} is repeated")));
        }
        match self.get("response_type") {
            Some("code") => {}
            Some(_) => return Err(AuthorizationError::UnsupportedResponseType),
            None => return Err(invalid("response_type is missing")),
        }
        let scopes = Scopes::parse(self.get("scope").unwrap_or_default())
            .map_err(AuthorizationError::InvalidScope)?;
        let code_challenge = match (
            self.get("code_challenge"),
            self.get("code_challenge_method"),
        ) {
            (None, _) => return Err(invalid("PKCE is required: code_challenge is missing")),
            (Some(_), Some(method)) if method != "S256" => {
                return Err(invalid("code_challenge_method must be S256"));
            }
            (Some(_), None) => return Err(invalid("code_challenge_method must be S256")),
            (Some(challenge), Some(_)) => CodeChallenge::parse(challenge)
                .ok_or_else(|| invalid("code_challenge is malformed"))?,
        };
        let prompt = Prompt::parse(self.get("prompt").unwrap_or_default())?;
        let max_age = match self.get("max_age") {
            None => None,
            Some(raw) => Some(
                raw.parse::<u32>()
                    .map_err(|_| invalid("max_age must be a number of seconds"))?,
            ),
        };
        let bounded = |name: &'static str| match self.get(name) {
            Some(value) if value.chars().count() > MAX_PARAMETER_CHARS => {
                Err(invalid(format!("{name} is too long")))
            }
            other => Ok(other.map(str::to_owned)),
        };
        Ok(AuthorizationRequest {
            scopes,
            state: bounded("state")?,
            nonce: bounded("nonce")?,
            code_challenge,
            prompt,
            max_age,
            login_hint: bounded("login_hint")?,
            wants_aal2: self
                .get("acr_values")
                .is_some_and(|values| values.split(' ').any(|value| value == "aal2")),
        })
    }
}

fn invalid(why: impl Into<String>) -> AuthorizationError {
    AuthorizationError::InvalidRequest(why.into())
}

/// What `prompt` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: the user must not be asked anything.
    pub none: bool,
    /// `login`: sign in again.
    pub login: bool,
    /// `consent`: ask for consent again.
    pub consent: bool,
}

impl Prompt {
    fn parse(raw: &str) -> Result<Self, AuthorizationError> {
        let mut prompt = Self::default();
        for value in raw.split(' ').filter(|value| !value.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                // One account per browser: there is nothing to select.
                "select_account" => {}
                other => return Err(invalid(format!("Unsupported prompt: {other}"))),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(invalid("prompt=none cannot be combined with another value"));
        }
        Ok(prompt)
    }
}

/// A PKCE `S256` challenge: the base64url SHA-256 of the verifier, 43 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// `raw`, when it can be an S256 challenge.
    pub fn parse(raw: &str) -> Option<Self> {
        let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        (raw.len() == 43 && raw.chars().all(base64url)).then(|| Self(raw.to_owned()))
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `verifier` is a PKCE code verifier (RFC 7636 §4.1: 43–128 unreserved
/// characters).
pub fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
}

/// A valid authorization request, once its client and redirect URI are trusted.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// What the client asks for.
    pub scopes: Scopes,
    /// Sent back as it came.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// PKCE.
    pub code_challenge: CodeChallenge,
    /// `prompt`.
    pub prompt: Prompt,
    /// The oldest sign-in accepted, in seconds.
    pub max_age: Option<u32>,
    /// Fills the sign-in page's `Email`.
    pub login_hint: Option<String>,
    /// `acr_values` has `aal2`.
    pub wants_aal2: bool,
}

impl AuthorizationRequest {
    /// Whether a browser session signed in at `signed_in_at` with `assurance` must sign
    /// in again for this request: `prompt=login` (once: the caller drops it after the
    /// sign-in it asked for), a sign-in older than `max_age`, or `aal2` asked of a
    /// session without it when the account has a second factor to give.
    pub fn needs_sign_in(
        &self,
        signed_in_at: DateTime<Utc>,
        assurance: &Assurance,
        has_second_factor: bool,
        now: DateTime<Utc>,
    ) -> bool {
        let too_old = self
            .max_age
            .is_some_and(|max_age| now - signed_in_at > Duration::seconds(i64::from(max_age)));
        let weaker = self.wants_aal2 && assurance.aal() == Aal::Aal1 && has_second_factor;
        self.prompt.login || too_old || weaker
    }

    /// Whether the user must be asked: a client that is not first-party, when a scope was
    /// never granted to it or `prompt=consent`.
    pub fn needs_consent(&self, first_party: bool, granted: Option<&Scopes>) -> bool {
        if first_party {
            return false;
        }
        self.prompt.consent || !granted.is_some_and(|granted| self.scopes.is_within(granted))
    }
}

/// An authorization code as stored: what it is bound to.
#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    /// The client it was issued to.
    pub client_id: ClientId,
    /// Whose it is.
    pub user_id: UserId,
    /// The browser session it came from (`sid`).
    pub session_id: SessionId,
    /// The redirect URI of the request, string for string.
    pub redirect_uri: String,
    /// PKCE.
    pub code_challenge: CodeChallenge,
    /// The request's nonce, for the ID token.
    pub nonce: Option<String>,
    /// What was granted.
    pub scopes: Scopes,
    /// When the user signed in.
    pub auth_time: DateTime<Utc>,
    /// How.
    pub assurance: Assurance,
    /// After this it is refused.
    pub expires_at: DateTime<Utc>,
}

impl AuthorizationCode {
    /// Whether `client` may redeem it at `now` with `redirect_uri` and a verifier whose
    /// S256 challenge is `verifier_challenge`.
    pub fn redeemable(
        &self,
        client: &ClientId,
        redirect_uri: &str,
        verifier_challenge: &str,
        now: DateTime<Utc>,
    ) -> bool {
        &self.client_id == client
            && self.redirect_uri == redirect_uri
            && self.code_challenge.as_str() == verifier_challenge
            && now < self.expires_at
    }
}

/// What a grant with `scopes` issues besides an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issues {
    /// An ID token (`openid`).
    pub id_token: bool,
    /// A refresh token (`offline_access`, for a client allowed the refresh grant).
    pub refresh_token: bool,
}

impl Issues {
    /// What `scopes` let a client that `may_refresh` have.
    pub fn for_scopes(scopes: &Scopes, may_refresh: bool) -> Self {
        Self {
            id_token: scopes.contains(Scope::OpenId),
            refresh_token: may_refresh && scopes.contains(Scope::OfflineAccess),
        }
    }
}

/// What one redeemed authorization code let a client have.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Its id (in its access tokens' `jti`).
    pub id: GrantId,
    /// The client.
    pub client_id: ClientId,
    /// Whose access it is.
    pub user_id: UserId,
    /// The browser session the code came from (`sid`).
    pub session_id: SessionId,
    /// What it allows.
    pub scopes: Scopes,
    /// When the user signed in.
    pub auth_time: DateTime<Utc>,
    /// How.
    pub assurance: Assurance,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a token of it was last issued.
    pub last_used_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests;
