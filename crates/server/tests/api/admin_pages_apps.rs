//! The admin pages' roles and apps, over HTTP on every backend: each made, changed and
//! deleted through the admin API's flows, asked again before what cannot be undone, a
//! secret shown once (and not renewed twice by a page sent twice).

use gatehouse_domain::AuditEventType;
use reqwest::StatusCode;

use crate::{
    admin_page_changes::latest,
    admin_pages::admin_browser,
    helpers::{Backend, spawn_app},
};

backend_tests!(
    the_roles_page_makes_and_deletes_roles,
    the_apps_page_registers_apps_and_shows_each_secret_once,
);

async fn the_roles_page_makes_and_deletes_roles(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, _) = admin_browser(&app).await;
    let made = browser
        .submit(
            "/admin/roles",
            "/admin/roles",
            &[("name", "billing:read"), ("description", "Reads invoices")],
        )
        .await;
    assert_eq!(
        made.location(),
        "/admin/roles?done=created",
        "{}",
        made.html
    );
    let page = browser.get("/admin/roles?done=created").await;
    assert!(page.html.contains("The role is made") && page.html.contains("Reads invoices"));
    let event = latest(&app, AuditEventType::RoleCreated).await;
    assert!(event.context.actor_id.is_some());
    // A name that breaks the rule, and one taken: the form again, saying why, kept.
    let bad = browser
        .submit("/admin/roles", "/admin/roles", &[("name", "Billing Read")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(
        bad.html.contains("name:") && bad.html.contains("value=\"Billing Read\""),
        "{}",
        bad.html
    );
    let taken = browser
        .submit("/admin/roles", "/admin/roles", &[("name", "billing:read")])
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(taken.html.contains("Role already exists"), "{}", taken.html);
    // Deleting asks first.
    let asked = browser
        .submit(
            "/admin/roles",
            "/admin/roles/delete",
            &[("name", "billing:read")],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.html.contains("Delete this role?") && asked.html.contains("billing:read"));
    assert!(app.events_of(AuditEventType::RoleDeleted).await.is_empty());
    let csrf = asked.field("csrf");
    let answer = [
        ("csrf", csrf.as_str()),
        ("confirmed", "yes"),
        ("name", &asked.field("name")),
    ];
    let deleted = browser.post("/admin/roles/delete", &answer).await;
    assert_eq!(deleted.location(), "/admin/roles?done=deleted");
    assert!(
        browser
            .get("/admin/roles")
            .await
            .html
            .contains("No roles yet")
    );
    latest(&app, AuditEventType::RoleDeleted).await;
    let gone = browser.post("/admin/roles/delete", &answer).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    // A name of dots is a name like any other (it would not survive in a path).
    let dots = browser
        .submit("/admin/roles", "/admin/roles", &[("name", "..")])
        .await;
    assert_eq!(
        dots.location(),
        "/admin/roles?done=created",
        "{}",
        dots.html
    );
    let answer = [
        ("csrf", csrf.as_str()),
        ("confirmed", "yes"),
        ("name", ".."),
    ];
    let deleted = browser.post("/admin/roles/delete", &answer).await;
    assert_eq!(
        deleted.location(),
        "/admin/roles?done=deleted",
        "{}",
        deleted.html
    );
}

async fn the_apps_page_registers_apps_and_shows_each_secret_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, _) = admin_browser(&app).await;
    let fields = [
        ("name", "Wiki"),
        (
            "redirect_uris",
            "https://wiki.example.com/callback\r\nhttp://127.0.0.1:9000/cb",
        ),
        ("client_type", "confidential"),
        ("first_party", "yes"),
    ];
    let registered = browser.submit("/admin/apps", "/admin/apps", &fields).await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.html);
    assert!(registered.html.contains("App registered"));
    let secret_of = |html: &str| {
        let start = html.find("id=\"client-secret\">").expect("a secret shown") + 19;
        html[start..start + 64].to_owned()
    };
    let secret = secret_of(&registered.html);
    let stored = app.clients().list().await.unwrap();
    assert_eq!(stored.len(), 1);
    let client = &stored[0];
    assert!(client.settings.first_party && client.settings.redirect_uris.len() == 2);
    let id = client.id.as_str().to_owned();
    let list = browser.get("/admin/apps").await;
    assert!(list.html.contains(&id) && list.html.contains("Wiki"));
    assert!(!list.html.contains(&secret), "shown once");
    assert!(
        latest(&app, AuditEventType::OauthClientCreated)
            .await
            .context
            .actor_id
            .is_some()
    );

    // A new secret: asked first; the new one differs, shown once.
    let asked = browser
        .submit("/admin/apps", &format!("/admin/apps/{id}/secret"), &[])
        .await;
    assert!(
        asked.html.contains("Give this app a new secret?"),
        "{}",
        asked.html
    );
    let answer = [
        ("csrf", asked.field("csrf")),
        ("confirmed", "yes".to_owned()),
        ("version", asked.field("version")),
    ];
    let answer: Vec<(&str, &str)> = answer.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let renewed = browser
        .post(&format!("/admin/apps/{id}/secret"), &answer)
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.html);
    assert_ne!(secret_of(&renewed.html), secret);
    // The same answer again (a reloaded page): no second new secret.
    let again = browser
        .post(&format!("/admin/apps/{id}/secret"), &answer)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
    assert!(again.html.contains("no new secret was made"));
    assert_eq!(
        app.events_of(AuditEventType::OauthClientUpdated)
            .await
            .len(),
        1
    );
    // Two answers to one question at once (a double click, two tabs): one renews.
    let path = format!("/admin/apps/{id}/secret");
    let asked = browser.submit("/admin/apps", &path, &[]).await;
    let answer = [
        ("csrf", asked.field("csrf")),
        ("confirmed", "yes".to_owned()),
        ("version", asked.field("version")),
    ];
    let answer: Vec<(&str, &str)> = answer.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut twin = crate::pages::Browser::new(&app);
    twin.cookies = browser.cookies.clone();
    let (first, second) = tokio::join!(browser.post(&path, &answer), twin.post(&path, &answer));
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    // Whichever order they come in: the renewal itself writes only over the secret asked
    // about.
    let stale = gatehouse_app::clients::renew_secret_replacing(
        &app.clients(),
        &gatehouse_domain::AuditContext::default(),
        &gatehouse_domain::ClientId::parse(&id).unwrap(),
        "the hash of a secret renewed meanwhile",
    )
    .await;
    assert!(
        matches!(
            stale,
            Err(gatehouse_app::clients::ClientError::SecretChanged)
        ),
        "{stale:?}"
    );
    assert_eq!(
        app.events_of(AuditEventType::OauthClientUpdated)
            .await
            .len(),
        2
    );

    // A registration that breaks the rules: the form again, saying why.
    let bad = browser
        .submit(
            "/admin/apps",
            "/admin/apps",
            &[("name", "Bad"), ("redirect_uris", "javascript:alert(1)")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(
        bad.html
            .contains("role=\"alert\" id=\"form-problem\">redirect_uris"),
        "{}",
        bad.html
    );
    assert_eq!(
        app.clients().list().await.unwrap().len(),
        1,
        "nothing registered"
    );
    // A public app has no secret.
    let public = browser
        .submit(
            "/admin/apps",
            "/admin/apps",
            &[
                ("name", "Phone"),
                ("redirect_uris", "http://127.0.0.1:7000/cb"),
                ("client_type", "public"),
            ],
        )
        .await;
    assert!(
        public.html.contains("A public app has no secret"),
        "{}",
        public.html
    );

    // Deleting asks first.
    let asked = browser
        .submit("/admin/apps", &format!("/admin/apps/{id}/delete"), &[])
        .await;
    assert!(asked.html.contains("Delete this app?"));
    assert_eq!(app.clients().list().await.unwrap().len(), 2);
    let deleted = browser
        .post(
            &format!("/admin/apps/{id}/delete"),
            &[("csrf", &asked.field("csrf")), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(deleted.location(), "/admin/apps?done=deleted");
    assert_eq!(app.clients().list().await.unwrap().len(), 1);
    latest(&app, AuditEventType::OauthClientDeleted).await;
    let unknown = browser
        .submit("/admin/apps", "/admin/apps/nonexistent/delete", &[])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
