//! HS256 access tokens for the SDKs: standard JWS compact JWTs (RFC 7519, RFC 7515), so an app's backend can mint
//! them with any JWT library and never call mplive. Pure functions; the clock is an argument.
//!
//! A token is `base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256(secret, first two parts))`, all
//! base64url without padding. The header must say `"alg": "HS256"`; every other algorithm, `none` included, is
//! refused, so a token cannot pick a weaker check than the one the server uses. The claims are [`Claims`]; unknown
//! claims are ignored, `room` is accepted as another name for `channel`, and `exp`/`iat` may be fractional (they
//! are rounded down).
//!
//! The server first calls [`peek_app`] (unverified) to learn which app's secret to use, then [`verify`] with that
//! secret, then [`check`] against what the client asks for.
//!
//! ```
//! use control::jwt::{self, Claims, Role};
//!
//! let claims = Claims {
//!     app: "demo".into(),
//!     channel: "cam-1".into(),
//!     account: "alice".into(),
//!     role: Role::Publisher,
//!     exp: 2_000_000_000,
//!     iat: None,
//! };
//! let token = jwt::mint(b"app secret", &claims);
//! assert_eq!(jwt::peek_app(&token).as_deref(), Ok("demo"));
//! let got = jwt::verify(b"app secret", &token, 1_900_000_000, 30)?;
//! jwt::check(&got, "demo", "cam-1", "alice", Role::Viewer)?;
//! # Ok::<(), jwt::TokenError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest token accepted, in bytes. Checked before any decoding so a hostile client cannot make the server
/// base64-decode and parse megabytes; real tokens are a few hundred bytes.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The only header mplive writes. Key order and spacing match what PyJWT and jsonwebtoken emit.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The longest algorithm name quoted back in an error; the rest is cut so errors stay short.
const MAX_ALG_IN_ERROR: usize = 32;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May publish the channel's stream, and also play it.
    Publisher,
    /// May play the channel's stream.
    Viewer,
    /// May join the channel as a room member; only rooms accept it.
    Member,
}

