//! What administrators change from the admin pages, over HTTP on every backend: each
//! button goes through the admin API's flow and writes its audit event with the
//! administrator as actor; what cannot be undone is asked again; the last-superuser rule
//! is shown and holds; a change needs a recent sign-in (with the second factor) and a
//! form of this site's own.

use gatehouse_domain::{AuditEventType, NewAuditEvent, RoleName};
use reqwest::StatusCode;

use crate::{
    admin_pages::admin_browser,
    helpers::{Backend, PASSWORD, TestApp, spawn_app, user_id},
};

backend_tests!(
    each_button_of_an_accounts_page_changes_it_as_the_admin_api_does,
    a_deletion_needs_the_accounts_address_typed,
    the_last_superuser_rule_is_shown_and_holds,
);

/// The newest event of `kind`, which must exist.
pub(crate) async fn latest(app: &TestApp, kind: AuditEventType) -> NewAuditEvent {
    let mut events = app.events_of(kind).await;
    assert!(!events.is_empty(), "no {} event", kind.as_str());
    events.remove(0)
}

async fn each_button_of_an_accounts_page_changes_it_as_the_admin_api_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, admin_email) = admin_browser(&app).await;
    let admin_id = app
        .users()
        .find_by_email(&gatehouse_domain::Email::parse(&admin_email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let (email, id, tokens) = app.logged_in_user().await;
    let here = format!("/admin/users/{id}");
    let done = |what: &str| format!("{here}?done={what}");
    let by_admin = |event: &NewAuditEvent| {
        assert_eq!(event.context.actor_id, Some(admin_id), "{event:?}");
        assert_eq!(event.user_id, Some(user_id(&id)), "{event:?}");
    };

    // A role: granted, then revoked.
    let role = RoleName::parse("support").unwrap();
    gatehouse_app::roles::create_role(
        &gatehouse_persistence::RoleRepository::new(app.db.clone()),
        gatehouse_app::roles::RoleActor::CommandLine,
        "support",
        None,
    )
    .await
    .unwrap();
    let granted = browser
        .submit(&here, &format!("{here}/roles"), &[("role", "support")])
        .await;
    assert_eq!(granted.location(), done("granted"), "{}", granted.html);
    let shown = browser.get(&done("granted")).await;
    assert!(shown.html.contains("The role is granted"), "{}", shown.html);
    assert!(shown.html.contains("aria-label=\"Revoke support\""));
    by_admin(&latest(&app, AuditEventType::RoleGranted).await);
    let unknown = browser
        .submit(&here, &format!("{here}/roles"), &[("role", "no-such")])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.html);
    assert!(unknown.html.contains("Role not found"), "{}", unknown.html);
    let revoked = browser
        .submit(
            &here,
            &format!("{here}/roles/revoke"),
            &[("role", "support")],
        )
        .await;
    assert_eq!(revoked.location(), done("revoked"));
    let roles = gatehouse_persistence::RoleRepository::new(app.db.clone());
    assert!(
        !roles
            .held_by(user_id(&id))
            .await
            .unwrap()
            .names()
            .contains(&role.as_str().to_owned())
    );
    by_admin(&latest(&app, AuditEventType::RoleRevoked).await);

    // The account's session, ended.
    let page = browser.get(&here).await;
    let start = page.html.find("/sessions/").expect("an End button") + "/sessions/".len();
    let session = page.html[start..start + 36].to_owned();
    let ended = browser
        .submit(&here, &format!("{here}/sessions/{session}/end"), &[])
        .await;
    assert_eq!(ended.location(), done("ended"));
    assert_eq!(
        app.refresh(&tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let event = latest(&app, AuditEventType::SessionEnded).await;
    by_admin(&event);
    assert_eq!(event.details["reason"], "admin");
    // Another account's session (the administrator's own), named under this account:
    // no such session, and it stays open.
    let own = app
        .codec()
        .verify_session_handle(&browser.cookies["access_token_cookie"])
        .unwrap()
        .session_id;
    let other = browser
        .submit(&here, &format!("{here}/sessions/{own}/end"), &[])
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.html);
    assert!(other.html.contains("This account has no such session"));
    assert_eq!(
        browser.get(&here).await.status,
        StatusCode::OK,
        "still signed in"
    );

    // Marked verified; deactivated (it cannot sign in), then active again.
    let verified = browser
        .submit(&here, &format!("{here}/mark-verified"), &[])
        .await;
    assert_eq!(verified.location(), done("verified"));
    assert!(
        app.users()
            .find_by_id(user_id(&id))
            .await
            .unwrap()
            .unwrap()
            .is_verified
    );
    let deactivated = browser
        .submit(&here, &format!("{here}/deactivate"), &[])
        .await;
    assert_eq!(deactivated.location(), done("deactivated"));
    assert_eq!(
        app.login(&email, PASSWORD).await.status(),
        StatusCode::FORBIDDEN
    );
    let event = latest(&app, AuditEventType::UserUpdated).await;
    by_admin(&event);
    assert_eq!(event.details["fields"], "is_active");
    let page = browser.get(&here).await;
    assert!(
        page.html.contains(">Activate</button>") && !page.html.contains(">Deactivate</button>")
    );
    assert!(
        !page.html.contains(">Send reset link</button>"),
        "no mail goes to a deactivated account"
    );
    let activated = browser
        .submit(&here, &format!("{here}/activate"), &[])
        .await;
    assert_eq!(activated.location(), done("activated"));
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);

    // A reset link, mailed as if its owner had asked.
    let sent = browser
        .submit(&here, &format!("{here}/reset-link"), &[])
        .await;
    assert_eq!(sent.location(), done("reset-link"));
    let mail = app.wait_for_mails(&email, 1).await.remove(0);
    assert!(mail.contains("/reset-password?token="), "{mail}");
    by_admin(&latest(&app, AuditEventType::PasswordResetRequested).await);

    // The second factor: asked again first, and nothing happens until confirmed.
    let tokens =
        crate::helpers::Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    app.enrol_totp(&tokens.access).await;
    let page = browser.get(&here).await;
    assert!(page.html.contains("Authenticator app: on"));
    let asked = browser
        .submit(&here, &format!("{here}/second-factor/reset"), &[])
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.html);
    assert!(
        asked.html.contains("Reset the second factor?"),
        "{}",
        asked.html
    );
    assert!(app.events_of(AuditEventType::MfaReset).await.is_empty());
    let csrf = asked.field("csrf");
    let version = asked.field("version");
    let answer = [
        ("csrf", csrf.as_str()),
        ("confirmed", "yes"),
        ("version", &version),
    ];
    let reset = browser
        .post(&format!("{here}/second-factor/reset"), &answer)
        .await;
    assert_eq!(reset.location(), done("mfa-reset"), "{}", reset.html);
    by_admin(&latest(&app, AuditEventType::MfaReset).await);
    // The same answer again (a reloaded page), once a new factor is set up: no reset.
    let again_tokens =
        crate::helpers::Tokens::from_json(&app.login(&email, PASSWORD).await.json().await.unwrap());
    app.enrol_totp(&again_tokens.access).await;
    let again = browser
        .post(&format!("{here}/second-factor/reset"), &answer)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
    assert!(again.html.contains("nothing was reset"), "{}", again.html);
    assert_eq!(app.events_of(AuditEventType::MfaReset).await.len(), 1);
    assert!(
        browser
            .get(&here)
            .await
            .html
            .contains("Authenticator app: on")
    );
    let answer = [
        ("csrf", csrf.as_str()),
        ("confirmed", "yes"),
        (
            "version",
            &browser
                .submit(&here, &format!("{here}/second-factor/reset"), &[])
                .await
                .field("version"),
        ),
    ];
    let reset = browser
        .post(&format!("{here}/second-factor/reset"), &answer)
        .await;
    assert_eq!(reset.location(), done("mfa-reset"), "{}", reset.html);
    assert!(
        browser
            .get(&here)
            .await
            .html
            .contains("Authenticator app: off")
    );
    assert_eq!(
        app.refresh(&tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn a_deletion_needs_the_accounts_address_typed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, admin_email) = admin_browser(&app).await;
    let (email, id) = app.registered_user().await;
    let here = format!("/admin/users/{id}");
    for wrong in ["", admin_email.as_str(), "someone@example.com"] {
        let refused = browser
            .submit(&here, &format!("{here}/delete"), &[("email", wrong)])
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{wrong:?}: {}",
            refused.html
        );
        assert!(
            refused.html.contains("nothing was deleted"),
            "{}",
            refused.html
        );
        assert!(refused.html.contains(&email), "the account's page again");
    }
    assert!(
        app.users()
            .find_by_id(user_id(&id))
            .await
            .unwrap()
            .is_some()
    );
    assert!(app.events_of(AuditEventType::UserDeleted).await.is_empty());
    let typed = email.to_uppercase();
    let deleted = browser
        .submit(&here, &format!("{here}/delete"), &[("email", &typed)])
        .await;
    assert_eq!(
        deleted.location(),
        "/admin/users?done=deleted",
        "{}",
        deleted.html
    );
    assert!(
        app.users()
            .find_by_id(user_id(&id))
            .await
            .unwrap()
            .is_none()
    );
    let event = latest(&app, AuditEventType::UserDeleted).await;
    assert!(event.context.actor_id.is_some());
    let list = browser.get("/admin/users?done=deleted").await;
    assert!(list.html.contains("The account is deleted"));
    // Its page, and its buttons, are gone.
    assert_eq!(browser.get(&here).await.status, StatusCode::NOT_FOUND);
    let csrf = browser.get("/admin/roles").await.field("csrf");
    let again = browser
        .post(&format!("{here}/deactivate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.html);
}

async fn the_last_superuser_rule_is_shown_and_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, email) = admin_browser(&app).await;
    let me = app
        .users()
        .find_by_email(&gatehouse_domain::Email::parse(&email).unwrap())
        .await
        .unwrap()
        .unwrap();
    let here = format!("/admin/users/{}", me.id);
    let page = browser.get(&here).await;
    assert!(
        page.html.contains("This is the only active superuser"),
        "{}",
        page.html
    );
    assert!(!page.html.contains(">Deactivate</button>") && !page.html.contains(">Delete</button>"));
    // Sent all the same (an old page, a crafted form), both are refused and change nothing.
    for (action, fields) in [
        ("deactivate", vec![]),
        ("delete", vec![("email", email.as_str())]),
    ] {
        let refused = browser
            .submit(&here, &format!("{here}/{action}"), &fields)
            .await;
        assert_eq!(
            refused.status,
            StatusCode::CONFLICT,
            "{action}: {}",
            refused.html
        );
        assert!(
            refused.html.contains("Cannot remove the last superuser"),
            "{}",
            refused.html
        );
    }
    let still = app.users().find_by_id(me.id).await.unwrap().unwrap();
    assert!(still.is_active && still.is_superuser);
    // With a second superuser, the first may go.
    app.superuser().await;
    let page = browser.get(&here).await;
    assert!(!page.html.contains("This is the only active superuser"));
    assert!(page.html.contains(">Deactivate</button>"));
}
