//! The token endpoint: client authentication (throttled like passwords) and the three
//! grants — `authorization_code` (with PKCE; a replayed code revokes what it issued),
//! `refresh_token` (rotating; a replayed one revokes its grant) and `client_credentials`.

use chrono::{DateTime, Utc};
use gatehouse_auth::pkce_challenge;
use gatehouse_domain::{
    AuditEventType, ClientId, ClientType, Email, Grant, GrantId, GrantType, HeldRoles, Issues,
    NewAuditEvent, OauthClient, Scope, Scopes, User, UserId, is_code_verifier,
};
use gatehouse_persistence::{NewRefreshToken, RefreshUse, StoredClient, StoredCode};

use super::{OauthError, access_jti, new_secret, signer, stored_form};
use crate::client::Client;
use crate::refusals::SignInError;
use crate::services::Services;
use crate::signin::backoff::PasswordAttempt;

/// How the client said who it is.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// `client_id` (from HTTP Basic or the form).
    pub client_id: Option<String>,
    /// `client_secret` (from HTTP Basic or the form).
    pub secret: Option<String>,
    /// It used `Authorization: Basic`.
    pub basic: bool,
}

/// The token endpoint's form, less the client's authentication.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// `grant_type`.
    pub grant_type: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `code_verifier`.
    pub code_verifier: Option<String>,
    /// `refresh_token`.
    pub refresh_token: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
}

/// A successful answer (RFC 6749 §5.1, OIDC Core 3.1.3.3).
#[derive(Debug, Clone)]
pub struct TokenAnswer {
    /// The access token (a JWT, `typ` `at+jwt`).
    pub access_token: String,
    /// Seconds it lives.
    pub expires_in: i64,
    /// What it allows.
    pub scope: Scopes,
    /// With `openid`.
    pub id_token: Option<String>,
    /// With `offline_access`.
    pub refresh_token: Option<String>,
}

/// Authenticates the client and runs the grant `request` asks for.
pub async fn token(
    services: &Services,
    client: &Client,
    credentials: ClientCredentials,
    request: TokenRequest,
) -> Result<TokenAnswer, OauthError> {
    let grant = match request.grant_type.as_deref() {
        None => return Err(OauthError::InvalidRequest("grant_type is missing")),
        Some(name) => GrantType::parse(name).ok_or(OauthError::UnsupportedGrantType)?,
    };
    let app = authenticate(services, client, &credentials).await?;
    if !app.may_use(grant) {
        return Err(OauthError::UnauthorizedClient);
    }
    match grant {
        GrantType::AuthorizationCode => redeem_code(services, client, &app, request).await,
        GrantType::RefreshToken => refresh(services, &app, request).await,
        GrantType::ClientCredentials => client_credentials(services, &app, request),
    }
}

/// The client `credentials` name, when they prove it: a public client by its id alone,
/// a confidential one by its secret. Failures count toward a back-off per client and
/// network, like a password's.
pub async fn authenticate(
    services: &Services,
    client: &Client,
    credentials: &ClientCredentials,
) -> Result<OauthClient, OauthError> {
    let invalid = OauthError::InvalidClient {
        basic: credentials.basic,
    };
    let Some(id) = credentials.client_id.as_deref().and_then(ClientId::parse) else {
        return Err(invalid);
    };
    let stored = services.oauth_clients.find(&id).await?;
    let Some(secret) = credentials.secret.as_deref() else {
        return match stored {
            Some(StoredClient {
                client,
                secret_hash: None,
            }) if client.settings.client_type == ClientType::Public => Ok(client),
            _ => Err(invalid),
        };
    };
    let key = throttle_key(&id);
    let attempt = PasswordAttempt::begin(services, &key, client)
        .await
        .map_err(|error| match error {
            SignInError::BackedOff { retry_after } => OauthError::BackedOff { retry_after },
            SignInError::Failed(error) => OauthError::Failed(error),
            _ => invalid_client(credentials),
        })?;
    match stored {
        Some(StoredClient {
            client,
            secret_hash: Some(hash),
        }) if hash == stored_form(secret) => {
            attempt.completed().await?;
            Ok(client)
        }
        _ => {
            attempt.failed();
            Err(invalid)
        }
    }
}

fn invalid_client(credentials: &ClientCredentials) -> OauthError {
    OauthError::InvalidClient {
        basic: credentials.basic,
    }
}

/// The back-off's key for a client: the back-off counts by address, and `.invalid` is
/// reserved (RFC 2606), so no account's address is one.
fn throttle_key(id: &ClientId) -> Email {
    Email::parse(&format!("{id}@oauth-client.invalid"))
        .expect("a client id is letters and digits, a valid local part")
}

