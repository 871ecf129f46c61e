//! The OpenID Provider's token endpoint and what its tokens open, over HTTP: each grant,
//! each error in OAuth's format, client authentication and its back-off, a replayed code
//! or refresh token revoking what it issued, userinfo, revocation, introspection, and the
//! wall between client tokens and gatehouse's own routes.

use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{Backend, NEW_PASSWORD, PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::provider_authorize::{ISSUER, Rp, VERIFIER, code_for, signed_in_browser};

backend_tests!(
    a_code_becomes_tokens_once_and_its_replay_revokes_them,
    a_code_is_bound_to_its_client_redirect_verifier_and_minute,
    refresh_tokens_rotate_narrow_and_a_replay_ends_the_grant,
    client_credentials_is_for_confidential_clients_that_asked_for_it,
    client_authentication_by_basic_post_or_none_and_its_errors,
    failed_client_authentications_back_off,
    token_endpoint_errors_are_oauth_errors,
    client_tokens_never_open_gatehouse_routes_nor_first_party_tokens_userinfo,
    revocation_and_introspection_follow_their_rfcs,
    signing_out_everywhere_or_a_new_password_ends_every_grant,
    public_clients_pages_get_cors_on_token_userinfo_and_revoke,
);

/// Posts `form` to `path` as `rp`: HTTP Basic for a confidential client, `client_id` in
/// the form for a public one.
pub(crate) async fn as_client(
    app: &TestApp,
    rp: &Rp,
    path: &str,
    form: &[(&str, &str)],
) -> Response {
    let mut request = app.client.post(app.url(path));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match &rp.secret {
        Some(secret) => request = request.basic_auth(&rp.id, Some(secret)),
        None => form.push(("client_id", &rp.id)),
    }
    request.form(&form).send().await.unwrap()
}

/// Redeems `code` as `rp` with the tests' verifier.
pub(crate) async fn redeem(app: &TestApp, rp: &Rp, code: &str) -> Response {
    as_client(
        app,
        rp,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &rp.redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// The claims of a JWT, unverified (the end-to-end tests verify with a real library).
pub(crate) fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn header_of(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

async fn oauth_error(response: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(response.status(), status);
    let cache = response.headers().get(header::CACHE_CONTROL).cloned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        cache.as_ref().map(|value| value.to_str().unwrap()),
        Some("no-store"),
        "{body}"
    );
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

async fn userinfo(app: &TestApp, access: &str) -> Response {
    app.client
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

/// A signed-in browser's tokens for `rp` with `scope`.
pub(crate) async fn tokens_for(app: &TestApp, rp: &Rp, scope: &str) -> (Value, String) {
    let (mut browser, email) = signed_in_browser(app).await;
    let code = code_for(&mut browser, rp, &[("scope", scope), ("nonce", "n-0")]).await;
    let response = redeem(app, rp, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    (response.json().await.unwrap(), email)
}

async fn a_code_becomes_tokens_once_and_its_replay_revokes_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (mut browser, email) = signed_in_browser(&app).await;
    let code = code_for(
        &mut browser,
        &rp,
        &[("scope", "openid email offline_access"), ("nonce", "n-1")],
    )
    .await;
    let response = redeem(&app, &rp, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid email offline_access");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(header_of(access)["typ"], "at+jwt");
    let at = claims(access);
    assert_eq!(
        (
            at["iss"].as_str(),
            at["aud"].as_str(),
            at["client_id"].as_str()
        ),
        (Some(ISSUER), Some(rp.id.as_str()), Some(rp.id.as_str()))
    );
    assert_eq!(at["scope"], "openid email offline_access");
    for claim in ["sub", "jti", "iat", "exp", "sid"] {
        assert!(!at[claim].is_null(), "access token {claim}");
    }
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["aud"], rp.id);
    assert_eq!(id["azp"], rp.id);
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["sub"], at["sub"]);
    assert_eq!(id["sid"], at["sid"]);
    assert_eq!(id["acr"], "aal1");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["email"], email);
    assert_eq!(id["email_verified"], false);
    for claim in ["exp", "iat", "auth_time", "at_hash"] {
        assert!(!id[claim].is_null(), "id token {claim}");
    }
    assert!(tokens["refresh_token"].is_string());
    let info = userinfo(&app, access).await;
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], at["sub"]);
    assert_eq!(info["email"], email);

    // The replay: refused, and what the code issued stops working.
    let replay = redeem(&app, &rp, &code).await;
    oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        userinfo(&app, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = as_client(
        &app,
        &rp,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    oauth_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let events = app
        .events_of(gatehouse_domain::AuditEventType::OauthCodeReused)
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["client_id"], rp.id);

    // Without openid: no ID token; without offline_access: no refresh token.
    let code = code_for(&mut browser, &rp, &[("scope", "email")]).await;
    let bare: Value = redeem(&app, &rp, &code).await.json().await.unwrap();
    assert!(
        bare.get("id_token").is_none() && bare.get("refresh_token").is_none(),
        "{bare}"
    );
    assert_eq!(
        userinfo(&app, bare["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

async fn a_code_is_bound_to_its_client_redirect_verifier_and_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, rp) = app.admin_and_rp(json!({ "redirect_uris": ["https://wiki.example.com/cb", "https://wiki.example.com/cb2"] })).await;
    let other = app.registered_rp(&admin, json!({ "name": "Other" })).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    let code = code_for(&mut browser, &rp, &[]).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://wiki.example.com/cb"),
        ("code_verifier", VERIFIER),
    ];
    let with = |name: &str, value: &'static str| -> Vec<(&str, &str)> {
        base.iter()
            .map(|(field, current)| {
                if *field == name {
                    (*field, value)
                } else {
                    (*field, *current)
                }
            })
            .collect()
    };
    let wrong_verifier = with(
        "code_verifier",
        "wrong-verifier-wrong-verifier-wrong-verifier-0",
    );
    oauth_error(
        as_client(&app, &rp, "/oauth/token", &wrong_verifier).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let wrong_redirect = with("redirect_uri", "https://wiki.example.com/cb2");
    oauth_error(
        as_client(&app, &rp, "/oauth/token", &wrong_redirect).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    oauth_error(
        as_client(&app, &other, "/oauth/token", &base).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // None of those used it up: the client it belongs to still redeems it.
    assert_eq!(
        as_client(&app, &rp, "/oauth/token", &base).await.status(),
        StatusCode::OK
    );

    // An expired code.
    let code = code_for(&mut browser, &rp, &[]).await;
    use sea_orm::ConnectionTrait;
    let backdate = format!(
        "UPDATE oauth_codes SET expires_at = '2000-01-01 00:00:00' WHERE hash = '{}'",
        gatehouse_auth::hash_one_time_token(&code)
    );
    app.db.execute_unprepared(&backdate).await.unwrap();
    oauth_error(
        redeem(&app, &rp, &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

async fn refresh_tokens_rotate_narrow_and_a_replay_ends_the_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (tokens, _) = tokens_for(&app, &rp, "openid email offline_access").await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let refresh = |token: &str, scope: Option<&str>| {
        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", token.to_owned()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope.to_owned()));
        }
        let app = &app;
        let rp = &rp;
        async move {
            let form: Vec<(&str, &str)> = form
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            as_client(app, rp, "/oauth/token", &form).await
        }
    };
    let wider = refresh(first, Some("openid email profile")).await;
    oauth_error(wider, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let narrowed = refresh(first, Some("openid")).await;
    assert_eq!(narrowed.status(), StatusCode::OK);
    let narrowed: Value = narrowed.json().await.unwrap();
    assert_eq!(narrowed["scope"], "openid");
    assert!(
        claims(narrowed["id_token"].as_str().unwrap())
            .get("email")
            .is_none()
    );
    let second = narrowed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    // The first again: a replay, which ends the grant, the new token with it.
    oauth_error(
        refresh(first, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    oauth_error(
        refresh(&second, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        userinfo(&app, narrowed["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn client_credentials_is_for_confidential_clients_that_asked_for_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, service) = app
        .admin_and_rp(json!({ "grant_types": ["client_credentials"] }))
        .await;
    let plain = app.registered_rp(&admin, json!({})).await;
    let form = [("grant_type", "client_credentials")];
    let granted = as_client(&app, &service, "/oauth/token", &form).await;
    assert_eq!(granted.status(), StatusCode::OK);
    let granted: Value = granted.json().await.unwrap();
    assert_eq!(
        claims(granted["access_token"].as_str().unwrap())["sub"],
        service.id
    );
    assert!(granted.get("id_token").is_none() && granted.get("refresh_token").is_none());
    oauth_error(
        as_client(&app, &plain, "/oauth/token", &form).await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
    )
    .await;
    let scoped = as_client(
        &app,
        &service,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    oauth_error(scoped, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

async fn client_authentication_by_basic_post_or_none_and_its_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, rp) = app.admin_and_rp(json!({})).await;
    let public = app.registered_rp(&admin, json!({ "type": "public" })).await;
    let secret = rp.secret.clone().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "unknown"),
    ];
    // client_secret_post authenticates (and then the grant fails on its own terms).
    let posted = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            form[0],
            form[1],
            ("client_id", &rp.id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(posted, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let wrong = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.id, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"gatehouse\""
    );
    oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong_post = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            form[0],
            form[1],
            ("client_id", &rp.id),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert!(!wrong_post.headers().contains_key(header::WWW_AUTHENTICATE));
    oauth_error(wrong_post, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let no_secret = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[form[0], form[1], ("client_id", &rp.id)])
        .send()
        .await
        .unwrap();
    oauth_error(no_secret, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let nobody = app
        .client
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    oauth_error(nobody, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // A public client names itself; a secret it does not have is no proof.
    let named = as_client(&app, &public, "/oauth/token", &form).await;
    oauth_error(named, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let pretending = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&public.id, Some("guess"))
        .form(&form)
        .send()
        .await
        .unwrap();
    oauth_error(pretending, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Basic with the id and secret form-urlencoded first (RFC 6749 §2.3.1).
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", rp.id, secret));
    let basic = app
        .client
        .post(app.url("/oauth/token"))
        .header(header::AUTHORIZATION, format!("Basic {encoded}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    oauth_error(basic, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn failed_client_authentications_back_off(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("LOGIN_FAILURES_BEFORE_BACKOFF", "3"),
        ],
    )
    .await;
    let (_, rp) = app
        .admin_and_rp(json!({ "grant_types": ["client_credentials"] }))
        .await;
    let form = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        let wrong = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(&rp.id, Some("wrong"))
            .form(&form)
            .send()
            .await
            .unwrap();
        oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    let right = as_client(&app, &rp, "/oauth/token", &form).await;
    assert!(right.headers().contains_key(header::RETRY_AFTER));
    oauth_error(right, StatusCode::TOO_MANY_REQUESTS, "slow_down").await;
}

async fn token_endpoint_errors_are_oauth_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    oauth_error(
        as_client(&app, &rp, "/oauth/token", &[]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    oauth_error(
        as_client(&app, &rp, "/oauth/token", &[("grant_type", "password")]).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    let repeated = as_client(
        &app,
        &rp,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    oauth_error(repeated, StatusCode::BAD_REQUEST, "invalid_request").await;
    let missing = as_client(
        &app,
        &rp,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("redirect_uri", &rp.redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    let json_body = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.id, rp.secret.as_ref())
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;
    let huge = "x".repeat(64 * 1024);
    let too_big = as_client(
        &app,
        &rp,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &huge)],
    )
    .await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

async fn client_tokens_never_open_gatehouse_routes_nor_first_party_tokens_userinfo(
    backend: Backend,
) {
    // The provider signs with the server's own key here: the wall must hold on the claims.
    let keys = format!("{}/tests/fixtures/keys", env!("CARGO_MANIFEST_DIR"));
    let (private, public) = (
        format!("{keys}/es256-private.pem"),
        format!("{keys}/es256-public.pem"),
    );
    let app = spawn_app_with(
        backend,
        &[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_PRIVATE_KEY_FILE", &private),
            ("JWT_PUBLIC_KEY_FILE", &public),
        ],
    )
    .await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (tokens, _) = tokens_for(&app, &rp, "openid email offline_access").await;
    for token in ["access_token", "id_token"] {
        let token = tokens[token].as_str().unwrap();
        assert_eq!(
            app.me(token).await.status(),
            StatusCode::UNAUTHORIZED,
            "{token}"
        );
        let logout = app
            .client
            .post(app.url("/auth/logout-all"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::UNAUTHORIZED);
        let admin = app
            .client
            .get(app.url("/users/00000000-0000-0000-0000-000000000000"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), StatusCode::UNAUTHORIZED);
    }
    let (_, _, first_party) = app.logged_in_user().await;
    assert_eq!(
        userinfo(&app, &first_party.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&app, id_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn revocation_and_introspection_follow_their_rfcs(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, rp) = app.admin_and_rp(json!({})).await;
    let other = app.registered_rp(&admin, json!({ "name": "Other" })).await;
    let public = app
        .registered_rp(&admin, json!({ "type": "public", "first_party": true }))
        .await;
    let (tokens, _) = tokens_for(&app, &rp, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let introspect = |who: &Rp, token: &str| {
        let (app, who, token) = (&app, who.clone(), token.to_owned());
        async move { as_client(app, &who, "/oauth/introspect", &[("token", &token)]).await }
    };
    let live: Value = introspect(&rp, access).await.json().await.unwrap();
    assert_eq!(live["active"], true);
    assert_eq!(live["client_id"], rp.id);
    assert_eq!(live["scope"], "openid offline_access");
    assert_eq!(live["iss"], ISSUER);
    for claim in ["sub", "exp", "iat", "token_type"] {
        assert!(!live[claim].is_null(), "{claim}");
    }
    let live_refresh: Value = introspect(&rp, refresh).await.json().await.unwrap();
    assert_eq!(live_refresh["active"], true);
    let others: Value = introspect(&other, access).await.json().await.unwrap();
    assert_eq!(others, json!({ "active": false }), "another client's token");
    let junk: Value = introspect(&rp, "junk").await.json().await.unwrap();
    assert_eq!(junk, json!({ "active": false }));
    oauth_error(
        introspect(&public, access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;

    // Revocation: another client's attempt changes nothing; unknown tokens are fine.
    assert_eq!(
        as_client(&app, &other, "/oauth/revoke", &[("token", refresh)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        introspect(&rp, refresh)
            .await
            .json::<Value>()
            .await
            .unwrap()["active"],
        true
    );
    assert_eq!(
        as_client(&app, &rp, "/oauth/revoke", &[("token", "unknown")])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        as_client(&app, &rp, "/oauth/revoke", &[("token", refresh)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        introspect(&rp, refresh)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&rp, access).await.json::<Value>().await.unwrap(),
        json!({ "active": false })
    );
    assert_eq!(
        userinfo(&app, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn signing_out_everywhere_or_a_new_password_ends_every_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, rp) = app.admin_and_rp(json!({})).await;
    let (tokens, email) = tokens_for(&app, &rp, "openid offline_access").await;
    let session = app
        .login(&email, PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let access = session["access_token"].as_str().unwrap();
    let ended = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let refresh = as_client(
        &app,
        &rp,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    oauth_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let (tokens, email) = tokens_for(&app, &rp, "openid offline_access").await;
    let session = app
        .login(&email, PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let changed = app
        .client
        .post(app.url("/auth/change-password"))
        .bearer_auth(session["access_token"].as_str().unwrap())
        .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{}", changed.status());
    assert_eq!(
        userinfo(&app, tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn public_clients_pages_get_cors_on_token_userinfo_and_revoke(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.admin_and_rp(json!({})).await;
    let spa = app
        .registered_rp(&admin, json!({ "name": "SPA", "type": "public", "redirect_uris": ["https://spa.example.com/cb"] }))
        .await;
    for path in ["/oauth/token", "/oauth/userinfo", "/oauth/revoke"] {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header(header::ORIGIN, "https://spa.example.com")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(
            preflight.status().is_success(),
            "{path}: {}",
            preflight.status()
        );
        assert_eq!(
            preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://spa.example.com",
            "{path}"
        );
        let foreign = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header(header::ORIGIN, "https://wiki.example.com")
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await
            .unwrap();
        assert!(
            !foreign
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "{path}: a confidential client's origin"
        );
    }
    let token = app
        .client
        .post(app.url("/oauth/token"))
        .header(header::ORIGIN, "https://spa.example.com")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", spa.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        token.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://spa.example.com"
    );
    let info = app
        .client
        .get(app.url("/oauth/userinfo"))
        .header(header::ORIGIN, "https://spa.example.com")
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        info.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://spa.example.com"
    );
    let elsewhere = app
        .client
        .get(app.url("/oauth/userinfo"))
        .header(header::ORIGIN, "https://evil.example.com")
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert!(
        !elsewhere
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
}
