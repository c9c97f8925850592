//! Interop of `control::jwt` with a standard JWT library (PyJWT): tokens it minted verify here, and ours verify
//! there. The vectors below were made with PyJWT 2.15.1; the live check needs `python3 -c "import jwt"` to work
//! (./scripts/test installs PyJWT and requires it; run by hand without it, the check is skipped and counted).

#[path = "../../../tests/peers.rs"]
mod peers;

use std::process::Command;

use control::jwt::{self, Claims, Role, TokenError};

const SECRET: &str = "mplive-interop-test-secret-0123456789";
/// 2100-01-01T00:00:00Z, so the vectors stay valid.
const EXP: u64 = 4_102_444_800;
const NOW: u64 = 1_750_000_000;

/// `jwt.encode({"app":"demo","channel":"cam-1","account":"alice","role":"publisher","exp":4102444800,
/// "iat":1700000000}, SECRET, algorithm="HS256")`
const PYJWT_PUBLISHER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHAiOiJkZW1vIiwiY2hhbm5lbCI6ImNhbS0xIiwiYWNjb3VudCI6ImFsaWNlIiwicm9sZSI6InB1Ymxpc2hlciIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwfQ.99dt6NA0RDtVp_66xeDEUkHakDRoNIMptdNyGZNndXg";

/// `{"app":"demo","room":"room-7","account":"bob","role":"member","exp":4102444800,"sub":"bob",
/// "custom":{"tier":2}}`: the `room` alias and claims mplive does not know.
const PYJWT_MEMBER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHAiOiJkZW1vIiwicm9vbSI6InJvb20tNyIsImFjY291bnQiOiJib2IiLCJyb2xlIjoibWVtYmVyIiwiZXhwIjo0MTAyNDQ0ODAwLCJzdWIiOiJib2IiLCJjdXN0b20iOnsidGllciI6Mn19.zGx46GPDlZr7bB_EKtKTOEPdzxl9t8ZpzxfsDdBBo4A";

/// `{"app":"demo","channel":"cam-1","account":"carol","role":"viewer","exp":4102444800.75}`: a fractional `exp`,
/// what a backend gets from `time.time() + ttl`.
const PYJWT_FRACTIONAL_EXP: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHAiOiJkZW1vIiwiY2hhbm5lbCI6ImNhbS0xIiwiYWNjb3VudCI6ImNhcm9sIiwicm9sZSI6InZpZXdlciIsImV4cCI6NDEwMjQ0NDgwMC43NX0.-zsYLkap3XadNN_l6KwGAvACGvUxFTQ4b-bZetM2OrU";

/// The viewer claims with `algorithm="HS384"`.
const PYJWT_HS384: &str = "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJhcHAiOiJkZW1vIiwiY2hhbm5lbCI6ImNhbS0xIiwiYWNjb3VudCI6ImNhcm9sIiwicm9sZSI6InZpZXdlciIsImV4cCI6NDEwMjQ0NDgwMH0.buOkG4k_YwdreytIuRR50y6CWOMr1ulmAWvnq0b_4RJ113BhYf1d9P0c1is_lp_U";

/// The viewer claims with `algorithm="none"`.
const PYJWT_NONE: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhcHAiOiJkZW1vIiwiY2hhbm5lbCI6ImNhbS0xIiwiYWNjb3VudCI6ImNhcm9sIiwicm9sZSI6InZpZXdlciIsImV4cCI6NDEwMjQ0NDgwMH0.";

/// The viewer claims with `"exp": 1000`.
const PYJWT_EXPIRED: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHAiOiJkZW1vIiwiY2hhbm5lbCI6ImNhbS0xIiwiYWNjb3VudCI6ImNhcm9sIiwicm9sZSI6InZpZXdlciIsImV4cCI6MTAwMH0.LSR807W-a-LRoIKjvqAuJX-1MooixRMtluTkM0zB35k";

#[test]
fn pyjwt_vectors_verify() {
    let c = jwt::verify(SECRET.as_bytes(), PYJWT_PUBLISHER, NOW, 0).unwrap();
    assert_eq!(
        c,
        Claims {
            app: "demo".into(),
            channel: "cam-1".into(),
            account: "alice".into(),
            role: Role::Publisher,
            exp: EXP,
            iat: Some(1_700_000_000),
        }
    );
    assert_eq!(
        jwt::check(&c, "demo", "cam-1", "alice", Role::Publisher),
        Ok(())
    );

    let m = jwt::verify(SECRET.as_bytes(), PYJWT_MEMBER, NOW, 0).unwrap();
    assert_eq!(
        (m.channel.as_str(), m.role, m.iat),
        ("room-7", Role::Member, None)
    );
    assert_eq!(
        jwt::check(&m, "demo", "room-7", "bob", Role::Member),
        Ok(())
    );

    let v = jwt::verify(SECRET.as_bytes(), PYJWT_FRACTIONAL_EXP, NOW, 0).unwrap();
    assert_eq!(v.exp, EXP);
}

#[test]
fn pyjwt_vectors_refused() {
    let s = SECRET.as_bytes();
    assert_eq!(
        jwt::verify(s, PYJWT_HS384, NOW, 0),
        Err(TokenError::UnsupportedAlg("HS384".into()))
    );
    assert_eq!(
        jwt::verify(s, PYJWT_NONE, NOW, 0),
        Err(TokenError::UnsupportedAlg("none".into()))
    );
    assert_eq!(
        jwt::verify(s, PYJWT_EXPIRED, NOW, 0),
        Err(TokenError::Expired {
            exp: 1000,
            now: NOW
        })
    );
    assert_eq!(
        jwt::verify(b"wrong secret", PYJWT_PUBLISHER, NOW, 0),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn our_tokens_verify_with_pyjwt() {
    let python_has_jwt = Command::new("python3")
        .args(["-c", "import jwt"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !python_has_jwt {
        peers::skip_for_missing_peer(
            "our_tokens_verify_with_pyjwt",
            "python3 with PyJWT (pip install pyjwt)",
            None,
        );
        return;
    }
    let claims = Claims {
        app: "demo".into(),
        channel: "cam-1".into(),
        account: "alice".into(),
        role: Role::Publisher,
        exp: EXP,
        iat: Some(1_700_000_000),
    };
    let token = jwt::mint(SECRET.as_bytes(), &claims);
    // PyJWT checks the signature, the algorithm list and exp itself; it prints the header and claims it accepted.
    let script = "import jwt, json, sys\n\
        t, k = sys.argv[1], sys.argv[2]\n\
        print(json.dumps(jwt.get_unverified_header(t), separators=(',', ':')))\n\
        print(json.dumps(jwt.decode(t, k, algorithms=['HS256']), sort_keys=True, separators=(',', ':')))";
    let out = Command::new("python3")
        .args(["-c", script, &token, SECRET])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused our token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(r#"{"alg":"HS256","typ":"JWT"}"#));
    assert_eq!(
        lines.next(),
        Some(
            r#"{"account":"alice","app":"demo","channel":"cam-1","exp":4102444800,"iat":1700000000,"role":"publisher"}"#
        )
    );
    // And PyJWT refuses it under another secret, so the check above is not vacuous.
    let wrong = Command::new("python3")
        .args(["-c", script, &token, "another-secret-of-enough-length-000"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
}
