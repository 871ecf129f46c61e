//! `gatehouse roles …` and `gatehouse users grant|revoke`, as processes against the
//! database a running server uses: the same rules and audit events (`by=cli`) as the
//! admin API, and what they print.

use std::process::Output;

use gatehouse_domain::AuditEventType;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, user_id};

backend_tests!(
    roles_are_made_listed_and_deleted_at_the_command_line,
    accounts_are_granted_and_revoked_roles_at_the_command_line,
    a_command_that_breaks_a_rule_is_one_line_and_changes_nothing,
);

fn run(app: &TestApp, args: &[&str]) -> Output {
    app.command(args, "")
}

fn printed(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned()
}

fn refusal(output: &Output) -> String {
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

async fn roles_are_made_listed_and_deleted_at_the_command_line(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(printed(&run(&app, &["roles", "list"])), "no roles");
    let made = run(
        &app,
        &["roles", "create", "staff", "--description", "The staff"],
    );
    assert_eq!(printed(&made), "created role staff");
    assert_eq!(
        printed(&run(&app, &["roles", "create", "billing:read"])),
        "created role billing:read"
    );
    let (email, id) = app.registered_user().await;
    let granted = run(&app, &["users", "grant", "--email", &email, "staff"]);
    assert_eq!(printed(&granted), format!("granted staff to {email}"));
    assert_eq!(
        printed(&run(&app, &["roles", "list"])),
        "billing:read\t0\nstaff\t1\tThe staff"
    );
    // What the command made, the API shows.
    let (_, _, admin) = app.superuser().await;
    let listed: Value = app
        .bearer(Method::GET, "/roles", &admin.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed[1],
        json!({"name": "staff", "description": "The staff", "members": 1})
    );

    let deleted = run(&app, &["roles", "delete", "staff"]);
    assert_eq!(
        printed(&deleted),
        "deleted role staff; 1 account(s) lost it"
    );
    let user: Value = app
        .bearer(Method::GET, &format!("/users/{id}"), &admin.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["roles"], json!([]));

    let created = app.events_of(AuditEventType::RoleCreated).await;
    let deleted = app.events_of(AuditEventType::RoleDeleted).await;
    assert_eq!((created.len(), deleted.len()), (2, 1));
    for event in created.iter().chain(&deleted) {
        assert_eq!(event.details["by"], "cli");
        assert_eq!(event.context.actor_id, None);
    }
    assert_eq!(deleted[0].details["members"], "1");
}

async fn accounts_are_granted_and_revoked_roles_at_the_command_line(backend: Backend) {
    let app = spawn_app(backend).await;
    printed(&run(&app, &["roles", "create", "staff"]));
    let (email, id) = app.registered_user().await;
    let grant = ["users", "grant", "--email", &email, "staff"];
    assert_eq!(
        printed(&run(&app, &grant)),
        format!("granted staff to {email}")
    );
    assert_eq!(
        printed(&run(&app, &grant)),
        format!("{email} already holds staff")
    );
    let revoke = ["users", "revoke", "--email", &email, "staff"];
    assert_eq!(
        printed(&run(&app, &revoke)),
        format!("revoked staff from {email}")
    );
    assert_eq!(
        printed(&run(&app, &revoke)),
        format!("{email} does not hold staff")
    );
    let granted = app.events_of(AuditEventType::RoleGranted).await;
    let revoked = app.events_of(AuditEventType::RoleRevoked).await;
    assert_eq!((granted.len(), revoked.len()), (1, 1));
    for event in granted.iter().chain(&revoked) {
        assert_eq!(event.user_id, Some(user_id(&id)));
        assert_eq!(event.details["by"], "cli");
        assert_eq!(event.details["role"], "staff");
    }
}

async fn a_command_that_breaks_a_rule_is_one_line_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad = refusal(&run(&app, &["roles", "create", "Staff"]));
    assert!(bad.contains("invalid role: name: must be 1 to 64"), "{bad}");
    printed(&run(&app, &["roles", "create", "staff"]));
    let again = refusal(&run(&app, &["roles", "create", "staff"]));
    assert!(again.contains("role already exists"), "{again}");
    let unknown = refusal(&run(&app, &["roles", "delete", "writer"]));
    assert!(unknown.contains("no such role"), "{unknown}");
    let (email, _) = app.registered_user().await;
    let no_role = refusal(&run(&app, &["users", "grant", "--email", &email, "writer"]));
    assert!(no_role.contains("no such role"), "{no_role}");
    let nobody = refusal(&run(
        &app,
        &["users", "grant", "--email", "nobody@example.com", "staff"],
    ));
    assert!(nobody.contains("no account has the email"), "{nobody}");
    assert_eq!(printed(&run(&app, &["roles", "list"])), "staff\t0");
    assert_eq!(app.events_of(AuditEventType::RoleCreated).await.len(), 1);
    assert!(app.events_of(AuditEventType::RoleGranted).await.is_empty());
}
