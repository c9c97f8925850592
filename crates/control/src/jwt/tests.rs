use proptest::prelude::*;

use super::*;

const SECRET: &[u8] = b"unit-test-secret";

fn claims(role: Role) -> Claims {
    Claims {
        app: "demo".into(),
        channel: "cam-1".into(),
        account: "alice".into(),
        role,
        exp: 1_000,
        iat: Some(900),
    }
}

/// A token signed with HS256 over whatever header and claims JSON the test wants.
fn sign_raw(secret: &[u8], header: &str, payload: &str) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn verify_payload(payload: &str) -> Result<Claims, TokenError> {
    verify(SECRET, &sign_raw(SECRET, HEADER_JSON, payload), 0, 0)
}

#[test]
fn mint_then_verify() {
    let c = claims(Role::Publisher);
    let token = mint(SECRET, &c);
    assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
    assert_eq!(verify(SECRET, &token, 999, 0), Ok(c.clone()));
    assert_eq!(peek_app(&token).as_deref(), Ok("demo"));
    assert_eq!(
        verify(b"other", &token, 0, 0),
        Err(TokenError::BadSignature)
    );
    let no_iat = Claims { iat: None, ..c };
    assert_eq!(verify(SECRET, &mint(SECRET, &no_iat), 0, 0), Ok(no_iat));
}

