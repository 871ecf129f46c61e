//! Roles over HTTP: made, listed, deleted and granted by superusers only; the naming
//! rule; the admin routes' `roles`; access tokens carrying them from the next refresh or
//! sign-in; the account page's list; the audit events with the administrator as actor.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, Tokens, assert_problem, error_fields, spawn_app, user_id,
};
use crate::provider_tokens::claims;
use gatehouse_domain::AuditEventType;

backend_tests!(
    roles_are_made_listed_and_deleted_by_superusers_only,
    a_role_name_that_breaks_the_rule_is_a_422_naming_the_field_and_stores_nothing,
    grants_show_on_the_admin_routes_only_and_are_recorded_once,
    deleting_a_role_takes_it_from_its_members,
    access_tokens_carry_the_roles_from_the_next_refresh_or_sign_in,
    a_superuser_route_never_reads_roles_from_a_token,
    role_changes_need_the_second_factor_of_a_superuser_who_has_one,
    the_account_page_lists_the_roles_read_only,
    the_roles_scope_carries_them_in_id_tokens_client_tokens_and_userinfo,
);

impl TestApp {
    async fn create_role(&self, admin: &str, name: &str) -> reqwest::Response {
        let body = json!({"name": name, "description": format!("The {name} role")});
        self.bearer(Method::POST, "/roles", admin, Some(body)).await
    }

    async fn grant(&self, admin: &str, user: &str, role: &str) -> StatusCode {
        let path = format!("/users/{user}/roles/{role}");
        self.bearer(Method::PUT, &path, admin, None).await.status()
    }

