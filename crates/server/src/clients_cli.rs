//! `gatehouse clients …`: registering the apps that sign their users in through
//! gatehouse, straight against the database, through the same flow as the admin API.

use std::io::Write;

use anyhow::Context;
use gatehouse_app::clients::{
    ClientError, ClientSecret, delete_client, register_client, renew_secret,
};
use gatehouse_domain::{
    AuditContext, ClientId, ClientRequest, GrantType, OauthClient, RedirectUri,
};
use gatehouse_persistence::OauthClientRepository;
use serde_json::{Value, json};

use crate::{Settings, cli::ClientsAction, database::prepare_database};

/// Runs one client action; prints its result as one line of JSON.
pub async fn run(action: ClientsAction, settings: &Settings) -> anyhow::Result<()> {
    let clients = OauthClientRepository::new(prepare_database(settings).await?);
    // The command acts for an operator: no account of the service is the actor.
    let cli = AuditContext::default();
    let printed = match action {
        ClientsAction::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party,
            client_credentials,
        } => {
            let mut grant_types: Vec<String> = GrantType::DEFAULT
                .iter()
                .map(|grant| grant.as_str().to_owned())
                .collect();
            if client_credentials {
                grant_types.push(GrantType::ClientCredentials.as_str().to_owned());
            }
            let request = ClientRequest {
                name: Some(name),
                redirect_uris,
                post_logout_redirect_uris,
                client_type: Some(if public { "public" } else { "confidential" }.to_owned()),
                first_party,
                grant_types,
            };
            let (client, secret) = register_client(&clients, &cli, request)
                .await
                .map_err(describe)?;
            with_secret(client_json(&client), secret)
        }
        ClientsAction::List => {
            Value::Array(clients.list().await?.iter().map(client_json).collect())
        }
        ClientsAction::Delete { id } => {
            let id = client_id(&id)?;
            delete_client(&clients, &cli, &id).await.map_err(describe)?;
            json!({"deleted": id.as_str()})
        }
        ClientsAction::RotateSecret { id } => {
            let id = client_id(&id)?;
            let secret = renew_secret(&clients, &cli, &id).await.map_err(describe)?;
            with_secret(json!({"client_id": id.as_str()}), Some(secret))
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{printed}").context("cannot write to standard output")?;
    Ok(())
}

/// A client as the admin API shows it.
fn client_json(client: &OauthClient) -> Value {
    let settings = &client.settings;
    json!({
        "client_id": client.id.as_str(),
        "name": settings.name,
        "type": settings.client_type.as_str(),
        "first_party": settings.first_party,
        "redirect_uris": uris(&settings.redirect_uris),
        "post_logout_redirect_uris": uris(&settings.post_logout_redirect_uris),
        "grant_types": settings.grant_types.iter().map(|grant| grant.as_str()).collect::<Vec<_>>(),
        "created_at": client.created_at.to_rfc3339(),
        "updated_at": client.updated_at.to_rfc3339(),
    })
}

fn with_secret(mut printed: Value, secret: Option<ClientSecret>) -> Value {
    if let (Some(secret), Some(object)) = (secret, printed.as_object_mut()) {
        object.insert("client_secret".into(), Value::String(secret.0));
    }
    printed
}

fn client_id(raw: &str) -> anyhow::Result<ClientId> {
    ClientId::parse(raw).with_context(|| format!("{raw:?} is not a client id"))
}

fn uris(list: &[RedirectUri]) -> Vec<&str> {
    list.iter().map(RedirectUri::as_str).collect()
}

/// The refusal in words an operator can act on.
fn describe(error: ClientError) -> anyhow::Error {
    match error {
        ClientError::Invalid(errors) => {
            let reasons: Vec<String> = errors
                .iter()
                .map(|error| format!("{}: {}", error.field, error.reason))
                .collect();
            anyhow::anyhow!("invalid client: {}", reasons.join("; "))
        }
        ClientError::NotFound => anyhow::anyhow!("no such client"),
        ClientError::NoSecret => anyhow::anyhow!("a public client has no secret"),
        ClientError::SecretChanged => anyhow::anyhow!("the client's secret changed meanwhile"),
        ClientError::Failed(error) => anyhow::Error::new(error),
    }
}