impl Role {
    /// The claim value: `"publisher"`, `"viewer"` or `"member"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
            Role::Member => "member",
        }
    }

    /// Whether a token with this role may be used where `asked` is needed. A publisher may also watch (a broadcaster
    /// previews its own stream with the same token); viewer and member tokens grant only themselves, so a room
    /// member token never publishes or plays a stream and a stream token never joins a room.
    pub fn grants(self, asked: Role) -> bool {
        self == asked || (self == Role::Publisher && asked == Role::Viewer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not `publisher`, `viewer` or `member`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected publisher, viewer or member")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "publisher" => Ok(Role::Publisher),
            "viewer" => Ok(Role::Viewer),
            "member" => Ok(Role::Member),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// The claims of an mplive token. Deserializing applies the same rules as [`verify`]: `room` is an alias of
/// `channel`, unknown claims are ignored, `app`, `channel` and `account` must be non-empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawClaims")]
pub struct Claims {
    /// The app the token belongs to; its secret signs the token.
    pub app: String,
    /// The stream (for publishers and viewers) or room (for members). Read from `channel` or `room`.
    pub channel: String,
    /// The app's own user id for the holder.
    pub account: String,
    /// What the holder may do.
    pub role: Role,
    /// Expiry, Unix seconds: the token is refused from this second on (plus the verifier's leeway).
    pub exp: u64,
    /// When the token was minted, Unix seconds; informational, not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// The claims as they arrive, every one optional, so that a missing one gets [`TokenError::MissingClaim`] rather
/// than a serde message, and so that numbers may be fractional.
#[derive(Deserialize)]
struct RawClaims {
    app: Option<String>,
    #[serde(alias = "room")]
    channel: Option<String>,
    account: Option<String>,
    role: Option<String>,
    exp: Option<serde_json::Number>,
    iat: Option<serde_json::Number>,
}

impl TryFrom<RawClaims> for Claims {
    type Error = TokenError;

    fn try_from(raw: RawClaims) -> Result<Self, TokenError> {
        let role = raw.role.ok_or(TokenError::MissingClaim("role"))?;
        let role = role
            .parse()
            .map_err(|e: UnknownRole| TokenError::Malformed(format!("claims: {e}")))?;
        Ok(Claims {
            app: non_empty(raw.app, "app")?,
            channel: non_empty(raw.channel, "channel")?,
            account: non_empty(raw.account, "account")?,
            role,
            exp: unix_seconds(raw.exp.ok_or(TokenError::MissingClaim("exp"))?, "exp")?,
            iat: raw.iat.map(|n| unix_seconds(n, "iat")).transpose()?,
        })
    }
}

fn non_empty(value: Option<String>, claim: &'static str) -> Result<String, TokenError> {
    // An empty name is treated as absent: it can never match an app, channel or account, and saying "missing"
    // points the app developer at the bug in its minting code.
    value
        .filter(|v| !v.is_empty())
        .ok_or(TokenError::MissingClaim(claim))
}

/// A NumericDate (RFC 7519 §2) as whole seconds. Fractions are allowed by the RFC and produced by libraries when a
/// backend passes `time.time() + 3600`, so they are rounded down rather than refused.
fn unix_seconds(n: serde_json::Number, claim: &str) -> Result<u64, TokenError> {
    if let Some(v) = n.as_u64() {
        return Ok(v);
    }
    match n.as_f64() {
        // The cast saturates, which is the right answer for values past u64::MAX.
        Some(v) if v.is_finite() && v >= 0.0 => Ok(v.floor() as u64),
        _ => Err(TokenError::Malformed(format!(
            "claims: {claim} must be a non-negative Unix time in seconds, got {n}"
        ))),
    }
}

/// Why a token was refused. [`TokenError::reason`] gives a stable name for logs, metrics and API responses. No
/// variant carries the token or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not a well-formed JWS compact JWT; the text says which part and why.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm other than HS256 (`none` included).
    #[error("token algorithm {0:?} is refused: mplive tokens must be signed with HS256")]
    UnsupportedAlg(String),
    /// The HMAC does not match: wrong secret, or the token was altered.
    #[error("token signature does not match: sign with HS256 and this app's token secret")]
    BadSignature,
    /// The token's `exp` (plus leeway) is not after now.
    #[error("token expired at {exp} (Unix seconds), it is now {now}: mint a new one")]
    Expired {
        /// The token's `exp`, Unix seconds.
        exp: u64,
        /// The verifier's clock, Unix seconds.
        now: u64,
    },
    /// A required claim is absent or empty.
    #[error("token has no {0:?} claim: tokens need app, channel (or room), account, role and exp")]
    MissingClaim(&'static str),
    /// The token's role does not allow what was asked (see [`Role::grants`]).
    #[error("token role {got} does not allow {expected}: mint a {expected} token")]
    WrongRole {
        /// The role the request needs.
        expected: Role,
        /// The role in the token.
        got: Role,
    },
    /// The token belongs to another app.
    #[error("token is for app {got:?}, not {expected:?}")]
    WrongApp {
        /// The app the request is for.
        expected: String,
        /// The app in the token.
        got: String,
    },
    /// The token is for another stream or room.
    #[error("token is for channel {got:?}, not {expected:?}")]
    WrongChannel {
        /// The channel the request is for.
        expected: String,
        /// The channel in the token.
        got: String,
    },
    /// The token was minted for another account.
    #[error("token is for account {got:?}, not {expected:?}")]
    WrongAccount {
        /// The account the request claims.
        expected: String,
        /// The account in the token.
        got: String,
    },
    /// The token is longer than [`MAX_TOKEN_LEN`]; it was not decoded.
    #[error("token is {len} bytes, the limit is {max}: keep custom claims small")]
    TooLong {
        /// The token's length in bytes.
        len: usize,
        /// The limit, [`MAX_TOKEN_LEN`].
        max: usize,
    },
}

impl TokenError {
    /// A short stable snake_case name: `token_malformed`, `token_alg`, `token_bad_signature`, `token_expired`,
    /// `token_missing_claim`, `token_wrong_role`, `token_wrong_app`, `token_wrong_channel`, `token_wrong_account`,
    /// `token_too_long`.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "token_malformed",
            TokenError::UnsupportedAlg(_) => "token_alg",
            TokenError::BadSignature => "token_bad_signature",
            TokenError::Expired { .. } => "token_expired",
            TokenError::MissingClaim(_) => "token_missing_claim",
            TokenError::WrongRole { .. } => "token_wrong_role",
            TokenError::WrongApp { .. } => "token_wrong_app",
            TokenError::WrongChannel { .. } => "token_wrong_channel",
            TokenError::WrongAccount { .. } => "token_wrong_account",
            TokenError::TooLong { .. } => "token_too_long",
        }
    }
}

/// Signs `claims` with `secret` into a compact HS256 JWT that any JWT library verifies. The header is exactly
/// `{"alg":"HS256","typ":"JWT"}`; the claims are `app`, `channel`, `account`, `role`, `exp` and `iat` when set.
pub fn mint(secret: &[u8], claims: &Claims) -> String {
    let mut map = serde_json::Map::new();
    map.insert("app".into(), claims.app.clone().into());
    map.insert("channel".into(), claims.channel.clone().into());
    map.insert("account".into(), claims.account.clone().into());
    map.insert("role".into(), claims.role.as_str().into());
    map.insert("exp".into(), claims.exp.into());
    if let Some(iat) = claims.iat {
        map.insert("iat".into(), iat.into());
    }
    // Building a `Value` and using its `Display` cannot fail, unlike `serde_json::to_string`.
    let payload = serde_json::Value::Object(map).to_string();
    let mut token = URL_SAFE_NO_PAD.encode(HEADER_JSON);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let mut mac = keyed(secret);
    mac.update(token.as_bytes());
    let tag = mac.finalize().into_bytes();
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, &mut token);
    token
}