    async fn roles_listed(&self, admin: &str) -> Value {
        let response = self.bearer(Method::GET, "/roles", admin, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The id of the account with address `email`.
    async fn id_of(&self, email: &str) -> String {
        let email = gatehouse_domain::Email::parse(email).unwrap();
        let user = self.users().find_by_email(&email).await.unwrap().unwrap();
        user.id.to_string()
    }

    async fn user_as_admin(&self, admin: &str, id: &str) -> Value {
        let response = self
            .bearer(Method::GET, &format!("/users/{id}"), admin, None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

async fn roles_are_made_listed_and_deleted_by_superusers_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin_id, admin) = app.superuser().await;
    let (_, id, user) = app.logged_in_user().await;
    let grant_path = format!("/users/{id}/roles/staff");
    for (method, path) in [
        (Method::GET, "/roles"),
        (Method::POST, "/roles"),
        (Method::DELETE, "/roles/staff"),
        (Method::PUT, grant_path.as_str()),
        (Method::DELETE, grant_path.as_str()),
    ] {
        let body = (method == Method::POST).then(|| json!({"name": "staff"}));
        let refused = app
            .bearer(method.clone(), path, &user.access, body.clone())
            .await;
        assert_problem(refused, 403, Some("Not enough privileges")).await;
        let mut anonymous = app.client.request(method.clone(), app.url(path));
        if let Some(body) = body {
            anonymous = anonymous.json(&body);
        }
        assert_eq!(anonymous.send().await.unwrap().status(), 401, "{path}");
    }
    assert_eq!(app.roles_listed(&admin.access).await, json!([]));

    let created = app.create_role(&admin.access, "staff").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        created,
        json!({"name": "staff", "description": "The staff role", "members": 0})
    );
    let again = app.create_role(&admin.access, "staff").await;
    assert_problem(again, 409, Some("Role already exists")).await;
    let body = json!({"name": "billing:read"});
    let no_description = app.bearer(Method::POST, "/roles", &admin.access, Some(body));
    assert_eq!(no_description.await.status(), StatusCode::CREATED);
    assert_eq!(
        app.roles_listed(&admin.access).await,
        json!([
            {"name": "billing:read", "description": "", "members": 0},
            {"name": "staff", "description": "The staff role", "members": 0},
        ])
    );

    let gone = app.bearer(Method::DELETE, "/roles/staff", &admin.access, None);
    assert_eq!(gone.await.status(), StatusCode::NO_CONTENT);
    let unknown = app.bearer(Method::DELETE, "/roles/staff", &admin.access, None);
    assert_problem(unknown.await, 404, Some("Role not found")).await;
    let listed = app.roles_listed(&admin.access).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let created_events = app.events_of(AuditEventType::RoleCreated).await;
    assert_eq!(created_events.len(), 2);
    let staff = created_events
        .iter()
        .find(|event| event.details["role"] == "staff")
        .unwrap();
    assert_eq!(
        staff.context.actor_id.map(|actor| actor.to_string()),
        Some(admin_id.clone())
    );
    let deleted = app.events_of(AuditEventType::RoleDeleted).await;
    assert_eq!(deleted.len(), 1, "a refused delete records nothing");
    assert_eq!(deleted[0].details["members"], "0");
    assert_eq!(
        deleted[0].context.actor_id.map(|actor| actor.to_string()),
        Some(admin_id)
    );
}

async fn a_role_name_that_breaks_the_rule_is_a_422_naming_the_field_and_stores_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let too_long = "x".repeat(65);
    for name in [
        "",
        "Admin",
        "a b",
        "röle",
        "a/b",
        " staff",
        too_long.as_str(),
    ] {
        let refused = app.create_role(&admin.access, name).await;
        let body = assert_problem(refused, 422, None).await;
        assert_eq!(error_fields(&body), ["name"], "{name:?}: {body}");
    }
    let body = json!({"description": "no name"});
    let missing = app.bearer(Method::POST, "/roles", &admin.access, Some(body));
    let body = assert_problem(missing.await, 422, None).await;
    assert_eq!(error_fields(&body), ["name"]);
    let body = json!({"name": "Bad", "description": "d".repeat(401)});
    let both = app.bearer(Method::POST, "/roles", &admin.access, Some(body));
    let body = assert_problem(both.await, 422, None).await;
    assert_eq!(error_fields(&body), ["description", "name"]);
    assert_eq!(app.roles_listed(&admin.access).await, json!([]));
    assert!(app.events_of(AuditEventType::RoleCreated).await.is_empty());

    // In a path, a name that breaks the rule names no role that could exist: `Role not
    // found` where the contract answers it for an unknown role, 204 for a revocation.
    let (_, id) = app.registered_user().await;
    for name in ["Bad", too_long.as_str(), "a%20b", "%FF", "r%C3%B6le"] {
        let path = format!("/roles/{name}");
        let refused = app.bearer(Method::DELETE, &path, &admin.access, None).await;
        assert_problem(refused, 404, Some("Role not found")).await;
        let path = format!("/users/{id}/roles/{name}");
        let refused = app.bearer(Method::PUT, &path, &admin.access, None).await;
        assert_problem(refused, 404, Some("Role not found")).await;
        let revoked = app.bearer(Method::DELETE, &path, &admin.access, None).await;
        assert_eq!(revoked.status(), StatusCode::NO_CONTENT, "{name}");
    }
    let unknown_user = format!("/users/{}/roles/Bad", uuid::Uuid::now_v7());
    let refused = app
        .bearer(Method::PUT, &unknown_user, &admin.access, None)
        .await;
    assert_problem(refused, 404, Some("User not found")).await;
    let refused = app
        .bearer(
            Method::PUT,
            "/users/not-a-uuid/roles/staff",
            &admin.access,
            None,
        )
        .await;
    let body = assert_problem(refused, 422, None).await;
    assert_eq!(error_fields(&body), ["id"]);
    for kind in [AuditEventType::RoleGranted, AuditEventType::RoleRevoked] {
        assert!(app.events_of(kind).await.is_empty());
    }
}

async fn grants_show_on_the_admin_routes_only_and_are_recorded_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin_id, admin) = app.superuser().await;
    let (_, id, user) = app.logged_in_user().await;
    for role in ["staff", "billing:read"] {
        assert_eq!(app.create_role(&admin.access, role).await.status(), 201);
    }
    assert_eq!(
        app.user_as_admin(&admin.access, &id).await["roles"],
        json!([])
    );

    assert_eq!(app.grant(&admin.access, &id, "staff").await, 204);
    assert_eq!(app.grant(&admin.access, &id, "staff").await, 204, "held");
    assert_eq!(app.grant(&admin.access, &id, "billing:read").await, 204);
    let unknown_user = uuid::Uuid::now_v7();
    let path = format!("/users/{unknown_user}/roles/staff");
    let refused = app.bearer(Method::PUT, &path, &admin.access, None).await;
    assert_problem(refused, 404, Some("User not found")).await;
    let path = format!("/users/{id}/roles/nobody-made-this");
    let refused = app.bearer(Method::PUT, &path, &admin.access, None).await;
    assert_problem(refused, 404, Some("Role not found")).await;

    let read = app.user_as_admin(&admin.access, &id).await;
    assert_eq!(read["roles"], json!(["billing:read", "staff"]));
    let page = app.bearer(Method::GET, "/users", &admin.access, None).await;
    let page: Value = page.json().await.unwrap();
    let listed = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == id.as_str())
        .unwrap();
    assert_eq!(listed["roles"], json!(["billing:read", "staff"]));
    let admin_listed = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == admin_id.as_str())
        .unwrap();
    assert_eq!(admin_listed["roles"], json!([]));
    let patched = app
        .patch_user(&admin.access, &id, json!({"is_verified": true}))
        .await;
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["roles"], json!(["billing:read", "staff"]));
    // The starter's routes answer as before.
    let me: Value = app.me(&user.access).await.json().await.unwrap();
    assert!(me.get("roles").is_none(), "{me}");
    assert_eq!(
        app.roles_listed(&admin.access).await,
        json!([
            {"name": "billing:read", "description": "The billing:read role", "members": 1},
            {"name": "staff", "description": "The staff role", "members": 1},
        ])
    );

    let path = format!("/users/{id}/roles/staff");
    for _ in 0..2 {
        let revoked = app.bearer(Method::DELETE, &path, &admin.access, None).await;
        assert_eq!(
            revoked.status(),
            StatusCode::NO_CONTENT,
            "not held: 204 too"
        );
    }
    let path = format!("/users/{unknown_user}/roles/staff");
    let refused = app.bearer(Method::DELETE, &path, &admin.access, None).await;
    assert_problem(refused, 404, Some("User not found")).await;
    let read = app.user_as_admin(&admin.access, &id).await;
    assert_eq!(read["roles"], json!(["billing:read"]));

    let granted = app.events_of(AuditEventType::RoleGranted).await;
    assert_eq!(granted.len(), 2, "a role already held records nothing");
    let revoked = app.events_of(AuditEventType::RoleRevoked).await;
    assert_eq!(revoked.len(), 1, "a role not held records nothing");
    for event in granted.iter().chain(&revoked) {
        assert_eq!(event.user_id, Some(user_id(&id)));
        assert_eq!(
            event.context.actor_id.map(|actor| actor.to_string()),
            Some(admin_id.clone())
        );
    }
    assert_eq!(revoked[0].details["role"], "staff");
}

