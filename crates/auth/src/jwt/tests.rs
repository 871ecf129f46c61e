//! Issue and verify, and every way a token can be wrong.

use super::*;

const SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";

fn codec() -> JwtCodec {
    JwtCodec::new(JwtConfig::new(SigningKey::hs256(SECRET))).unwrap()
}

#[test]
fn access_tokens_round_trip_with_their_claims() {
    let codec = codec();
    let (user, session) = (UserId::new(), SessionId::new());
    let issued = codec.issue_access(user, session, true, Utc::now()).unwrap();
    let claims = codec.verify_access(&issued.token).unwrap();
    assert_eq!(
        (claims.user_id, claims.session_id, claims.fresh),
        (user, session, true)
    );
}

#[test]
fn token_types_are_not_interchangeable() {
    let codec = codec();
    let now = Utc::now();
    let refresh = codec
        .issue_refresh(
            UserId::new(),
            SessionId::new(),
            3,
            now,
            now + Duration::days(1),
        )
        .unwrap();
    assert_eq!(
        codec.verify_access(&refresh.token),
        Err(TokenError::WrongType)
    );
    assert_eq!(codec.verify_refresh(&refresh.token).unwrap().generation, 3);
    let access = codec
        .issue_access(UserId::new(), SessionId::new(), false, now)
        .unwrap();
    assert_eq!(
        codec.verify_refresh(&access.token),
        Err(TokenError::WrongType)
    );
}

#[test]
fn expired_tokens_are_rejected_beyond_the_leeway_only() {
    let codec = codec();
    let ttl = codec.access_ttl();
    let within_leeway = Utc::now() - ttl - Duration::seconds(10);
    let token = codec
        .issue_access(UserId::new(), SessionId::new(), false, within_leeway)
        .unwrap();
    assert!(codec.verify_access(&token.token).is_ok());
    let past_leeway = Utc::now() - ttl - Duration::seconds(60);
    let token = codec
        .issue_access(UserId::new(), SessionId::new(), false, past_leeway)
        .unwrap();
    assert_eq!(codec.verify_access(&token.token), Err(TokenError::Expired));
}

#[test]
fn tokens_from_the_future_are_not_yet_valid() {
    let codec = codec();
    let later = Utc::now() + Duration::minutes(5);
    let token = codec
        .issue_access(UserId::new(), SessionId::new(), false, later)
        .unwrap();
    assert_eq!(codec.verify_access(&token.token), Err(TokenError::Invalid));
}

#[test]
fn another_key_or_algorithm_or_none_is_rejected() {
    let issued = codec()
        .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
        .unwrap();
    let other_key = JwtCodec::new(JwtConfig::new(SigningKey::hs256(
        b"another-secret-of-32-bytes-or-more!!",
    )))
    .unwrap();
    assert_eq!(
        other_key.verify_access(&issued.token),
        Err(TokenError::Invalid)
    );

    let hs512 = SigningKey::hmac(SigningAlgorithm::HS512, SECRET).unwrap();
    let hs512_token = JwtCodec::new(JwtConfig::new(hs512))
        .unwrap()
        .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
        .unwrap();
    assert_eq!(
        codec().verify_access(&hs512_token.token),
        Err(TokenError::Invalid)
    );

    // Same claims, `alg: none`, no signature.
    let payload = issued.token.split('.').nth(1).unwrap();
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    for forged in [
        format!("{none_header}.{payload}."),
        format!("{none_header}.{payload}"),
    ] {
        assert_eq!(codec().verify_access(&forged), Err(TokenError::Invalid));
    }
    for garbage in ["", "abc", "a.b.c", "....."] {
        assert_eq!(codec().verify_access(garbage), Err(TokenError::Invalid));
    }
}