#[test]
fn keyed_matches_hmac_for_every_key_length() {
    for len in 0..=200 {
        let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let mut ours = keyed(&key);
        let mut theirs = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        ours.update(b"message");
        theirs.update(b"message");
        assert_eq!(
            ours.finalize().into_bytes(),
            theirs.finalize().into_bytes(),
            "key length {len}"
        );
    }
    // RFC 4231 test case 6: a 131-byte key, longer than the block, is hashed first.
    let mut mac = keyed(&[0xaa; 131]);
    mac.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn other_algorithms_are_refused() {
    let payload = r#"{"app":"demo","channel":"c","account":"a","role":"viewer","exp":5}"#;
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload)
    );
    assert_eq!(
        verify(SECRET, &none, 0, 0),
        Err(TokenError::UnsupportedAlg("none".into()))
    );
    // Signed with the right secret but declaring another algorithm: still refused, whatever the MAC says.
    let hs512 = sign_raw(SECRET, r#"{"alg":"HS512"}"#, payload);
    assert_eq!(
        verify(SECRET, &hs512, 0, 0),
        Err(TokenError::UnsupportedAlg("HS512".into()))
    );
    let long = format!(r#"{{"alg":"{}"}}"#, "X".repeat(500));
    match verify(SECRET, &sign_raw(SECRET, &long, payload), 0, 0) {
        Err(TokenError::UnsupportedAlg(alg)) => assert_eq!(alg.len(), MAX_ALG_IN_ERROR),
        other => panic!("{other:?}"),
    }
    for header in [r#"{"typ":"JWT"}"#, r#"{"alg":5}"#, "[]", "not json"] {
        let err = verify(SECRET, &sign_raw(SECRET, header, payload), 0, 0).unwrap_err();
        assert_eq!(err.reason(), "token_malformed", "{header}");
    }
    let crit = sign_raw(
        SECRET,
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        payload,
    );
    assert_eq!(
        verify(SECRET, &crit, 0, 0).unwrap_err().reason(),
        "token_malformed"
    );
    // typ is informational (RFC 7519 §5.1): absent or another value is fine.
    assert!(verify(
        SECRET,
        &sign_raw(SECRET, r#"{"alg":"HS256"}"#, payload),
        0,
        0
    )
    .is_ok());
    let at_jwt = sign_raw(SECRET, r#"{"alg":"HS256","typ":"at+jwt"}"#, payload);
    assert!(verify(SECRET, &at_jwt, 0, 0).is_ok());
}

#[test]
fn expiry_honours_leeway_and_the_rfc_boundary() {
    let token = mint(SECRET, &claims(Role::Viewer)); // exp 1000
    assert!(verify(SECRET, &token, 999, 0).is_ok());
    assert_eq!(
        verify(SECRET, &token, 1_000, 0),
        Err(TokenError::Expired {
            exp: 1_000,
            now: 1_000
        })
    );
    assert!(verify(SECRET, &token, 1_029, 30).is_ok());
    assert!(verify(SECRET, &token, 1_030, 30).is_err());
    assert!(verify(SECRET, &token, 0, u64::MAX).is_ok());
}

#[test]
fn missing_and_empty_claims_are_named() {
    let cases = [
        (
            r#"{"channel":"c","account":"a","role":"viewer","exp":5}"#,
            "app",
        ),
        (
            r#"{"app":"d","account":"a","role":"viewer","exp":5}"#,
            "channel",
        ),
        (
            r#"{"app":"d","channel":"c","role":"viewer","exp":5}"#,
            "account",
        ),
        (r#"{"app":"d","channel":"c","account":"a","exp":5}"#, "role"),
        (
            r#"{"app":"d","channel":"c","account":"a","role":"viewer"}"#,
            "exp",
        ),
        (
            r#"{"app":"","channel":"c","account":"a","role":"viewer","exp":5}"#,
            "app",
        ),
        (
            r#"{"app":"d","channel":null,"account":"a","role":"viewer","exp":5}"#,
            "channel",
        ),
    ];
    for (payload, claim) in cases {
        assert_eq!(
            verify_payload(payload),
            Err(TokenError::MissingClaim(claim)),
            "{payload}"
        );
    }
}

#[test]
fn room_alias_unknown_claims_and_fractional_times() {
    let c = verify_payload(
        r#"{"app":"d","room":"r1","account":"a","role":"member","exp":5.9,"iat":1.5,"sub":"x","n":{"k":[1]}}"#,
    )
    .unwrap();
    assert_eq!(
        c,
        Claims {
            app: "d".into(),
            channel: "r1".into(),
            account: "a".into(),
            role: Role::Member,
            exp: 5,
            iat: Some(1),
        }
    );
    let both = r#"{"app":"d","room":"r1","channel":"r2","account":"a","role":"member","exp":5}"#;
    assert_eq!(
        verify_payload(both).unwrap_err().reason(),
        "token_malformed"
    );
    for bad in [
        r#"{"app":"d","channel":"c","account":"a","role":"admin","exp":5}"#,
        r#"{"app":"d","channel":"c","account":"a","role":"viewer","exp":-1}"#,
        r#"{"app":"d","channel":"c","account":"a","role":"viewer","exp":"5"}"#,
        r#"{"app":7,"channel":"c","account":"a","role":"viewer","exp":5}"#,
        r#"["not an object"]"#,
    ] {
        assert_eq!(
            verify_payload(bad).unwrap_err().reason(),
            "token_malformed",
            "{bad}"
        );
    }
    assert_eq!(
        verify_payload(r#"{"app":"d","channel":"c","account":"a","role":"viewer","exp":1e300}"#)
            .unwrap()
            .exp,
        u64::MAX
    );
}

#[test]
fn form_errors() {
    let token = mint(SECRET, &claims(Role::Viewer));
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(
        verify(SECRET, &long, 0, 0),
        Err(TokenError::TooLong {
            len: MAX_TOKEN_LEN + 1,
            max: MAX_TOKEN_LEN
        })
    );
    assert_eq!(peek_app(&long).unwrap_err().reason(), "token_too_long");
    for bad in ["", "a", "a.b", "a.b.c.d", &format!("{token}.")] {
        assert_eq!(
            verify(SECRET, bad, 0, 0).unwrap_err().reason(),
            "token_malformed",
            "{bad}"
        );
    }
    // Padding is not part of the JWS encoding; a padded signature is refused rather than normalised.
    assert_eq!(
        verify(SECRET, &format!("{token}="), 0, 0)
            .unwrap_err()
            .reason(),
        "token_malformed"
    );
    let msg = verify(SECRET, &format!("{token}!"), 0, 0)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("signature"), "{msg}");
    assert!(
        !msg.contains(&token[..20]),
        "errors must not quote the token: {msg}"
    );
}

/// `MAX_TOKEN_LEN` is the longest token accepted, not the first one refused: a genuine token of exactly that many
/// bytes verifies.
#[test]
fn a_token_of_exactly_the_limit_is_accepted() {
    let token = (1..MAX_TOKEN_LEN)
        .map(|n| {
            mint(
                SECRET,
                &Claims {
                    account: "a".repeat(n),
                    ..claims(Role::Viewer)
                },
            )
        })
        .find(|t| t.len() == MAX_TOKEN_LEN)
        .expect("some account length gives a token of exactly MAX_TOKEN_LEN bytes");
    assert_eq!(
        verify(SECRET, &token, 0, 0).map(|c| c.role),
        Ok(Role::Viewer)
    );
    assert_eq!(peek_app(&token).as_deref(), Ok("demo"));
}

#[test]
fn peek_app_does_not_verify() {
    let token = mint(b"someone else's secret", &claims(Role::Viewer));
    assert_eq!(peek_app(&token).as_deref(), Ok("demo"));
    let no_app = sign_raw(SECRET, HEADER_JSON, r#"{"channel":"c"}"#);
    assert_eq!(peek_app(&no_app), Err(TokenError::MissingClaim("app")));
    assert_eq!(peek_app("x.!!.y").unwrap_err().reason(), "token_malformed");
}

#[test]
fn check_applies_the_role_rule() {
    use Role::*;
    let table = [
        (Publisher, Publisher, true),
        (Publisher, Viewer, true),
        (Publisher, Member, false),
        (Viewer, Viewer, true),
        (Viewer, Publisher, false),
        (Viewer, Member, false),
        (Member, Member, true),
        (Member, Publisher, false),
        (Member, Viewer, false),
    ];
    for (got, asked, ok) in table {
        let r = check(&claims(got), "demo", "cam-1", "alice", asked);
        if ok {
            assert_eq!(r, Ok(()), "{got} for {asked}");
        } else {
            assert_eq!(
                r,
                Err(TokenError::WrongRole {
                    expected: asked,
                    got
                })
            );
        }
    }
    let c = claims(Publisher);
    assert_eq!(
        check(&c, "other", "cam-1", "alice", Publisher)
            .unwrap_err()
            .reason(),
        "token_wrong_app"
    );
    assert_eq!(
        check(&c, "demo", "cam-2", "alice", Publisher)
            .unwrap_err()
            .reason(),
        "token_wrong_channel"
    );
    assert_eq!(
        check(&c, "demo", "cam-1", "bob", Publisher),
        Err(TokenError::WrongAccount {
            expected: "bob".into(),
            got: "alice".into()
        })
    );
}

#[test]
fn roles_parse_display_and_serialize() {
    for role in [Role::Publisher, Role::Viewer, Role::Member] {
        assert_eq!(role.to_string().parse::<Role>(), Ok(role));
        assert_eq!(
            serde_json::to_string(&role).unwrap(),
            format!("\"{}\"", role.as_str())
        );
    }
    assert_eq!("Viewer".parse::<Role>(), Err(UnknownRole("Viewer".into())));
}

#[test]
fn claims_serde_matches_the_token_rules() {
    let c: Claims = serde_json::from_str(
        r#"{"app":"d","room":"r","account":"a","role":"member","exp":9,"extra":true}"#,
    )
    .unwrap();
    assert_eq!(c.channel, "r");
    assert_eq!(c.iat, None);
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(
        json,
        r#"{"app":"d","channel":"r","account":"a","role":"member","exp":9}"#
    );
    let err = serde_json::from_str::<Claims>(r#"{"app":"d"}"#).unwrap_err();
    assert!(err.to_string().contains("channel"), "{err}");
}

#[test]
fn reasons_are_stable() {
    let all = [
        (TokenError::Malformed(String::new()), "token_malformed"),
        (TokenError::UnsupportedAlg(String::new()), "token_alg"),
        (TokenError::BadSignature, "token_bad_signature"),
        (TokenError::Expired { exp: 0, now: 0 }, "token_expired"),
        (TokenError::MissingClaim("app"), "token_missing_claim"),
        (
            TokenError::WrongRole {
                expected: Role::Viewer,
                got: Role::Member,
            },
            "token_wrong_role",
        ),
        (
            TokenError::WrongApp {
                expected: String::new(),
                got: String::new(),
            },
            "token_wrong_app",
        ),
        (
            TokenError::WrongChannel {
                expected: String::new(),
                got: String::new(),
            },
            "token_wrong_channel",
        ),
        (
            TokenError::WrongAccount {
                expected: String::new(),
                got: String::new(),
            },
            "token_wrong_account",
        ),
        (TokenError::TooLong { len: 0, max: 0 }, "token_too_long"),
    ];
    for (err, reason) in all {
        assert_eq!(err.reason(), reason);
    }
}

fn arb_role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Publisher),
        Just(Role::Viewer),
        Just(Role::Member)
    ]
}

fn arb_claims() -> impl Strategy<Value = Claims> {
    (
        ".{1,30}",
        ".{1,30}",
        ".{1,30}",
        arb_role(),
        1u64..,
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(app, channel, account, role, exp, iat)| Claims {
            app,
            channel,
            account,
            role,
            exp,
            iat,
        })
}

proptest! {
    #[test]
    fn roundtrip(secret in proptest::collection::vec(any::<u8>(), 0..100), c in arb_claims()) {
        let token = mint(&secret, &c);
        prop_assert_eq!(verify(&secret, &token, c.exp - 1, 0), Ok(c.clone()));
        prop_assert_eq!(peek_app(&token), Ok(c.app.clone()));
    }

    #[test]
    fn any_single_character_change_is_refused(
        c in arb_claims(),
        at in any::<prop::sample::Index>(),
        replacement in proptest::char::range(' ', '~'),
    ) {
        let token = mint(SECRET, &c);
        let i = at.index(token.len());
        // Tokens are ASCII, so every index is a character boundary.
        let original = char::from(token.as_bytes()[i]);
        prop_assume!(original != replacement);
        let mut changed = token.clone();
        changed.replace_range(i..=i, replacement.encode_utf8(&mut [0; 4]));
        prop_assert!(verify(SECRET, &changed, 0, 0).is_err(), "{changed}");
    }

    #[test]
    fn random_strings_never_panic(s in ".{0,300}", now in any::<u64>(), leeway in any::<u64>()) {
        let _ = verify(SECRET, &s, now, leeway);
        let _ = peek_app(&s);
    }

    #[test]
    fn random_json_parts_never_panic(
        header in ".{0,80}",
        payload in ".{0,200}",
        now in any::<u64>(),
    ) {
        let token = sign_raw(SECRET, &header, &payload);
        let _ = verify(SECRET, &token, now, 0);
        let _ = peek_app(&token);
        let token = sign_raw(SECRET, HEADER_JSON, &payload);
        let _ = verify(SECRET, &token, now, 0);
    }
}
