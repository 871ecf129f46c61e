//! `/oauth/clients`: the administrators' register of the apps gatehouse is the OpenID
//! Provider for, over HTTP; served only when the provider has a key to sign with.

use gatehouse_auth::hash_one_time_token;
use gatehouse_domain::{AuditEventType, ClientId};
use gatehouse_persistence::OauthClientRepository;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TEST_MFA_KEY, TEST_SECRET, TestApp, assert_problem, spawn_app, spawn_app_with,
};

backend_tests!(
    a_superuser_registers_reads_changes_renews_and_deletes_a_client,
    a_change_of_type_takes_the_secret_away_or_makes_a_new_one,
    a_public_client_gets_no_secret_even_when_made_public_meanwhile,
    only_superusers_manage_clients,
    a_registration_that_breaks_the_rules_is_a_422_naming_each_field_and_stores_nothing,
    production_without_a_signing_key_serves_no_client_route,
);

fn wiki() -> Value {
    json!({
        "name": "Wiki",
        "redirect_uris": ["https://wiki.example.com/oidc/callback"],
        "post_logout_redirect_uris": ["https://wiki.example.com/"],
    })
}

impl TestApp {
    async fn stored_client(&self, id: &str) -> Option<gatehouse_persistence::StoredClient> {
        OauthClientRepository::new(self.db.clone())
            .find(&ClientId::parse(id).unwrap())
            .await
            .unwrap()
    }
}