#[test]
fn issuer_and_audience_are_required_when_configured() {
    let mut config = JwtConfig::new(SigningKey::hs256(SECRET));
    config.issuer = Some("gatehouse".into());
    config.audience = Some("api".into());
    let strict = JwtCodec::new(config).unwrap();
    let plain = codec()
        .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
        .unwrap();
    assert_eq!(strict.verify_access(&plain.token), Err(TokenError::Invalid));
    let own = strict
        .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
        .unwrap();
    assert!(strict.verify_access(&own.token).is_ok());
}

proptest::proptest! {
    #[test]
    fn verification_never_panics_on_arbitrary_input(raw in "\\PC{0,400}") {
        let codec = codec();
        proptest::prop_assert!(codec.verify_access(&raw).is_err());
        proptest::prop_assert!(codec.verify_refresh(&raw).is_err());
    }

    #[test]
    fn every_one_character_change_of_a_valid_token_is_refused(
        position in 0usize..10_000,
        replacement in proptest::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=".chars().collect::<Vec<_>>()
        ),
    ) {
        let codec = codec();
        let token = codec
            .issue_access(UserId::new(), SessionId::new(), true, Utc::now())
            .unwrap()
            .token;
        let position = position % token.len();
        let original = token.as_bytes()[position] as char;
        proptest::prop_assume!(original != replacement);
        let mut mutated = token.clone();
        mutated.replace_range(position..=position, &replacement.to_string());
        proptest::prop_assert!(codec.verify_access(&mutated).is_err(), "{}", mutated);
    }

    #[test]
    fn every_truncation_of_a_valid_token_is_refused(cut in 0usize..10_000) {
        let codec = codec();
        let token = codec
            .issue_access(UserId::new(), SessionId::new(), true, Utc::now())
            .unwrap()
            .token;
        let cut = cut % token.len();
        proptest::prop_assert!(codec.verify_access(&token[..cut]).is_err());
    }
}

#[test]
fn debug_output_never_contains_a_token() {
    let issued = codec()
        .issue_access(UserId::new(), SessionId::new(), false, Utc::now())
        .unwrap();
    assert!(!format!("{issued:?}").contains(&issued.token));
}

#[test]
fn a_session_handle_may_be_expired_but_nothing_else() {
    let codec = codec();
    let (user, session) = (UserId::new(), SessionId::new());
    let long_ago = Utc::now() - Duration::hours(2);
    let expired = codec
        .issue_page_handle(
            user,
            session,
            true,
            (&Assurance::password(), &HeldRoles::default()),
            long_ago,
        )
        .unwrap();
    assert_eq!(
        codec.verify_access(&expired.token),
        Err(TokenError::Expired)
    );
    let claims = codec.verify_session_handle(&expired.token).unwrap();
    assert_eq!((claims.user_id, claims.session_id), (user, session));
    assert!(claims.page_session);
    // An API client's access token is no page session, expired or not.
    for issued_at in [Utc::now(), long_ago] {
        let api = codec.issue_access(user, session, true, issued_at).unwrap();
        assert_eq!(
            codec.verify_session_handle(&api.token),
            Err(TokenError::Invalid)
        );
    }
    let refresh = codec
        .issue_refresh(user, session, 0, long_ago, long_ago + Duration::days(1))
        .unwrap();
    assert_eq!(
        codec.verify_session_handle(&refresh.token),
        Err(TokenError::WrongType)
    );
    let other = JwtCodec::new(JwtConfig::new(SigningKey::hs256(
        b"another-secret-that-is-at-least-32-bytes",
    )))
    .unwrap();
    assert_eq!(
        other.verify_session_handle(&expired.token),
        Err(TokenError::Invalid)
    );
}