async fn deleting_a_role_takes_it_from_its_members(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (_, first) = app.registered_user().await;
    let (_, second) = app.registered_user().await;
    for role in ["staff", "writer"] {
        assert_eq!(app.create_role(&admin.access, role).await.status(), 201);
    }
    for id in [&first, &second] {
        assert_eq!(app.grant(&admin.access, id, "staff").await, 204);
    }
    assert_eq!(app.grant(&admin.access, &first, "writer").await, 204);
    let gone = app.bearer(Method::DELETE, "/roles/staff", &admin.access, None);
    assert_eq!(gone.await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.user_as_admin(&admin.access, &first).await["roles"],
        json!(["writer"])
    );
    assert_eq!(
        app.user_as_admin(&admin.access, &second).await["roles"],
        json!([])
    );
    let deleted = app.events_of(AuditEventType::RoleDeleted).await;
    assert_eq!(deleted[0].details["members"], "2");
    // Made again, the role starts with no members.
    assert_eq!(app.create_role(&admin.access, "staff").await.status(), 201);
    assert_eq!(
        app.user_as_admin(&admin.access, &second).await["roles"],
        json!([])
    );
}

async fn access_tokens_carry_the_roles_from_the_next_refresh_or_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (email, id, before) = app.logged_in_user().await;
    assert_eq!(claims(&before.access)["roles"], json!([]));
    for role in ["writer", "admin"] {
        assert_eq!(app.create_role(&admin.access, role).await.status(), 201);
        assert_eq!(app.grant(&admin.access, &id, role).await, 204);
    }
    // Tokens already out keep what they carry, and their session goes on.
    assert_eq!(claims(&before.access)["roles"], json!([]));
    assert_eq!(app.me(&before.access).await.status(), StatusCode::OK);

    let refreshed = app.refresh(&before.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = Tokens::from_json(&refreshed.json().await.unwrap());
    assert_eq!(
        claims(&refreshed.access)["roles"],
        json!(["admin", "writer"])
    );
    assert!(claims(&refreshed.refresh).get("roles").is_none());
    let login = app.login(&email, PASSWORD).await;
    let login = Tokens::from_json(&login.json().await.unwrap());
    assert_eq!(claims(&login.access)["roles"], json!(["admin", "writer"]));

    let path = format!("/users/{id}/roles/admin");
    let revoked = app.bearer(Method::DELETE, &path, &admin.access, None).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(claims(&login.access)["roles"], json!(["admin", "writer"]));
    let after = app.refresh(&login.refresh).await;
    let after = Tokens::from_json(&after.json().await.unwrap());
    assert_eq!(claims(&after.access)["roles"], json!(["writer"]));
}

async fn a_superuser_route_never_reads_roles_from_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (_, id, user) = app.logged_in_user().await;
    for role in ["superuser", "admin"] {
        assert_eq!(app.create_role(&admin.access, role).await.status(), 201);
        assert_eq!(app.grant(&admin.access, &id, role).await, 204);
    }
    let refreshed = app.refresh(&user.refresh).await;
    let refreshed = Tokens::from_json(&refreshed.json().await.unwrap());
    assert_eq!(
        claims(&refreshed.access)["roles"],
        json!(["admin", "superuser"])
    );
    for path in ["/users", "/roles", "/audit-events"] {
        let refused = app.bearer(Method::GET, path, &refreshed.access, None).await;
        assert_problem(refused, 403, Some("Not enough privileges")).await;
    }
}

