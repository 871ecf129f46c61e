//! The superuser routes: listing, reading, changing and deleting accounts.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, NEW_PASSWORD, PASSWORD, TestApp, Tokens, assert_problem, assert_session_ended,
    assert_unauthorized, error_fields, spawn_app, user_id,
};

backend_tests!(
    admin_routes_are_403_for_normal_users_and_401_without_a_token,
    users_are_listed_in_creation_order_a_page_at_a_time,
    a_user_is_read_by_id_with_404_and_422_for_bad_ids,
    deactivation_ends_sessions_and_reactivation_lets_the_user_back,
    email_and_password_changes_follow_the_registration_rules,
    the_last_active_superuser_cannot_be_removed,
    two_superusers_demoting_each_other_at_once_leave_one,
    deleting_a_user_ends_their_sessions,
);

impl TestApp {
    /// A logged-in superuser: registered, promoted in the database, logged in.
    pub(crate) async fn superuser(&self) -> (String, String, Tokens) {
        let (email, id) = self.registered_user().await;
        let update = gatehouse_domain::UserUpdate {
            is_superuser: Some(true),
            ..Default::default()
        };
        self.users()
            .update_as_admin(user_id(&id), update, chrono::Utc::now())
            .await
            .unwrap()
            .unwrap();
        let response = self.login(&email, PASSWORD).await;
        (
            email,
            id,
            Tokens::from_json(&response.json().await.unwrap()),
        )
    }

    async fn admin(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn patch_user(&self, token: &str, id: &str, body: Value) -> reqwest::Response {
        self.admin(Method::PATCH, &format!("/users/{id}"), token, Some(body))
            .await
    }
}

async fn admin_routes_are_403_for_normal_users_and_401_without_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, id, tokens) = app.logged_in_user().await;
    let one = format!("/users/{id}");
    for (method, path, body) in [
        (Method::GET, "/users", None),
        (Method::GET, one.as_str(), None),
        (
            Method::PATCH,
            one.as_str(),
            Some(json!({"is_superuser": true})),
        ),
        (Method::DELETE, one.as_str(), None),
    ] {
        let response = app.admin(method.clone(), path, &tokens.access, body).await;
        assert_problem(response, 403, Some("Not enough privileges")).await;
        let anonymous = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_unauthorized(anonymous, false, Some("Not authenticated")).await;
    }
    let me: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["is_superuser"], false, "the PATCH changed nothing");
}

async fn users_are_listed_in_creation_order_a_page_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin_id, admin) = app.superuser().await;
    let mut ids = vec![admin_id];
    for _ in 0..3 {
        ids.push(app.registered_user().await.1);
    }
    let page: Value = app
        .admin(Method::GET, "/users?limit=2&offset=1", &admin.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            page["total"].as_u64(),
            page["limit"].as_u64(),
            page["offset"].as_u64()
        ),
        (Some(4), Some(2), Some(1))
    );
    let listed: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[1].as_str(), ids[2].as_str()]);
    let all: Value = app
        .admin(Method::GET, "/users", &admin.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            all["items"].as_array().unwrap().len(),
            all["limit"].as_u64()
        ),
        (4, Some(50))
    );
    assert!(!all.to_string().contains("argon2"));
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        // Past what the databases' OFFSET takes (found by schemathesis: it was clamped).
        ("offset=9223372036854775808", "offset"),
    ] {
        let response = app
            .admin(Method::GET, &format!("/users?{query}"), &admin.access, None)
            .await;
        let problem = assert_problem(response, 422, None).await;
        assert_eq!(error_fields(&problem), [field], "{query}");
    }
}

async fn a_user_is_read_by_id_with_404_and_422_for_bad_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (email, id) = app.registered_user().await;
    let response = app
        .admin(Method::GET, &format!("/users/{id}"), &admin.access, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(
        (user["id"].as_str(), user["email"].as_str()),
        (Some(id.as_str()), Some(email.as_str()))
    );
    let unknown = format!("/users/{}", uuid::Uuid::new_v4());
    for method in [Method::GET, Method::DELETE] {
        let response = app
            .admin(method.clone(), &unknown, &admin.access, None)
            .await;
        assert_problem(response, 404, Some("User not found")).await;
        let response = app
            .admin(method, "/users/not-a-uuid", &admin.access, None)
            .await;
        let problem = assert_problem(response, 422, None).await;
        assert_eq!(error_fields(&problem), ["id"]);
    }
    let response = app
        .patch_user(
            &admin.access,
            &unknown.replace("/users/", ""),
            json!({"is_active": false}),
        )
        .await;
    assert_problem(response, 404, Some("User not found")).await;
    let response = app
        .admin(Method::PUT, &format!("/users/{id}"), &admin.access, None)
        .await;
    assert_problem(response, 405, None).await;
}

