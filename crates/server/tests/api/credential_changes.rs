//! "A new password or a deactivation ends the sessions" is one transaction wherever it
//! happens (change-password, reset-password, the admin API, the `users` command): a
//! failure while ending the sessions leaves the password and the account as they were.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{Backend, NEW_PASSWORD, PASSWORD, TestApp, spawn_app, token_in};

backend_tests!(a_failure_while_ending_the_sessions_changes_nothing);

/// From now on, any statement that ends a session fails (the database refuses it).
async fn make_session_revocations_fail(app: &TestApp, backend: &Backend) {
    let statements: &[&str] = match backend {
        Backend::Sqlite => &[
            "CREATE TRIGGER fail_revocations BEFORE UPDATE OF revoked_at \
             ON sessions WHEN NEW.revoked_at IS NOT NULL \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        Backend::Postgres(_) => &[
            "CREATE FUNCTION fail_revocations() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.revoked_at IS NOT NULL THEN RAISE EXCEPTION 'injected failure'; \
             END IF; RETURN NEW; END $$",
            "CREATE TRIGGER fail_revocations BEFORE UPDATE ON sessions \
             FOR EACH ROW EXECUTE FUNCTION fail_revocations()",
        ],
        Backend::MySql(_) => &["CREATE TRIGGER fail_revocations BEFORE UPDATE ON sessions \
             FOR EACH ROW BEGIN IF NEW.revoked_at IS NOT NULL THEN \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END"],
    };
    for statement in statements {
        app.db.execute_unprepared(statement).await.unwrap();
    }
}

async fn a_failure_while_ending_the_sessions_changes_nothing(backend: Backend) {
    let app = spawn_app(backend.clone()).await;
    let (_, _, admin) = app.superuser().await;
    let (email, id, tokens) = app.logged_in_user().await;
    // A second session, for change-password to end (it keeps its own).
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    // The reset mail is asked for before the failure is set up.
    let forgot = app
        .post_json("/auth/forgot-password", &json!({"email": email}))
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let reset_token = token_in(&app.wait_for_mails(&email, 1).await[0]);
    make_session_revocations_fail(&app, &backend).await;

    let change = app
        .client
        .post(app.url("/auth/change-password"))
        .bearer_auth(&tokens.access)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    let reset = app
        .post_json(
            "/auth/reset-password",
            &json!({"token": reset_token, "new_password": NEW_PASSWORD}),
        )
        .await;
    let admin_password = app
        .patch_user(&admin.access, &id, json!({"password": NEW_PASSWORD}))
        .await;
    let admin_deactivation = app
        .patch_user(&admin.access, &id, json!({"is_active": false}))
        .await;
    for (what, response) in [
        ("change-password", change),
        ("reset-password", reset),
        ("admin password", admin_password),
        ("admin deactivation", admin_deactivation),
    ] {
        assert!(response.status().is_server_error(), "{what}: {response:?}");
    }
    let set_password =
        app.users_command(&["set-password", "--email", &email], "An0ther-Strong-One\n");
    assert!(!set_password.status.success(), "{set_password:?}");
    let deactivate = app.users_command(&["deactivate", "--email", &email], "");
    assert!(!deactivate.status.success(), "{deactivate:?}");

    // Nothing happened: the old password signs in, the new one does not, the account is
    // active and its session lives.
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
}
