use super::*;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn parameters(pairs: &[(&str, &str)]) -> AuthorizationParameters {
    AuthorizationParameters::from_pairs(
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    )
}

fn good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", "0123456789abcdef0123456789abcdef"),
        ("redirect_uri", "https://app.example.com/cb"),
        ("scope", "openid email"),
        ("state", "s1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

fn with(change: &[(&'static str, &'static str)]) -> AuthorizationParameters {
    let mut pairs: Vec<_> = good()
        .into_iter()
        .filter(|(name, _)| !change.iter().any(|(changed, _)| changed == name))
        .collect();
    pairs.extend(change.iter().filter(|(_, value)| *value != "<absent>"));
    parameters(&pairs)
}

#[test]
fn a_good_request_parses() {
    let request = with(&[]).request().unwrap();
    assert_eq!(request.scopes.to_string(), "openid email");
    assert_eq!(request.state.as_deref(), Some("s1"));
    assert_eq!(request.code_challenge.as_str(), CHALLENGE);
}

#[test]
fn each_broken_rule_has_its_error() {
    let cases: [(&[(&str, &str)], &str); 9] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("response_type", "<absent>")], "invalid_request"),
        (&[("code_challenge", "<absent>")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge_method", "<absent>")], "invalid_request"),
        (&[("code_challenge", "short")], "invalid_request"),
        (&[("scope", "openid admin")], "invalid_scope"),
        (&[("prompt", "none login")], "invalid_request"),
        (&[("max_age", "soon")], "invalid_request"),
    ];
    for (change, code) in cases {
        assert_eq!(
            with(change).request().unwrap_err().code(),
            code,
            "{change:?}"
        );
    }
}

#[test]
fn a_repeated_parameter_is_invalid_and_a_repeated_target_is_untrusted() {
    let mut pairs = good();
    pairs.push(("scope", "openid"));
    assert_eq!(
        parameters(&pairs).request().unwrap_err().code(),
        "invalid_request"
    );
    let mut pairs = good();
    pairs.push(("redirect_uri", "https://evil.example.com/cb"));
    assert_eq!(
        parameters(&pairs).target().unwrap_err(),
        UntrustedTarget::UnregisteredRedirect
    );
    let mut pairs = good();
    pairs.push(("client_id", "0123456789abcdef0123456789abcdee"));
    assert_eq!(
        parameters(&pairs).target().unwrap_err(),
        UntrustedTarget::UnknownClient
    );
}

#[test]
fn consent_is_asked_for_a_new_scope_or_when_prompted_never_of_a_first_party_client() {
    let request = with(&[]).request().unwrap();
    let granted = Scopes::parse("openid email profile").unwrap();
    let less = Scopes::parse("openid").unwrap();
    assert!(!request.needs_consent(false, Some(&granted)));
    assert!(request.needs_consent(false, Some(&less)));
    assert!(request.needs_consent(false, None));
    assert!(!request.needs_consent(true, None));
    let prompted = with(&[("prompt", "consent")]).request().unwrap();
    assert!(prompted.needs_consent(false, Some(&granted)));
}

#[test]
fn a_sign_in_is_asked_again_when_prompted_too_old_or_too_weak() {
    let now = Utc::now();
    let password = Assurance::password();
    let plain = with(&[]).request().unwrap();
    assert!(!plain.needs_sign_in(now - Duration::hours(5), &password, true, now));
    let aged = with(&[("max_age", "60")]).request().unwrap();
    assert!(aged.needs_sign_in(now - Duration::seconds(61), &password, false, now));
    assert!(!aged.needs_sign_in(now - Duration::seconds(30), &password, false, now));
    let aal2 = with(&[("acr_values", "aal2")]).request().unwrap();
    assert!(aal2.needs_sign_in(now, &password, true, now));
    assert!(!aal2.needs_sign_in(now, &password, false, now));
    assert!(
        with(&[("prompt", "login")])
            .request()
            .unwrap()
            .needs_sign_in(now, &password, false, now)
    );
}

#[test]
fn a_code_is_bound_to_its_client_redirect_verifier_and_minute() {
    let now = Utc::now();
    let client = ClientId::parse("0123456789abcdef0123456789abcdef").unwrap();
    let code = AuthorizationCode {
        client_id: client.clone(),
        user_id: UserId::new(),
        session_id: SessionId::new(),
        redirect_uri: "https://app.example.com/cb".into(),
        code_challenge: CodeChallenge::parse(CHALLENGE).unwrap(),
        nonce: None,
        scopes: Scopes::parse("openid").unwrap(),
        auth_time: now,
        assurance: Assurance::password(),
        expires_at: now + CODE_LIFETIME,
    };
    let uri = "https://app.example.com/cb";
    assert!(code.redeemable(&client, uri, CHALLENGE, now));
    let other = ClientId::parse("0123456789abcdef0123456789abcdee").unwrap();
    assert!(!code.redeemable(&other, uri, CHALLENGE, now));
    assert!(!code.redeemable(&client, "https://app.example.com/cb2", CHALLENGE, now));
    assert!(!code.redeemable(&client, uri, "x", now));
    assert!(!code.redeemable(&client, uri, CHALLENGE, now + CODE_LIFETIME));
}

#[test]
fn verifiers_follow_rfc_7636() {
    assert!(is_code_verifier(&"a".repeat(43)));
    assert!(is_code_verifier(&"a-._~".repeat(20)));
    assert!(!is_code_verifier(&"a".repeat(42)));
    assert!(!is_code_verifier(&"a".repeat(129)));
    assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
}

#[test]
fn grants_issue_what_their_scopes_say() {
    let all = Scopes::parse("openid offline_access").unwrap();
    assert_eq!(
        Issues::for_scopes(&all, true),
        Issues {
            id_token: true,
            refresh_token: true
        }
    );
    assert!(!Issues::for_scopes(&all, false).refresh_token);
    let none = Scopes::parse("email").unwrap();
    assert_eq!(
        Issues::for_scopes(&none, true),
        Issues {
            id_token: false,
            refresh_token: false
        }
    );
}