/// Checks `token`'s length, form, algorithm (HS256 only), signature (constant-time) and expiry at `now_unix`,
/// allowing `leeway_secs` of clock skew, and returns its claims. Does not check what the claims are for: call
/// [`check`] next.
pub fn verify(
    secret: &[u8],
    token: &str,
    now_unix: u64,
    leeway_secs: u64,
) -> Result<Claims, TokenError> {
    let parts = split(token)?;
    check_header(&decode(parts.header, "header")?)?;
    let signature = decode(parts.signature, "signature")?;
    let mut mac = keyed(secret);
    mac.update(parts.signed.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let claims: RawClaims =
        serde_json::from_slice(&decode(parts.payload, "claims")?).map_err(|e| {
            TokenError::Malformed(format!(
                "claims are not a JSON object of the expected types: {e}"
            ))
        })?;
    let claims = Claims::try_from(claims)?;
    // RFC 7519 §4.1.4: the token must not be accepted on or after `exp`.
    if now_unix >= claims.exp.saturating_add(leeway_secs) {
        return Err(TokenError::Expired {
            exp: claims.exp,
            now: now_unix,
        });
    }
    Ok(claims)
}

/// The `app` claim of `token`, read WITHOUT checking the signature, so the server knows whose secret to verify
/// with. Trust nothing else from it; always [`verify`] afterwards.
pub fn peek_app(token: &str) -> Result<String, TokenError> {
    #[derive(Deserialize)]
    struct AppOnly {
        app: Option<String>,
    }
    let parts = split(token)?;
    let claims: AppOnly = serde_json::from_slice(&decode(parts.payload, "claims")?)
        .map_err(|e| TokenError::Malformed(format!("claims are not a JSON object: {e}")))?;
    non_empty(claims.app, "app")
}

/// Checks that verified `claims` are for `app`, `channel` and `account`, with a role that grants `role`.
///
/// The role rule ([`Role::grants`]): a `publisher` token is also accepted where `viewer` is asked; `viewer` and
/// `member` tokens are accepted only where exactly their role is asked. So a member token (rooms) never publishes or
/// plays a stream, and a publisher or viewer token never joins a room.
pub fn check(
    claims: &Claims,
    app: &str,
    channel: &str,
    account: &str,
    role: Role,
) -> Result<(), TokenError> {
    if claims.app != app {
        return Err(TokenError::WrongApp {
            expected: app.to_owned(),
            got: claims.app.clone(),
        });
    }
    if claims.channel != channel {
        return Err(TokenError::WrongChannel {
            expected: channel.to_owned(),
            got: claims.channel.clone(),
        });
    }
    if !claims.role.grants(role) {
        return Err(TokenError::WrongRole {
            expected: role,
            got: claims.role,
        });
    }
    if claims.account != account {
        return Err(TokenError::WrongAccount {
            expected: account.to_owned(),
            got: claims.account.clone(),
        });
    }
    Ok(())
}

/// The three base64url parts of a token and the text the signature covers.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    signed: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let mut it = token.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(header), Some(payload), Some(signature), None) => Ok(Parts {
            header,
            payload,
            signature,
            // The split found two dots, so the last one separates the signed text from the signature.
            signed: &token[..token.len() - signature.len() - 1],
        }),
        _ => Err(TokenError::Malformed(format!(
            "expected 3 parts separated by dots (header.claims.signature), found {}",
            token.split('.').count()
        ))),
    }
}

/// Decodes one part. The engine refuses padding and non-zero trailing bits, so every token has exactly one
/// spelling and altering any character of the signature is detected.
fn decode(part: &str, which: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| TokenError::Malformed(format!("{which} is not unpadded base64url: {e}")))
}

fn check_header(header: &[u8]) -> Result<(), TokenError> {
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header)
        .map_err(|e| TokenError::Malformed(format!("header is not a JSON object: {e}")))?;
    match header.get("alg") {
        Some(serde_json::Value::String(alg)) if alg == "HS256" => {}
        Some(serde_json::Value::String(alg)) => {
            return Err(TokenError::UnsupportedAlg(
                alg.chars().take(MAX_ALG_IN_ERROR).collect(),
            ))
        }
        Some(_) => return Err(TokenError::Malformed("header: alg is not a string".into())),
        None => return Err(TokenError::Malformed("header has no alg".into())),
    }
    // RFC 7515 §4.1.11: a verifier must refuse extensions it does not understand, and mplive understands none.
    if header.contains_key("crit") {
        return Err(TokenError::Malformed(
            "header lists crit extensions, which mplive does not support".into(),
        ));
    }
    Ok(())
}

/// An HMAC-SHA256 keyed with `secret`. RFC 2104 hashes a key longer than the 64-byte block and zero-pads a shorter
/// one; doing that here yields the fixed-size key `Mac::new` takes, which cannot fail, instead of the fallible
/// `new_from_slice` that would need an `expect`.
fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    if secret.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(secret));
    } else {
        block[..secret.len()].copy_from_slice(secret);
    }
    <Hmac<Sha256> as Mac>::new(&block.into())
}

#[cfg(test)]
mod tests;