async fn redeem_code(
    services: &Services,
    client: &Client,
    app: &OauthClient,
    request: TokenRequest,
) -> Result<TokenAnswer, OauthError> {
    let code = request
        .code
        .ok_or(OauthError::InvalidRequest("code is missing"))?;
    let redirect_uri = request
        .redirect_uri
        .ok_or(OauthError::InvalidRequest("redirect_uri is missing"))?;
    let verifier = request
        .code_verifier
        .ok_or(OauthError::InvalidRequest("code_verifier is missing"))?;
    if !is_code_verifier(&verifier) {
        return Err(OauthError::InvalidRequest("code_verifier is malformed"));
    }
    let hash = stored_form(&code);
    let now = Utc::now();
    let bound = match services.oauth_grants.find_code(&hash).await? {
        None => return Err(OauthError::InvalidGrant(INVALID_CODE)),
        Some(StoredCode::Used { grant }) => return Err(reused(services, client, grant, now).await),
        Some(StoredCode::Fresh(bound)) => bound,
    };
    if !bound.redeemable(&app.id, &redirect_uri, &pkce_challenge(&verifier), now) {
        return Err(OauthError::InvalidGrant(INVALID_CODE));
    }
    // Bound to the browser session it came from: signed out there, it opens nothing.
    let session = services.sessions.find(bound.session_id).await?;
    let live =
        session.is_some_and(|session| session.revoked_at.is_none() && session.expires_at > now);
    let user = services.users.find_by_id(bound.user_id).await?;
    let Some(user) = user.filter(|user| user.is_active && live) else {
        return Err(OauthError::InvalidGrant(INVALID_CODE));
    };
    // Read before the code is spent: after that, a failure would leave the client's
    // retry looking like a replay.
    let roles = roles_for(services, user.id, &bound.scopes).await?;
    let grant = Grant {
        id: GrantId::new(),
        client_id: app.id.clone(),
        user_id: bound.user_id,
        session_id: bound.session_id,
        scopes: bound.scopes.clone(),
        auth_time: bound.auth_time,
        assurance: bound.assurance.clone(),
        created_at: now,
        last_used_at: now,
    };
    let issues = Issues::for_scopes(&grant.scopes, app.may_use(GrantType::RefreshToken));
    let refresh = issues.refresh_token.then(new_secret);
    let stored_refresh = refresh.as_ref().map(|(_, hash)| NewRefreshToken {
        hash,
        expires_at: now + services.jwt.refresh_ttl(),
    });
    if !services
        .oauth_grants
        .redeem_code(&hash, &grant, stored_refresh, now)
        .await?
    {
        // Another request redeemed it first: this one is the replay.
        let grant = match services.oauth_grants.find_code(&hash).await? {
            Some(StoredCode::Used { grant }) => grant,
            _ => None,
        };
        return Err(reused(services, client, grant, now).await);
    }
    let account = account_claims(&user, &grant.scopes, roles);
    issue(
        services,
        &grant,
        &grant.scopes,
        bound.nonce.as_deref(),
        account,
        refresh.map(|(token, _)| token),
        now,
    )
}

const INVALID_CODE: &str = "The code is invalid, expired or not this client's";

/// A code presented again: the grant it opened ends, and the event is recorded.
async fn reused(
    services: &Services,
    client: &Client,
    grant: Option<GrantId>,
    now: DateTime<Utc>,
) -> OauthError {
    let Some(grant) = grant else {
        return OauthError::InvalidGrant("The code was already used");
    };
    let revoked = async {
        let found = services.oauth_grants.active_grant(grant).await?;
        let event = NewAuditEvent::new(
            AuditEventType::OauthCodeReused,
            found.as_ref().map(|grant| grant.user_id),
            &client.audit,
            now,
        )
        .with("grant_id", grant.to_string());
        let event = match &found {
            Some(found) => event.with("client_id", found.client_id.as_str()),
            None => event,
        };
        services
            .oauth_grants
            .revoke_grant(grant, now, Some(&event))
            .await
    };
    match revoked.await {
        Ok(_) => OauthError::InvalidGrant("The code was already used"),
        Err(error) => OauthError::from(error),
    }
}

