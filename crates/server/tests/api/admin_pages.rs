//! The administrators' pages over HTTP, on every backend: who may see them (a visitor is
//! sent to sign in and back, an account that is no superuser gets a 403 page), the list
//! of accounts (search, 50 a page) and an account's page.

use reqwest::StatusCode;

use crate::{
    helpers::{Backend, PASSWORD, TestApp, spawn_app},
    pages::Browser,
};

backend_tests!(
    a_visitor_is_sent_to_sign_in_and_back,
    an_account_that_is_no_superuser_gets_a_403_page,
    a_superuser_searches_and_pages_through_the_accounts,
    an_accounts_page_shows_its_sessions_factors_and_roles,
    the_audit_page_filters_and_pages_the_events,
);

/// Every admin page: what a visitor and an account that is no superuser are refused.
const ADMIN_PAGES: [&str; 5] = [
    "/admin",
    "/admin/users",
    "/admin/audit",
    "/admin/apps",
    "/admin/roles",
];

/// A browser signed in on the pages as a new superuser; with its email.
pub(crate) async fn admin_browser(app: &TestApp) -> (Browser, String) {
    let (email, _, _) = app.superuser().await;
    let mut browser = Browser::new(app);
    let signed_in = browser.sign_in(&email).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    (browser, email)
}

async fn a_visitor_is_sent_to_sign_in_and_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut browser = Browser::new(&app);
    let (_, id) = app.registered_user().await;
    let mut paths: Vec<String> = ADMIN_PAGES.iter().map(|path| (*path).to_owned()).collect();
    paths.push(format!("/admin/users/{id}"));
    for path in paths {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), format!("/login?return_to={path}"));
    }
    // A search keeps its query on the way.
    let searched = browser.get("/admin/users?q=odd&page=2").await;
    assert_eq!(
        searched.location(),
        "/login?return_to=/admin/users%3Fq%3Dodd%26page%3D2"
    );
    // Signed in as a superuser from there, the browser lands back on the search.
    let (email, _, _) = app.superuser().await;
    let signed_in = browser
        .submit(
            "/login?return_to=/admin/users%3Fq%3Dodd%26page%3D2",
            "/login",
            &[
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("return_to", "/admin/users?q=odd&page=2"),
            ],
        )
        .await;
    assert_eq!(
        signed_in.location(),
        "/admin/users?q=odd&page=2",
        "{}",
        signed_in.html
    );
    assert_eq!(browser.get("/admin/users").await.status, StatusCode::OK);
}

async fn an_account_that_is_no_superuser_gets_a_403_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, id) = app.registered_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email).await;
    let mut paths: Vec<String> = ADMIN_PAGES.iter().map(|path| (*path).to_owned()).collect();
    paths.push(format!("/admin/users/{id}"));
    for path in paths {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.html.contains("Administrators only"), "{}", page.html);
    }
}

async fn a_superuser_searches_and_pages_through_the_accounts(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, admin_email) = admin_browser(&app).await;
    let home = browser.get("/admin").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/admin/users");
    // 54 accounts in all: the administrator, 50 `many-…`, and 3 `odd_one…`.
    for n in 0..50 {
        app.register(&format!("many-{n:02}@example.com"), PASSWORD)
            .await;
    }
    for name in ["odd_one", "odd_two", "oddXone"] {
        app.register(&format!("{name}@example.com"), PASSWORD).await;
    }
    let first = browser.get("/admin/users").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.html.matches("<th scope=\"row\">").count(), 50);
    assert!(first.html.contains("1–50 of 54"), "{}", first.html);
    assert!(first.html.contains(&admin_email), "the oldest first");
    assert!(first.html.contains("href=\"/admin/users?page=2\""));
    assert!(!first.html.contains("Previous page"));
    let second = browser.get("/admin/users?page=2").await;
    assert_eq!(second.html.matches("<th scope=\"row\">").count(), 4);
    assert!(second.html.contains("51–54 of 54"), "{}", second.html);
    // Addresses are stored lower-cased.
    assert!(
        second.html.contains("oddxone@example.com"),
        "{}",
        second.html
    );
    assert!(!second.html.contains("Next page"));
    // The search matches a part of the address, any case; `_` is itself, not a wildcard.
    let found = browser.get("/admin/users?q=ODD_").await;
    assert_eq!(
        found.html.matches("<th scope=\"row\">").count(),
        2,
        "{}",
        found.html
    );
    assert!(found.html.contains("odd_one@example.com") && !found.html.contains("oddxone"));
    for wildcard in ["%25", "!", "%21%25"] {
        let page = browser.get(&format!("/admin/users?q={wildcard}")).await;
        assert!(
            page.html.contains("No account's email contains"),
            "q={wildcard}: {}",
            page.html
        );
    }
    // Nonsense page numbers are the first page; a page past the end lists nothing.
    for nonsense in ["0", "-1", "x", "99999999999999999999"] {
        let page = browser.get(&format!("/admin/users?page={nonsense}")).await;
        assert_eq!(page.status, StatusCode::OK, "page={nonsense}");
        assert!(page.html.contains("1–50 of 54"), "page={nonsense}");
    }
    // Far past the end: no page at all, not a failure (the offset is bounded).
    let far = browser.get("/admin/users?page=18446744073709551615").await;
    assert_eq!(far.status, StatusCode::OK, "{}", far.html);
    assert!(far.html.contains("No account on this page"), "{}", far.html);
    let past = browser.get("/admin/users?page=9").await;
    assert_eq!(past.status, StatusCode::OK);
    assert_eq!(past.html.matches("<th scope=\"row\">").count(), 0);
    assert!(
        past.html.contains("No account on this page"),
        "{}",
        past.html
    );
    assert!(past.html.contains("href=\"/admin/users?page=8\""), "back");
    // What a search echoes is escaped.
    let echoed = browser.get("/admin/users?q=%3Cscript%3E").await;
    assert!(!echoed.html.contains("<script>"), "{}", echoed.html);
    assert!(
        echoed.html.contains("&#60;script&#62;") || echoed.html.contains("&lt;script&gt;"),
        "{}",
        echoed.html
    );
    // Any case, and in any Unicode form: a decomposed "é" finds the stored (composed) one.
    app.register("jos\u{e9}@example.com", PASSWORD).await;
    let accented = browser.get("/admin/users?q=JOSE%CC%81%40").await;
    assert!(
        accented.html.contains("1–1 of 1") && accented.html.contains("jos\u{e9}@example.com"),
        "{}",
        accented.html
    );
}