async fn deactivation_ends_sessions_and_reactivation_lets_the_user_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (email, id, tokens) = app.logged_in_user().await;
    let response = app
        .patch_user(&admin.access, &id, json!({"is_active": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["is_active"], false);
    assert_session_ended(app.me(&tokens.access).await).await;
    assert_problem(
        app.login(&email, PASSWORD).await,
        403,
        Some("Inactive user"),
    )
    .await;
    app.patch_user(&admin.access, &id, json!({"is_active": true}))
        .await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

async fn email_and_password_changes_follow_the_registration_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin_email, _, admin) = app.superuser().await;
    let (email, id, tokens) = app.logged_in_user().await;
    app.patch_user(&admin.access, &id, json!({"is_verified": true}))
        .await;
    let response = app
        .patch_user(
            &admin.access,
            &id,
            json!({"email": admin_email.to_uppercase()}),
        )
        .await;
    assert_problem(response, 409, Some("Email already registered")).await;
    for (body, field) in [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"password": "short"}), "password"),
        (json!({"password": email}), "password"),
        (json!({"is_active": "no"}), "is_active"),
    ] {
        let problem = assert_problem(
            app.patch_user(&admin.access, &id, body.clone()).await,
            422,
            None,
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    assert_eq!(
        app.me(&tokens.access).await.status(),
        StatusCode::OK,
        "nothing changed yet"
    );

    let renamed = format!("renamed-{email}");
    let response = app
        .patch_user(
            &admin.access,
            &id,
            json!({"email": renamed, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], renamed);
    assert_eq!(user["is_verified"], false, "a new address is unverified");
    assert_session_ended(app.me(&tokens.access).await).await;
    assert_problem(
        app.login(&email, PASSWORD).await,
        401,
        Some("Invalid credentials"),
    )
    .await;
    assert_eq!(
        app.login(&renamed, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn the_last_active_superuser_cannot_be_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first_id, first) = app.superuser().await;
    for body in [json!({"is_superuser": false}), json!({"is_active": false})] {
        let response = app.patch_user(&first.access, &first_id, body).await;
        assert_problem(response, 409, Some("Cannot remove the last superuser")).await;
    }
    let response = app
        .admin(
            Method::DELETE,
            &format!("/users/{first_id}"),
            &first.access,
            None,
        )
        .await;
    assert_problem(response, 409, Some("Cannot remove the last superuser")).await;
    // With a second active superuser, the first may step down.
    let (_, second_id, second) = app.superuser().await;
    let response = app
        .patch_user(&second.access, &first_id, json!({"is_superuser": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .admin(
            Method::DELETE,
            &format!("/users/{second_id}"),
            &second.access,
            None,
        )
        .await;
    assert_problem(response, 409, Some("Cannot remove the last superuser")).await;
}

async fn two_superusers_demoting_each_other_at_once_leave_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, a_id, a) = app.superuser().await;
    let (_, b_id, b) = app.superuser().await;
    let (a_demotes_b, b_demotes_a) = tokio::join!(
        app.patch_user(&a.access, &b_id, json!({"is_superuser": false})),
        app.patch_user(&b.access, &a_id, json!({"is_superuser": false})),
    );
    let mut statuses = [a_demotes_b.status().as_u16(), b_demotes_a.status().as_u16()];
    statuses.sort_unstable();
    // One wins; the other is refused — by the guard (409), or, when the winner's change
    // came first, because its caller is no longer a superuser (403).
    assert!(
        statuses == [200, 409] || statuses == [200, 403],
        "{statuses:?}"
    );
    let (page, total) = app.users().list(10, 0).await.unwrap();
    let superusers = page.iter().filter(|user| user.is_superuser).count();
    assert_eq!((superusers, total), (1, 2));
}

async fn deleting_a_user_ends_their_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, admin) = app.superuser().await;
    let (email, id, tokens) = app.logged_in_user().await;
    let path = format!("/users/{id}");
    let response = app.admin(Method::DELETE, &path, &admin.access, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(app.me(&tokens.access).await, true, Some("User not found")).await;
    assert_eq!(
        app.refresh(&tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        app.login(&email, PASSWORD).await,
        401,
        Some("Invalid credentials"),
    )
    .await;
    let again = app.admin(Method::DELETE, &path, &admin.access, None).await;
    assert_problem(again, 404, Some("User not found")).await;
}
