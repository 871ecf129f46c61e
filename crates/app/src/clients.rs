//! Registering the apps gatehouse signs users in for, by an administrator (the admin API)
//! or an operator (the command line): the same flow, the same rules, the same audit
//! events. A confidential client's secret (256 random bits) is shown once, at creation or
//! renewal, and stored only as its SHA-256.

use chrono::Utc;
use gatehouse_auth::OneTimeToken;
use gatehouse_domain::{
    AuditContext, AuditEventType, ClientId, ClientRequest, ClientSettings, ClientType,
    NewAuditEvent, OauthClient, ValidationError,
};
use gatehouse_persistence::{OauthClientRepository, RepoError, SecretChange};

use crate::error::AppError;

/// Why a client change did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registration breaks the rules; each names its field.
    #[error("invalid client registration")]
    Invalid(Vec<ValidationError>),
    /// No client has this id.
    #[error("client not found")]
    NotFound,
    /// A public client has no secret to renew.
    #[error("a public client has no secret")]
    NoSecret,
    /// The secret was not the one the renewal was asked for: renewed meanwhile.
    #[error("the client's secret changed meanwhile")]
    SecretChanged,
    /// What the flow stands on failed.
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<RepoError> for ClientError {
    fn from(error: RepoError) -> Self {
        Self::Failed(error.into())
    }
}

/// A client's secret, on its way to be shown once; never printed.
pub struct ClientSecret(pub String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

/// Registers a client: its id, and for a confidential client its secret (shown once).
pub async fn register_client(
    clients: &OauthClientRepository,
    context: &AuditContext,
    request: ClientRequest,
) -> Result<(OauthClient, Option<ClientSecret>), ClientError> {
    let settings = ClientSettings::parse(request).map_err(ClientError::Invalid)?;
    let id = new_client_id();
    let secret = (settings.client_type == ClientType::Confidential).then(OneTimeToken::generate);
    let now = Utc::now();
    let event = event(AuditEventType::OauthClientCreated, context, &id)
        .with("name", settings.name.as_str())
        .with("type", settings.client_type.as_str());
    let secret_hash = secret.as_ref().map(|secret| secret.hash.as_str());
    let client = clients
        .create(&id, &settings, secret_hash, now, &event)
        .await?;
    Ok((client, secret.map(|secret| ClientSecret(secret.secret))))
}

/// Replaces `current`'s registration with `request`. A client made public loses its
/// secret; one made confidential gets a new one (shown once, like a renewed one).
/// `oauth.client.updated` names the fields that changed; an unchanged registration
/// writes nothing.
pub async fn update_client(
    clients: &OauthClientRepository,
    context: &AuditContext,
    current: &OauthClient,
    request: ClientRequest,
) -> Result<(OauthClient, Option<ClientSecret>), ClientError> {
    let settings = ClientSettings::parse(request).map_err(ClientError::Invalid)?;
    let mut fields = changed_fields(&current.settings, &settings);
    let new_secret = match (current.settings.client_type, settings.client_type) {
        (ClientType::Public, ClientType::Confidential) => Some(OneTimeToken::generate()),
        _ => None,
    };
    let secret = match (&new_secret, settings.client_type) {
        (Some(secret), _) => SecretChange::Set(&secret.hash),
        (None, ClientType::Public) if current.settings.client_type == ClientType::Confidential => {
            SecretChange::Clear
        }
        (None, _) => SecretChange::Keep,
    };
    if secret != SecretChange::Keep {
        fields.push("secret");
    }
    if fields.is_empty() {
        return Ok((current.clone(), None));
    }
    let id = &current.id;
    let event =
        event(AuditEventType::OauthClientUpdated, context, id).with("fields", fields.join(","));
    let client = clients
        .update(id, &settings, secret, Utc::now(), &event)
        .await?
        .ok_or(ClientError::NotFound)?;
    Ok((client, new_secret.map(|secret| ClientSecret(secret.secret))))
}

/// The names of the registration's fields that differ, as the API spells them.
fn changed_fields(old: &ClientSettings, new: &ClientSettings) -> Vec<&'static str> {
    [
        ("name", old.name != new.name),
        ("redirect_uris", old.redirect_uris != new.redirect_uris),
        (
            "post_logout_redirect_uris",
            old.post_logout_redirect_uris != new.post_logout_redirect_uris,
        ),
        ("type", old.client_type != new.client_type),
        ("first_party", old.first_party != new.first_party),
        ("grant_types", old.grant_types != new.grant_types),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}

/// A new secret for confidential client `id`: the old one stops working at once.
pub async fn renew_secret(
    clients: &OauthClientRepository,
    context: &AuditContext,
    id: &ClientId,
) -> Result<ClientSecret, ClientError> {
    renew(clients, context, id, None).await
}

/// [`renew_secret`], only while the client's stored secret hash is still `replacing`
/// (what the asking page showed a version of): two answers to one question renew once,
/// the other gets [`ClientError::SecretChanged`].
pub async fn renew_secret_replacing(
    clients: &OauthClientRepository,
    context: &AuditContext,
    id: &ClientId,
    replacing: &str,
) -> Result<ClientSecret, ClientError> {
    renew(clients, context, id, Some(replacing)).await
}

async fn renew(
    clients: &OauthClientRepository,
    context: &AuditContext,
    id: &ClientId,
    replacing: Option<&str>,
) -> Result<ClientSecret, ClientError> {
    let stored = clients.find(id).await?.ok_or(ClientError::NotFound)?;
    if stored.client.settings.client_type == ClientType::Public {
        return Err(ClientError::NoSecret);
    }
    let secret = OneTimeToken::generate();
    let event = event(AuditEventType::OauthClientUpdated, context, id).with("fields", "secret");
    let written = clients
        .set_secret(id, (&secret.hash, replacing), Utc::now(), &event)
        .await?;
    match (written, replacing) {
        (true, _) => Ok(ClientSecret(secret.secret)),
        (false, Some(_)) => match clients.find(id).await? {
            Some(_) => Err(ClientError::SecretChanged),
            None => Err(ClientError::NotFound),
        },
        (false, None) => Err(ClientError::NotFound),
    }
}

/// Deletes client `id`.
pub async fn delete_client(
    clients: &OauthClientRepository,
    context: &AuditContext,
    id: &ClientId,
) -> Result<(), ClientError> {
    let event = event(AuditEventType::OauthClientDeleted, context, id);
    if clients.delete(id, &event).await? {
        Ok(())
    } else {
        Err(ClientError::NotFound)
    }
}

/// A new client id: 128 random bits, as 32 hex characters.
fn new_client_id() -> ClientId {
    let random = OneTimeToken::generate().secret;
    // 32 hex characters fit the id's rule; the check is kept against a future change.
    ClientId::parse(&random[..32]).unwrap_or_else(|| unreachable!("hex is URL-safe"))
}

fn event(kind: AuditEventType, context: &AuditContext, id: &ClientId) -> NewAuditEvent {
    NewAuditEvent::new(kind, None, context, Utc::now()).with("client_id", id.as_str())
}