#[test]
fn access_tokens_carry_the_roles_sorted_and_an_empty_list_when_none() {
    let codec = codec();
    let (user, session) = (UserId::new(), SessionId::new());
    let names = ["writer", "admin"].map(|name| gatehouse_domain::RoleName::parse(name).unwrap());
    let roles = HeldRoles::new(names);
    let issued = codec
        .issue_access_at(
            user,
            session,
            true,
            (&Assurance::password(), &roles),
            Utc::now(),
        )
        .unwrap();
    assert_eq!(
        codec.verify_access(&issued.token).unwrap().roles,
        ["admin", "writer"]
    );
    let payload = |token: &str| -> serde_json::Value {
        use base64::Engine as _;
        let part = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let none = codec.issue_access(user, session, true, Utc::now()).unwrap();
    assert_eq!(payload(&none.token)["roles"], serde_json::json!([]));
    // Refresh tokens carry no roles: a refresh reads them again.
    let refresh = codec
        .issue_refresh(user, session, 0, Utc::now(), Utc::now() + Duration::days(1))
        .unwrap();
    assert!(payload(&refresh.token).get("roles").is_none());
}

#[test]
fn an_access_token_without_roles_grew_by_at_most_twelve_bytes() {
    // The lengths of this codec's access tokens (HS256, no issuer or audience) before
    // the `roles` claim existed, measured on the commit before it: a fresh login's 405
    // bytes, a refreshed token's 407 (`"fresh":false`). Ids and times have fixed widths
    // today, so the lengths do not vary from token to token.
    const FRESH_BEFORE_ROLES: usize = 405;
    const REFRESHED_BEFORE_ROLES: usize = 407;
    let codec = codec();
    let (user, session) = (UserId::new(), SessionId::new());
    let fresh = codec.issue_access(user, session, true, Utc::now()).unwrap();
    let refreshed = codec
        .issue_access(user, session, false, Utc::now())
        .unwrap();
    assert!(
        fresh.token.len() <= FRESH_BEFORE_ROLES + 12,
        "{}",
        fresh.token.len()
    );
    assert!(
        refreshed.token.len() <= REFRESHED_BEFORE_ROLES + 12,
        "{}",
        refreshed.token.len()
    );
}

/// The claims of `token`, signed again by `key` with a header of no `kid`.
fn without_kid(token: &str, key: &SigningKey) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    jsonwebtoken::encode(&Header::new(key.algorithm.jose()), &claims, &key.encoding).unwrap()
}

#[test]
fn a_key_is_chosen_by_kid_and_a_token_without_one_is_the_signing_keys() {
    let (signing, _) = SigningKey::generate(SigningAlgorithm::EdDSA).unwrap();
    let (previous, _) = SigningKey::generate(SigningAlgorithm::EdDSA).unwrap();
    let mut config = JwtConfig::new(signing.clone());
    config.previous = vec![previous.verifying()];
    let codec = JwtCodec::new(config).unwrap();
    let old = JwtCodec::new(JwtConfig::new(previous.clone())).unwrap();
    let (user, session) = (UserId::new(), SessionId::new());
    let now = Utc::now();

    // By kid: the signing key's and the other key's tokens verify.
    let current = codec.issue_access(user, session, true, now).unwrap().token;
    let before = old.issue_access(user, session, true, now).unwrap().token;
    assert!(codec.verify_access(&current).is_ok());
    assert!(codec.verify_access(&before).is_ok());
    // Without a kid: the signing key's only, as when the ring holds nothing else.
    assert!(
        codec
            .verify_access(&without_kid(&current, &signing))
            .is_ok()
    );
    assert!(matches!(
        codec.verify_access(&without_kid(&before, &previous)),
        Err(TokenError::Invalid)
    ));
    // A kid the ring does not hold, or one that names the wrong key: refused.
    let (stranger, _) = SigningKey::generate(SigningAlgorithm::EdDSA).unwrap();
    let forged = JwtCodec::new(JwtConfig::new(stranger))
        .unwrap()
        .issue_access(user, session, true, now)
        .unwrap()
        .token;
    assert!(matches!(
        codec.verify_access(&forged),
        Err(TokenError::Invalid)
    ));
}
