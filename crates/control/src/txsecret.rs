//! Tencent CSS style URL signatures: `txSecret = md5(key + streamName + txTime)` in lowercase hex, `txTime` the
//! Unix expiry in hex. Pure functions; the clock is an argument.
//!
//! `txTime` is accepted in either case and hashed exactly as written (Tencent's own URLs use uppercase, its docs
//! lowercase). The stream name is the name without its query. Comparison of the secret is case-insensitive and
//! constant-time.

use md5::{Digest, Md5};

/// Why a signed URL was refused. Each reason is distinct so that the log, the metrics, the RTMP status
/// description and the webhook `errcode` can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `txSecret` or no `txTime` in the query.
    #[error("missing signature: the URL needs txSecret and txTime (get one with `mplive url push STREAM`)")]
    Missing,
    /// `txTime` is not a hexadecimal Unix time.
    #[error("bad txTime: expected the expiry as hexadecimal Unix seconds, e.g. txTime=5c2acacc")]
    BadTime,
    /// `txSecret` does not match the key, stream and time.
    #[error("bad signature: txSecret does not match md5(key + stream + txTime)")]
    BadSecret,
    /// `txTime` is in the past.
    #[error("expired signature: txTime {expiry} is before now ({now}); ask for a fresh URL")]
    Expired {
        /// The expiry the URL carries (Unix seconds).
        expiry: u64,
        /// The server's time (Unix seconds).
        now: u64,
    },
}

impl SignatureError {
    /// A short stable name for logs, metrics labels and webhook error codes (see
    /// [`crate::webhook_event::errcode::for_reason`]): `signature_missing`, `signature_bad`, `signature_expired`.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::BadTime | SignatureError::BadSecret => "signature_bad",
            SignatureError::Expired { .. } => "signature_expired",
        }
    }
}

/// `txSecret` for `key`, `stream` and `tx_time` (hashed as written).
pub fn tx_secret(key: &str, stream: &str, tx_time: &str) -> String {
    md5_hex(&[key.as_bytes(), stream.as_bytes(), tx_time.as_bytes()])
}

/// Lowercase hex md5 of the concatenation of `parts`; the webhook `sign` is built the same way.
pub(crate) fn md5_hex(parts: &[&[u8]]) -> String {
    let mut md5 = Md5::new();
    for part in parts {
        md5.update(part);
    }
    hex(&md5.finalize())
}

/// The query `txSecret=...&txTime=...` for a URL that expires at `expiry` (Unix seconds).
pub fn sign_query(key: &str, stream: &str, expiry: u64) -> String {
    let tx_time = format!("{expiry:x}");
    format!(
        "txSecret={}&txTime={tx_time}",
        tx_secret(key, stream, &tx_time)
    )
}

/// Checks the `txSecret`/`txTime` pair in `query` (a URL query without `?`) for `stream` at `now` (Unix seconds).
pub fn verify(
    key: &str,
    stream: &str,
    query: Option<&str>,
    now: u64,
) -> Result<(), SignatureError> {
    let (mut secret, mut time) = (None, None);
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("txSecret", v)) => secret = Some(v),
            Some(("txTime", v)) => time = Some(v),
            _ => {}
        }
    }
    let (Some(secret), Some(time)) = (secret, time) else {
        return Err(SignatureError::Missing);
    };
    if time.is_empty() || time.len() > 16 {
        return Err(SignatureError::BadTime);
    }
    let expiry = u64::from_str_radix(time, 16).map_err(|_| SignatureError::BadTime)?;
    let expected = tx_secret(key, stream, time);
    if !eq_ignore_case_constant_time(secret.as_bytes(), expected.as_bytes()) {
        return Err(SignatureError::BadSecret);
    }
    if expiry < now {
        return Err(SignatureError::Expired { expiry, now });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Compares without stopping at the first difference, so timing does not reveal how much of a guess was right.
pub(crate) fn eq_ignore_case_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| {
        acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
    }) == 0
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn tencent_vector() {
        assert_eq!(
            tx_secret("somestring", "test", "5c2acacc"),
            "b77e812107e1d8b8f247885a46e1bd34"
        );
        let q = "txSecret=b77e812107e1d8b8f247885a46e1bd34&txTime=5c2acacc";
        assert_eq!(verify("somestring", "test", Some(q), 0x5c2a_ca00), Ok(()));
    }

    #[test]
    fn tx_time_is_hashed_as_written_in_either_case() {
        let upper = tx_secret("k", "s", "5C2ACACC");
        assert_ne!(upper, tx_secret("k", "s", "5c2acacc"));
        let q = format!("txSecret={upper}&txTime=5C2ACACC");
        assert_eq!(verify("k", "s", Some(&q), 0), Ok(()));
        let q = format!("txSecret={}&txTime=5C2ACACC", upper.to_uppercase());
        assert_eq!(verify("k", "s", Some(&q), 0), Ok(()));
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let good = sign_query("key", "cam", 1000);
        assert_eq!(verify("key", "cam", Some(&good), 999), Ok(()));
        assert_eq!(verify("key", "cam", None, 0), Err(SignatureError::Missing));
        assert_eq!(
            verify("key", "cam", Some("txTime=10"), 0),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify("key", "cam", Some("txSecret=ab&txTime=zz"), 0),
            Err(SignatureError::BadTime)
        );
        assert_eq!(
            verify("other", "cam", Some(&good), 0),
            Err(SignatureError::BadSecret)
        );
        assert_eq!(
            verify("key", "cam2", Some(&good), 0),
            Err(SignatureError::BadSecret)
        );
        assert_eq!(
            verify("key", "cam", Some(&good), 1001),
            Err(SignatureError::Expired {
                expiry: 1000,
                now: 1001
            })
        );
        assert_eq!(
            SignatureError::Expired { expiry: 0, now: 1 }.reason(),
            "signature_expired"
        );
    }

    #[test]
    fn other_parameters_are_ignored() {
        let q = format!("mode=rtc&{}&extra=1", sign_query("key", "cam", 50));
        assert_eq!(verify("key", "cam", Some(&q), 10), Ok(()));
    }

    proptest! {
        #[test]
        fn signed_queries_verify(key in ".{0,40}", stream in "[a-zA-Z0-9_-]{1,40}", expiry in 0u64..u64::from(u32::MAX)) {
            let q = sign_query(&key, &stream, expiry);
            prop_assert_eq!(verify(&key, &stream, Some(&q), expiry), Ok(()));
        }

        #[test]
        fn arbitrary_queries_never_panic(q in ".{0,200}", now in any::<u64>()) {
            let _ = verify("key", "cam", Some(&q), now);
        }
    }
}
