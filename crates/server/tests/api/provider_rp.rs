//! A relying party no one on this project wrote — the `openidconnect` crate — signs a user
//! in through gatehouse's pages: discovery, the code flow with PKCE, the ID token checked
//! against the published keys (signature, issuer, audience, nonce, `at_hash`), userinfo,
//! a refresh with rotation, revocation, and RP-initiated logout.
//!
//! The server's `PUBLIC_URL` is `https://id.example.test` (the library talks to an issuer
//! over HTTPS only); the relying party's HTTP client sends those requests to where the
//! test server listens, and the pages' forms come from a trusted origin
//! (`CORS_ORIGINS`).

use openidconnect::{
    AccessToken, AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, RevocationUrl, Scope, TokenResponse,
    core::{CoreAuthenticationFlow, CoreClient, CoreRevocableToken, CoreUserInfoClaims},
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app_with};
use crate::pages::Browser;
use crate::pages::PAGE_ORIGIN;
use crate::provider_authorize::{answer_consent, unescape_html};

/// The issuer the relying party knows.
const ISSUER: &str = "https://id.example.test";

backend_tests!(a_real_relying_party_signs_in_refreshes_revokes_and_signs_out);

/// An HTTP client for the relying party: the issuer's address becomes the test server's.
fn rp_http(
    app: &TestApp,
) -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>>>,
> {
    let base = app.address.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    move |request: openidconnect::HttpRequest| {
        let (base, http) = (base.clone(), http.clone());
        Box::pin(async move {
            let url = request.uri().to_string().replacen(ISSUER, &base, 1);
            let mut sent = http.request(request.method().clone(), url);
            for (name, value) in request.headers() {
                sent = sent.header(name, value);
            }
            let answer = sent.body(request.body().clone()).send().await?;
            let mut response = http::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            Ok(response.body(answer.bytes().await?.to_vec()).unwrap())
        })
    }
}

async fn a_real_relying_party_signs_in_refreshes_revokes_and_signs_out(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PUBLIC_URL", ISSUER), ("CORS_ORIGINS", PAGE_ORIGIN)],
    )
    .await;
    let (_, rp) = app
        .admin_and_rp(json!({ "post_logout_redirect_uris": ["https://wiki.example.com/bye"] }))
        .await;
    let (email, _) = app.registered_user().await;
    let http = rp_http(&app);
    let metadata = ProviderMetadataWithLogout::discover_async(
        IssuerUrl::new(ISSUER.to_owned()).unwrap(),
        &http,
    )
    .await
    .expect("discovery");
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(rp.redirect.clone()).unwrap())
    .set_revocation_url(RevocationUrl::new(format!("{ISSUER}/oauth/revoke")).unwrap());

    // The browser goes where the relying party sends it, signs in, consents, comes back.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let path = url.as_str().strip_prefix(ISSUER).unwrap().to_owned();
    let mut browser = Browser::new(&app);
    let to_login = browser.get(&path).await;
    let login = browser.get(to_login.location()).await;
    let (csrf, return_to) = (
        login.field("csrf"),
        unescape_html(&login.field("return_to")),
    );
    let signed_in = browser
        .post(
            "/login",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("return_to", &return_to),
            ],
        )
        .await;
    let consent = browser.get(signed_in.location()).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    let back = answer_consent(&mut browser, &consent, "allow").await;
    let query = crate::provider_authorize::redirect_query(&rp, back.location());
    assert_eq!(&query["state"], state.secret());
    assert_eq!(
        query["iss"], ISSUER,
        "RFC 9207: the answer names its issuer"
    );

    // The code for tokens; the ID token as the library checks it.
    let tokens = client
        .exchange_code(AuthorizationCode::new(query["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("a valid ID token");
    assert_eq!(
        claims.email().map(|email| email.as_str()),
        Some(email.as_str())
    );
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    let subject = claims.subject().clone();

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(subject.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(
        info.email().map(|email| email.as_str()),
        Some(email.as_str())
    );

    // A refresh rotates; the old refresh token is dead after it.
    let first = tokens
        .refresh_token()
        .expect("offline_access: a refresh token")
        .clone();
    let renewed = client
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let second = renewed
        .refresh_token()
        .expect("a new refresh token")
        .clone();
    assert_ne!(second.secret(), first.secret());
    let replayed = client
        .exchange_refresh_token(&RefreshToken::new(first.secret().clone()))
        .unwrap()
        .request_async(&http)
        .await;
    assert!(replayed.is_err(), "a replayed refresh token is refused");

    // Revocation through the library; the access token then opens nothing.
    let (_, _, fresh_tokens) = {
        let code_path = {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let (url, _, nonce) = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    CsrfToken::new_random,
                    Nonce::new_random,
                )
                .add_scope(Scope::new("offline_access".into()))
                .set_pkce_challenge(challenge)
                .url();
            (
                url.as_str().strip_prefix(ISSUER).unwrap().to_owned(),
                verifier,
                nonce,
            )
        };
        let (path, verifier, nonce) = code_path;
        let answer = browser.get(&path).await;
        let page = if answer.status == StatusCode::OK {
            answer_consent(&mut browser, &answer, "allow").await
        } else {
            answer
        };
        let code = crate::provider_authorize::redirect_query(&rp, page.location())["code"].clone();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        (path, nonce, tokens)
    };
    client
        .revoke_token(CoreRevocableToken::from(
            fresh_tokens.refresh_token().unwrap().clone(),
        ))
        .unwrap()
        .request_async(&http)
        .await
        .expect("revocation");
    let after: Result<CoreUserInfoClaims, _> = client
        .user_info(
            AccessToken::new(fresh_tokens.access_token().secret().clone()),
            None,
        )
        .unwrap()
        .request_async(&http)
        .await;
    assert!(
        after.is_err(),
        "the revoked grant's access token opens nothing"
    );

    // RP-initiated logout with the ID token as the hint: signed out at once, sent back.
    let logout = openidconnect::LogoutRequest::from(end_session)
        .set_id_token_hint(id_token)
        .set_post_logout_redirect_uri(
            PostLogoutRedirectUrl::new("https://wiki.example.com/bye".into()).unwrap(),
        )
        .set_state(CsrfToken::new("bye-state".into()))
        .http_get_url();
    let path = logout.as_str().strip_prefix(ISSUER).unwrap().to_owned();
    let out = browser.get(&path).await;
    assert_eq!(out.status, StatusCode::FOUND, "{}", out.html);
    assert_eq!(
        out.location(),
        "https://wiki.example.com/bye?state=bye-state"
    );
    assert!(!browser.signed_in());
}