async fn refresh(
    services: &Services,
    app: &OauthClient,
    request: TokenRequest,
) -> Result<TokenAnswer, OauthError> {
    let presented = request
        .refresh_token
        .ok_or(OauthError::InvalidRequest("refresh_token is missing"))?;
    let asked = request
        .scope
        .as_deref()
        .map(Scopes::parse)
        .transpose()
        .map_err(|name| OauthError::InvalidScope(format!("Unknown scope: {name}")))?;
    let hash = stored_form(&presented);
    let invalid = OauthError::InvalidGrant("The refresh token is invalid, expired or revoked");
    let Some(owner) = services.oauth_grants.grant_of_refresh(&hash).await? else {
        return Err(invalid);
    };
    if owner.client_id != app.id {
        return Err(invalid);
    }
    let scopes = match asked {
        Some(asked) if !asked.is_within(&owner.scopes) => {
            return Err(OauthError::InvalidScope(
                "A refresh may only narrow the scope".into(),
            ));
        }
        Some(asked) => asked,
        None => owner.scopes.clone(),
    };
    let roles = roles_for(services, owner.user_id, &scopes).await?;
    let now = Utc::now();
    let (token, next_hash) = new_secret();
    let next = NewRefreshToken {
        hash: &next_hash,
        expires_at: now + services.jwt.refresh_ttl(),
    };
    let grant = match services
        .oauth_grants
        .rotate_refresh(&hash, next, now)
        .await?
    {
        RefreshUse::Rotated(grant) => grant,
        RefreshUse::Replayed(grant) => {
            services
                .oauth_grants
                .revoke_grant(grant.id, now, None)
                .await?;
            return Err(invalid);
        }
        RefreshUse::Unknown => return Err(invalid),
    };
    let user = services.users.find_by_id(grant.user_id).await?;
    let Some(user) = user.filter(|user| user.is_active) else {
        services
            .oauth_grants
            .revoke_grant(grant.id, now, None)
            .await?;
        return Err(invalid);
    };
    let account = account_claims(&user, &scopes, roles);
    issue(services, &grant, &scopes, None, account, Some(token), now)
}

fn client_credentials(
    services: &Services,
    app: &OauthClient,
    request: TokenRequest,
) -> Result<TokenAnswer, OauthError> {
    let scopes = Scopes::parse(request.scope.as_deref().unwrap_or_default())
        .map_err(|name| OauthError::InvalidScope(format!("Unknown scope: {name}")))?;
    if !scopes.is_empty() {
        return Err(OauthError::InvalidScope(
            "client_credentials tokens carry no user scopes".into(),
        ));
    }
    let signer = signer(services)?;
    let now = Utc::now();
    let (random, _) = new_secret();
    let access = signer.issue_access(
        app.id.as_str(),
        &app.id,
        &scopes,
        (format!("client.{}", &random[..32]), None, None),
        now,
    )?;
    Ok(TokenAnswer {
        access_token: access.token,
        expires_in: (access.expires_at - now).num_seconds(),
        scope: scopes,
        id_token: None,
        refresh_token: None,
    })
}

/// What a user's tokens say of the account beyond its id, by the scopes granted: read
/// when they are issued, so a refresh carries the address and roles as they are now.
struct AccountClaims {
    /// With `email`: the address and whether it is verified.
    email: Option<(String, bool)>,
    /// With `roles`: the roles the account holds.
    roles: Option<HeldRoles>,
}

fn account_claims(user: &User, scopes: &Scopes, roles: Option<HeldRoles>) -> AccountClaims {
    AccountClaims {
        email: scopes
            .contains(Scope::Email)
            .then(|| (user.email.as_str().to_owned(), user.is_verified)),
        roles,
    }
}

/// With scope `roles`, the roles account `user_id` holds now: read before a code or
/// refresh token is spent, so that nothing can fail between that and the answer.
async fn roles_for(
    services: &Services,
    user_id: UserId,
    scopes: &Scopes,
) -> Result<Option<HeldRoles>, OauthError> {
    if !scopes.contains(Scope::Roles) {
        return Ok(None);
    }
    Ok(Some(services.roles.held_by(user_id).await?))
}

/// The tokens of `grant` with `scopes` (its own, or fewer on a refresh).
fn issue(
    services: &Services,
    grant: &Grant,
    scopes: &Scopes,
    nonce: Option<&str>,
    account: AccountClaims,
    refresh_token: Option<String>,
    now: DateTime<Utc>,
) -> Result<TokenAnswer, OauthError> {
    let signer = signer(services)?;
    let subject = grant.user_id.to_string();
    let roles = account.roles.as_ref();
    let access = signer.issue_access(
        &subject,
        &grant.client_id,
        scopes,
        (access_jti(grant.id), Some(grant.session_id), roles),
        now,
    )?;
    let id_token = if scopes.contains(Scope::OpenId) {
        Some(
            signer.issue_id_token(
                &gatehouse_auth::IdTokenFacts {
                    subject,
                    client: &grant.client_id,
                    auth_time: grant.auth_time,
                    nonce,
                    session: grant.session_id,
                    assurance: &grant.assurance,
                    access_token: &access.token,
                    email: account
                        .email
                        .as_ref()
                        .map(|(email, verified)| (email.as_str(), *verified)),
                    roles,
                },
                now,
            )?,
        )
    } else {
        None
    };
    Ok(TokenAnswer {
        access_token: access.token,
        expires_in: (access.expires_at - now).num_seconds(),
        scope: scopes.clone(),
        id_token,
        refresh_token,
    })
}