async fn a_superuser_registers_reads_changes_renews_and_deletes_a_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin_id, admin) = app.superuser().await;
    let created = app
        .bearer(Method::POST, "/oauth/clients", &admin.access, Some(wiki()))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let client: Value = created.json().await.unwrap();
    assert_eq!(client["name"], "Wiki");
    assert_eq!(client["type"], "confidential");
    assert_eq!(client["first_party"], false);
    assert_eq!(
        client["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let stored = app.stored_client(&id).await.unwrap();
    assert_eq!(stored.secret_hash.unwrap(), hash_one_time_token(&secret));

    // Read and listed, never with the secret.
    let read = app
        .bearer(
            Method::GET,
            &format!("/oauth/clients/{id}"),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert!(read.get("client_secret").is_none());
    assert_eq!(read["redirect_uris"], client["redirect_uris"]);
    let listed: Value = app
        .bearer(Method::GET, "/oauth/clients", &admin.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret));

    // A change keeps what it does not name.
    let changed = app
        .bearer(
            Method::PATCH,
            &format!("/oauth/clients/{id}"),
            &admin.access,
            Some(json!({"name": "Team wiki", "first_party": true})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["name"], "Team wiki");
    assert_eq!(changed["first_party"], true);
    assert_eq!(changed["redirect_uris"], client["redirect_uris"]);
    assert_eq!(
        app.stored_client(&id).await.unwrap().secret_hash.unwrap(),
        hash_one_time_token(&secret),
        "a change keeps the secret"
    );

    // A new secret replaces the old.
    let renewed = app
        .bearer(
            Method::POST,
            &format!("/oauth/clients/{id}/secret"),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let new_secret = renewed["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(
        app.stored_client(&id).await.unwrap().secret_hash.unwrap(),
        hash_one_time_token(new_secret)
    );

    let deleted = app
        .bearer(
            Method::DELETE,
            &format!("/oauth/clients/{id}"),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app
        .bearer(
            Method::GET,
            &format!("/oauth/clients/{id}"),
            &admin.access,
            None,
        )
        .await;
    assert_problem(gone, 404, Some("Client not found")).await;

    // Every change recorded, with the administrator as the actor and no secret.
    for kind in [
        AuditEventType::OauthClientCreated,
        AuditEventType::OauthClientUpdated,
        AuditEventType::OauthClientDeleted,
    ] {
        let events = app.events_of(kind).await;
        assert!(!events.is_empty(), "{kind:?}");
        for event in &events {
            assert_eq!(event.details["client_id"], id);
            assert_eq!(
                event.context.actor_id.map(|a| a.to_string()),
                Some(admin_id.clone())
            );
            assert!(!format!("{event:?}").contains(&secret));
        }
    }
    let updated = app.events_of(AuditEventType::OauthClientUpdated).await;
    let fields: Vec<&str> = updated
        .iter()
        .map(|event| event.details["fields"].as_str())
        .collect();
    assert_eq!(fields, ["secret", "name,first_party"], "newest first");
}

async fn a_change_of_type_takes_the_secret_away_or_makes_a_new_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let made: Value = app
        .bearer(Method::POST, "/oauth/clients", &admin.access, Some(wiki()))
        .await
        .json()
        .await
        .unwrap();
    let id = made["client_id"].as_str().unwrap();
    let first_secret = made["client_secret"].as_str().unwrap();
    let path = format!("/oauth/clients/{id}");
    let public = app
        .bearer(
            Method::PATCH,
            &path,
            &admin.access,
            Some(json!({"type": "public"})),
        )
        .await;
    assert_eq!(public.status(), StatusCode::OK);
    let public: Value = public.json().await.unwrap();
    assert!(public.get("client_secret").is_none());
    assert_eq!(
        app.stored_client(id).await.unwrap().secret_hash,
        None,
        "a public client has no secret"
    );

    // Back to confidential: a new secret, in this answer only; the old one never returns.
    let confidential = app
        .bearer(
            Method::PATCH,
            &path,
            &admin.access,
            Some(json!({"type": "confidential"})),
        )
        .await;
    assert_eq!(confidential.status(), StatusCode::OK);
    assert_eq!(confidential.headers()["cache-control"], "no-store");
    let confidential: Value = confidential.json().await.unwrap();
    let second_secret = confidential["client_secret"].as_str().unwrap();
    assert_ne!(second_secret, first_secret);
    let stored = app.stored_client(id).await.unwrap().secret_hash.unwrap();
    assert_eq!(stored, hash_one_time_token(second_secret));
    assert_ne!(stored, hash_one_time_token(first_secret));
    let fields: Vec<String> = app
        .events_of(AuditEventType::OauthClientUpdated)
        .await
        .iter()
        .map(|event| event.details["fields"].clone())
        .collect();
    assert_eq!(fields, ["type,secret", "type,secret"]);
    // Nothing to change: nothing written.
    let same = app
        .bearer(
            Method::PATCH,
            &path,
            &admin.access,
            Some(json!({"name": "Wiki"})),
        )
        .await;
    assert_eq!(same.status(), StatusCode::OK);
    assert_eq!(
        app.events_of(AuditEventType::OauthClientUpdated)
            .await
            .len(),
        2
    );
}

async fn a_public_client_gets_no_secret_even_when_made_public_meanwhile(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let spa = json!({
        "name": "Dashboard",
        "redirect_uris": ["https://dash.example.com/cb"],
        "type": "public",
    });
    let made: Value = app
        .bearer(Method::POST, "/oauth/clients", &admin.access, Some(spa))
        .await
        .json()
        .await
        .unwrap();
    let id = ClientId::parse(made["client_id"].as_str().unwrap()).unwrap();
    // What a renewal that read the client while it was confidential would then write.
    let event = gatehouse_domain::NewAuditEvent::new(
        AuditEventType::OauthClientUpdated,
        None,
        &gatehouse_domain::AuditContext::default(),
        chrono::Utc::now(),
    );
    let written = OauthClientRepository::new(app.db.clone())
        .set_secret(
            &id,
            (&hash_one_time_token("late"), None),
            chrono::Utc::now(),
            &event,
        )
        .await
        .unwrap();
    assert!(!written);
    assert_eq!(
        app.stored_client(id.as_str()).await.unwrap().secret_hash,
        None
    );
    let renewed = app
        .bearer(
            Method::POST,
            &format!("/oauth/clients/{}/secret", id.as_str()),
            &admin.access,
            None,
        )
        .await;
    assert_problem(renewed, 409, Some("A public client has no secret")).await;
}

async fn only_superusers_manage_clients(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, user) = app.logged_in_user().await;
    let (_, _, admin) = app.superuser().await;
    let made: Value = app
        .bearer(Method::POST, "/oauth/clients", &admin.access, Some(wiki()))
        .await
        .json()
        .await
        .unwrap();
    let one = format!("/oauth/clients/{}", made["client_id"].as_str().unwrap());
    let secret = format!("{one}/secret");
    for (method, path, body) in [
        (Method::POST, "/oauth/clients", Some(wiki())),
        (Method::GET, "/oauth/clients", None),
        (Method::GET, one.as_str(), None),
        (Method::PATCH, one.as_str(), Some(json!({"name": "Mine"}))),
        (Method::DELETE, one.as_str(), None),
        (Method::POST, secret.as_str(), None),
    ] {
        let refused = app
            .bearer(method.clone(), path, &user.access, body.clone())
            .await;
        assert_problem(refused, 403, Some("Not enough privileges")).await;
        let mut anonymous = app.client.request(method.clone(), app.url(path));
        if let Some(body) = &body {
            anonymous = anonymous.json(body);
        }
        let anonymous = anonymous.send().await.unwrap();
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    assert_eq!(
        app.events_of(AuditEventType::OauthClientCreated)
            .await
            .len(),
        1
    );
    assert!(
        app.events_of(AuditEventType::OauthClientUpdated)
            .await
            .is_empty()
    );
    assert!(
        app.events_of(AuditEventType::OauthClientDeleted)
            .await
            .is_empty()
    );
}

async fn a_registration_that_breaks_the_rules_is_a_422_naming_each_field_and_stores_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let refused = app
        .bearer(
            Method::POST,
            "/oauth/clients",
            &admin.access,
            Some(json!({
                "name": "",
                "redirect_uris": ["http://wiki.example.com/cb", "https://ok.example.com/cb#frag"],
                "type": "public",
                "grant_types": ["client_credentials", "password"],
            })),
        )
        .await;
    let problem = assert_problem(refused, 422, None).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "redirect_uris",
            "redirect_uris",
            "grant_types",
            "grant_types"
        ],
        "{problem}"
    );
    let listed: Value = app
        .bearer(Method::GET, "/oauth/clients", &admin.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    // A change must keep the rules too, and an unknown client is 404.
    let made: Value = app
        .bearer(Method::POST, "/oauth/clients", &admin.access, Some(wiki()))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/oauth/clients/{}", made["client_id"].as_str().unwrap());
    let refused = app
        .bearer(
            Method::PATCH,
            &path,
            &admin.access,
            Some(json!({"redirect_uris": []})),
        )
        .await;
    assert_problem(
        refused,
        422,
        Some("redirect_uris: at least one is required"),
    )
    .await;
    let unknown = app
        .bearer(
            Method::GET,
            "/oauth/clients/00000000000000000000000000000000",
            &admin.access,
            None,
        )
        .await;
    assert_problem(unknown, 404, Some("Client not found")).await;
}

async fn production_without_a_signing_key_serves_no_client_route(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", TEST_SECRET),
            ("MFA_ENCRYPTION_KEY", TEST_MFA_KEY),
            ("ARGON2_MEMORY_KIB", "19456"),
            ("ARGON2_ITERATIONS", "2"),
        ],
    )
    .await;
    let (_, _, admin) = app.superuser().await;
    let answer = app
        .bearer(Method::POST, "/oauth/clients", &admin.access, Some(wiki()))
        .await;
    assert_problem(answer, 404, None).await;
    let answer = app
        .bearer(Method::GET, "/oauth/clients", &admin.access, None)
        .await;
    assert_problem(answer, 404, None).await;
}