async fn an_accounts_page_shows_its_sessions_factors_and_roles(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, _) = admin_browser(&app).await;
    let (email, id) = app.registered_user().await;
    app.login(&email, PASSWORD).await;
    let (_, _, admin) = app.superuser().await;
    let made = app
        .client
        .post(app.url("/roles"))
        .bearer_auth(&admin.access)
        .json(&serde_json::json!({"name": "billing:read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let granted = app
        .client
        .put(app.url(&format!("/users/{id}/roles/billing:read")))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert!(granted.status().is_success());

    let page = browser.get(&format!("/admin/users/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    for expected in [
        email.as_str(),
        id.as_str(),
        "not verified",
        "<span class=\"label\">Account</span> active",
        "aria-label=\"Revoke billing:read\"",
        "Authenticator app: off",
        "No passkey.",
    ] {
        assert!(page.html.contains(expected), "{expected}: {}", page.html);
    }
    assert!(!page.html.contains("deactivated"));
    assert_eq!(
        page.html.matches(" · since ").count(),
        1,
        "one open session"
    );
    let listed = browser.get("/admin/users").await;
    assert!(listed.html.contains(&format!("href=\"/admin/users/{id}\"")));

    for unknown in [
        "/admin/users/00000000-0000-0000-0000-000000000000",
        "/admin/users/not-a-uuid",
    ] {
        let page = browser.get(unknown).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{unknown}");
        assert!(page.html.contains("No such account"));
    }
}

async fn the_audit_page_filters_and_pages_the_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut browser, _) = admin_browser(&app).await;
    let (email, id) = app.registered_user().await;
    for _ in 0..55 {
        app.login(&email, "not-the-password").await;
    }
    let all = browser.get("/admin/audit").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.html);
    assert_eq!(all.html.matches("<th scope=\"row\">").count(), 50);
    assert!(
        all.html
            .contains(&format!("href=\"/admin/users/{id}\">{email}</a>")),
        "the account, by address: {}",
        all.html
    );
    // By the account's address: its 55 failures and its registration, over two pages.
    let mine = browser
        .get(&format!("/admin/audit?user={email}&type=login.failed"))
        .await;
    assert_eq!(
        mine.html.matches("login.failed</th>").count(),
        50,
        "{}",
        mine.html
    );
    assert!(!mine.html.contains("user.registered</th>"));
    let start = mine.html.find("href=\"/admin/audit?").unwrap() + 6;
    let older = mine.html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(older.contains("before="), "{older}");
    let rest = browser.get(&older).await;
    assert_eq!(
        rest.html.matches("login.failed</th>").count(),
        5,
        "{}",
        rest.html
    );
    assert!(rest.html.contains("Newest events") && !rest.html.contains("Older events"));
    // By id, and by time: nothing from before an hour ago, everything until a minute on.
    let by_id = browser
        .get(&format!("/admin/audit?user={id}&type=user.registered"))
        .await;
    assert_eq!(
        by_id.html.matches("user.registered</th>").count(),
        1,
        "{}",
        by_id.html
    );
    let later = (chrono::Utc::now() + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M");
    let earlier = (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M");
    let none = browser.get(&format!("/admin/audit?until={earlier}")).await;
    assert!(none.html.contains("No events match"), "{}", none.html);
    let some = browser
        .get(&format!(
            "/admin/audit?since={earlier}&until={later}&type=user.registered"
        ))
        .await;
    assert_eq!(
        some.html.matches("user.registered</th>").count(),
        2,
        "{}",
        some.html
    );
    // Filters that mean nothing: said, not a failure.
    for (query, said) in [
        ("user=nobody%40example.com", "No account has this email"),
        ("user=42", "an email or an account id"),
        ("type=user.exploded", "no event of this type"),
        ("since=yesterday", "From must be a date and time"),
        ("since=%2B20000-01-01T00:00", "From must be a date and time"),
        ("until=-0001-01-01T00:00", "Until must be a date and time"),
    ] {
        let page = browser.get(&format!("/admin/audit?{query}")).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(page.html.contains(said), "{query}: {}", page.html);
    }
    // The ends of what the filters take, on every database.
    let widest = browser
        .get("/admin/audit?since=0001-01-01T00:00&until=9999-12-31T23:59")
        .await;
    assert_eq!(widest.status, StatusCode::OK, "{}", widest.html);
    assert_eq!(widest.html.matches("<th scope=\"row\">").count(), 50);
    // A filter given twice cannot be read: said, not a sign-in.
    let twice = browser.get("/admin/audit?type=a&type=b").await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST, "{}", twice.html);
    assert!(twice.html.contains("could not be read"));
}
