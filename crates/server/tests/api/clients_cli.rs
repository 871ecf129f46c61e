//! `gatehouse clients …`: registering the apps gatehouse is the OpenID Provider for, as
//! processes against the database a running server uses.

use std::process::Output;

use gatehouse_auth::hash_one_time_token;
use gatehouse_domain::{AuditEventType, ClientId};
use gatehouse_persistence::OauthClientRepository;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app};

backend_tests!(
    a_confidential_client_is_created_with_a_secret_shown_once_and_stored_as_a_hash,
    a_public_first_party_client_has_no_secret_and_no_client_credentials,
    a_registration_that_breaks_a_rule_is_one_line_and_stores_nothing,
    a_rotated_secret_replaces_the_old_and_a_deleted_client_is_gone,
);

impl TestApp {
    /// Runs `gatehouse clients <args>`; its one line of JSON on success.
    fn clients_command(&self, args: &[&str]) -> (Output, Option<Value>) {
        let mut full = vec!["clients"];
        full.extend_from_slice(args);
        let output = self.command(&full, "");
        let printed = serde_json::from_slice(&output.stdout).ok();
        (output, printed)
    }

    pub(crate) fn clients(&self) -> OauthClientRepository {
        OauthClientRepository::new(self.db.clone())
    }
}

fn created(app: &TestApp, args: &[&str]) -> Value {
    let (output, printed) = app.clients_command(args);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    printed.expect("one JSON object")
}

fn id_of(client: &Value) -> ClientId {
    ClientId::parse(client["client_id"].as_str().unwrap()).unwrap()
}

async fn a_confidential_client_is_created_with_a_secret_shown_once_and_stored_as_a_hash(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let client = created(
        &app,
        &[
            "create",
            "--name",
            "Wiki",
            "--redirect-uri",
            "https://wiki.example.com/oidc/callback",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--post-logout-redirect-uri",
            "https://wiki.example.com/",
            "--client-credentials",
        ],
    );
    assert_eq!(client["name"], "Wiki");
    assert_eq!(client["type"], "confidential");
    assert_eq!(client["first_party"], false);
    assert_eq!(
        client["redirect_uris"],
        serde_json::json!([
            "https://wiki.example.com/oidc/callback",
            "http://127.0.0.1:9000/cb"
        ])
    );
    assert_eq!(
        client["post_logout_redirect_uris"],
        serde_json::json!(["https://wiki.example.com/"])
    );
    assert_eq!(
        client["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    let secret = client["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 64, "256 bits: {secret}");
    let stored = app.clients().find(&id_of(&client)).await.unwrap().unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(hash_one_time_token(secret).as_str())
    );
    // Listed, but its secret never again.
    let (_, listed) = app.clients_command(&["list"]);
    let listed = listed.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["client_id"], client["client_id"]);
    assert!(listed[0].get("client_secret").is_none());
    let events = app.events_of(AuditEventType::OauthClientCreated).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].details["client_id"],
        client["client_id"].as_str().unwrap()
    );
    assert!(
        !format!("{events:?}").contains(secret),
        "no secret in the audit log"
    );
}

async fn a_public_first_party_client_has_no_secret_and_no_client_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    let spa = [
        "create",
        "--name",
        "Dashboard",
        "--redirect-uri",
        "https://dash.example.com/cb",
    ];
    let client = created(&app, &[&spa[..], &["--public", "--first-party"]].concat());
    assert_eq!(client["type"], "public");
    assert_eq!(client["first_party"], true);
    assert!(client.get("client_secret").is_none());
    assert_eq!(
        client["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    let stored = app.clients().find(&id_of(&client)).await.unwrap().unwrap();
    assert_eq!(stored.secret_hash, None);
    // A public client cannot use its own credentials: it has none.
    let (output, _) =
        app.clients_command(&[&spa[..], &["--public", "--client-credentials"]].concat());
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("client_credentials needs a confidential client")
    );
    let (output, _) =
        app.clients_command(&["rotate-secret", client["client_id"].as_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("a public client has no secret"));
}

async fn a_registration_that_breaks_a_rule_is_one_line_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for (uri, reason) in [
        (
            "http://wiki.example.com/cb",
            "redirect_uris: must use https",
        ),
        (
            "https://wiki.example.com/cb#top",
            "redirect_uris: must not have a fragment",
        ),
        ("/cb", "redirect_uris: must be an absolute URL"),
    ] {
        let (output, _) = app.clients_command(&["create", "--name", "Wiki", "--redirect-uri", uri]);
        assert!(!output.status.success(), "{uri}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(reason), "{uri}: {stderr}");
    }
    assert!(app.clients().list().await.unwrap().is_empty());
    assert!(
        app.events_of(AuditEventType::OauthClientCreated)
            .await
            .is_empty()
    );
}

async fn a_rotated_secret_replaces_the_old_and_a_deleted_client_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = created(
        &app,
        &[
            "create",
            "--name",
            "Wiki",
            "--redirect-uri",
            "https://w.example.com/cb",
        ],
    );
    let id = client["client_id"].as_str().unwrap();
    let (output, rotated) = app.clients_command(&["rotate-secret", id]);
    assert!(output.status.success(), "{output:?}");
    let new_secret = rotated.unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_secret, client["client_secret"].as_str().unwrap());
    let stored = app.clients().find(&id_of(&client)).await.unwrap().unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(hash_one_time_token(&new_secret).as_str())
    );
    let updated = app.events_of(AuditEventType::OauthClientUpdated).await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].details["fields"], "secret");

    let (output, deleted) = app.clients_command(&["delete", id]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(deleted.unwrap()["deleted"], id);
    assert!(app.clients().find(&id_of(&client)).await.unwrap().is_none());
    assert_eq!(
        app.events_of(AuditEventType::OauthClientDeleted)
            .await
            .len(),
        1
    );
    let (output, _) = app.clients_command(&["delete", id]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such client"));
}