async fn role_changes_need_the_second_factor_of_a_superuser_who_has_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (_, id) = app.registered_user().await;
    assert_eq!(app.create_role(&admin.access, "staff").await.status(), 201);
    app.verify_holder(&admin.access).await;
    app.enrol_totp(&admin.access).await;
    // The token from before the factor is aal1: reading is allowed, changing is not.
    assert_eq!(
        app.roles_listed(&admin.access)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let path = format!("/users/{id}/roles/staff");
    for (method, path, body) in [
        (Method::POST, "/roles", Some(json!({"name": "writer"}))),
        (Method::DELETE, "/roles/staff", None),
        (Method::PUT, path.as_str(), None),
        (Method::DELETE, path.as_str(), None),
    ] {
        let refused = app.bearer(method, path, &admin.access, body).await;
        assert_problem(refused, 403, Some("Stronger authentication required")).await;
    }
    assert!(app.events_of(AuditEventType::RoleGranted).await.is_empty());
}

async fn the_account_page_lists_the_roles_read_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (mut browser, email) = crate::provider_authorize::signed_in_browser(&app).await;
    let page = browser.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.html.contains("Roles"), "no roles, no line");
    let id = app.id_of(&email).await;
    for role in ["writer", "billing:read"] {
        assert_eq!(app.create_role(&admin.access, role).await.status(), 201);
        assert_eq!(app.grant(&admin.access, &id, role).await, 204);
    }
    let page = browser.get("/account").await;
    assert!(
        page.html
            .contains(r#"<span class="label">Roles</span> billing:read, writer"#),
        "{}",
        page.html
    );
    assert!(
        !page.html.contains("/roles"),
        "nothing on the page changes them"
    );
}

async fn the_roles_scope_carries_them_in_id_tokens_client_tokens_and_userinfo(backend: Backend) {
    use crate::provider_authorize::{code_for, signed_in_browser};
    use crate::provider_tokens::{as_client, redeem};

    let app = spawn_app(backend).await;
    let (admin, rp) = app.admin_and_rp(json!({})).await;
    let discovery = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    let discovery: Value = discovery.json().await.unwrap();
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("roles"))
    );
    let (mut browser, email) = signed_in_browser(&app).await;
    let id = app.id_of(&email).await;
    for role in ["wiki:editor", "staff"] {
        assert_eq!(app.create_role(&admin, role).await.status(), 201);
        assert_eq!(app.grant(&admin, &id, role).await, 204);
    }
    let userinfo = async |access: &str| -> Value {
        let response = app
            .client
            .get(app.url("/oauth/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    };

    // Asked for: the consent page says so in words; every token and userinfo carry them.
    let consent = browser
        .get(&crate::provider_authorize::authorize_path(
            &rp,
            &[("scope", "openid roles offline_access")],
        ))
        .await;
    assert!(
        consent
            .html
            .contains("See the roles your account holds here"),
        "{}",
        consent.html
    );
    let code = code_for(
        &mut browser,
        &rp,
        &[("scope", "openid roles offline_access")],
    )
    .await;
    let tokens: Value = redeem(&app, &rp, &code).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(claims(id_token)["roles"], json!(["staff", "wiki:editor"]));
    assert_eq!(claims(access)["roles"], json!(["staff", "wiki:editor"]));
    assert_eq!(
        userinfo(access).await["roles"],
        json!(["staff", "wiki:editor"])
    );

    // A revocation: userinfo answers what is held now; the next refresh carries it.
    let path = format!("/users/{id}/roles/staff");
    let revoked = app.bearer(Method::DELETE, &path, &admin, None).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(userinfo(access).await["roles"], json!(["wiki:editor"]));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let refreshed = as_client(&app, &rp, "/oauth/token", &form).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["roles"], json!(["wiki:editor"]));
    assert_eq!(
        claims(refreshed["id_token"].as_str().unwrap())["roles"],
        json!(["wiki:editor"])
    );
    // Narrowed without `roles`, the refreshed tokens carry none.
    let refresh = refreshed["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("scope", "openid"),
    ];
    let narrowed: Value = as_client(&app, &rp, "/oauth/token", &form)
        .await
        .json()
        .await
        .unwrap();
    let access = narrowed["access_token"].as_str().unwrap();
    assert!(claims(access).get("roles").is_none(), "{}", claims(access));

    // Not asked for: no token and no userinfo answer carries them.
    let code = code_for(&mut browser, &rp, &[("scope", "openid email")]).await;
    let tokens: Value = redeem(&app, &rp, &code).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert!(claims(access).get("roles").is_none());
    assert!(
        claims(tokens["id_token"].as_str().unwrap())
            .get("roles")
            .is_none()
    );
    assert!(userinfo(access).await.get("roles").is_none());
}
