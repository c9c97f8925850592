//! Tencent CSS style URL signatures: `txSecret = md5(key + streamName + txTime)` in lowercase hex, `txTime` the
//! Unix expiry in hex. Pure functions; the clock is an argument.
//!
//! `txTime` is exactly [`TX_TIME_DIGITS`] hex digits, in either case, and hashed exactly as written (Tencent's own
//! URLs use uppercase, its docs lowercase). The fixed width is what binds a signature to its stream: the MD5 input
//! has no separator, so if `txTime` could be longer, the last hex digit of a stream name (`cam1`) could move to the
//! front of `txTime` (`cam` + `16b1021f8`) with the same MD5 input, and the one signature would publish to another
//! stream with an expiry centuries away. With eight digits, `stream + txTime` splits one way only.
//!
//! An expiry further ahead than the caller's `max_ttl` is refused too ([`SignatureError::TooFarAhead`]): a leaked
//! URL then stops working within that time, whatever its signer asked for. The stream name is the name without
//! its query. Comparison of the secret is case-insensitive and constant-time.

use md5::{Digest, Md5};

/// The number of hex digits of `txTime`: a Unix time in seconds as eight hex digits, as Tencent issues it.
pub const TX_TIME_DIGITS: usize = 8;

/// Why a signed URL was refused. Each reason is distinct so that the log, the metrics, the RTMP status
/// description and the webhook `errcode` can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `txSecret` or no `txTime` in the query.
    #[error("missing signature: the URL needs txSecret and txTime")]
    Missing,
    /// `txTime` is not eight hexadecimal digits.
    #[error("bad txTime: expected the expiry as exactly 8 hexadecimal digits of Unix seconds, e.g. txTime=5c2acacc")]
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
    /// `txTime` is further ahead than the server allows (`max_url_ttl_secs`).
    #[error("signature expires too far ahead: txTime {expiry} is {} s after now ({now}), the server allows at most {max_ttl} s (max_url_ttl_secs); ask for a URL with a shorter TTL", expiry.saturating_sub(*now))]
    TooFarAhead {
        /// The expiry the URL carries (Unix seconds).
        expiry: u64,
        /// The server's time (Unix seconds).
        now: u64,
        /// The longest validity the server accepts, in seconds.
        max_ttl: u64,
    },
}

impl SignatureError {
    /// A short stable name for logs, metrics labels and webhook error codes (see
    /// [`crate::webhook_event::errcode::for_reason`]): `signature_missing`, `signature_bad`, `signature_expired`,
    /// `signature_ttl_too_long`.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::BadTime | SignatureError::BadSecret => "signature_bad",
            SignatureError::Expired { .. } => "signature_expired",
            SignatureError::TooFarAhead { .. } => "signature_ttl_too_long",
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

/// `txTime` for an expiry: eight lowercase hex digits. Expiries past 2106 (beyond eight digits) are cut to the
/// largest one that fits, which `max_ttl` refuses long before.
pub fn tx_time(expiry: u64) -> String {
    format!("{:08x}", expiry.min(u64::from(u32::MAX)))
}

/// The query `txSecret=...&txTime=...` for a URL that expires at `expiry` (Unix seconds).
pub fn sign_query(key: &str, stream: &str, expiry: u64) -> String {
    let tx_time = tx_time(expiry);
    format!(
        "txSecret={}&txTime={tx_time}",
        tx_secret(key, stream, &tx_time)
    )
}

/// Checks the `txSecret`/`txTime` pair in `query` (a URL query without `?`) for `stream` at `now` (Unix seconds):
/// `txTime` must be eight hex digits, the secret must match, and the expiry must lie between `now` and
/// `now + max_ttl`.
pub fn verify(
    key: &str,
    stream: &str,
    query: Option<&str>,
    now: u64,
    max_ttl: u64,
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
    // `from_str_radix` alone would also take a leading `+`, which would let a name's last character move too.
    if time.len() != TX_TIME_DIGITS || !time.bytes().all(|b| b.is_ascii_hexdigit()) {
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
    if expiry - now > max_ttl {
        return Err(SignatureError::TooFarAhead {
            expiry,
            now,
            max_ttl,
        });
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

    /// No limit on how far ahead, for the tests about other checks.
    const ANY_TTL: u64 = u64::MAX;

    #[test]
    fn tencent_vector() {
        assert_eq!(
            tx_secret("somestring", "test", "5c2acacc"),
            "b77e812107e1d8b8f247885a46e1bd34"
        );
        let q = "txSecret=b77e812107e1d8b8f247885a46e1bd34&txTime=5c2acacc";
        assert_eq!(
            verify("somestring", "test", Some(q), 0x5c2a_ca00, ANY_TTL),
            Ok(())
        );
    }

    #[test]
    fn tx_time_is_hashed_as_written_in_either_case() {
        let upper = tx_secret("k", "s", "5C2ACACC");
        assert_ne!(upper, tx_secret("k", "s", "5c2acacc"));
        let q = format!("txSecret={upper}&txTime=5C2ACACC");
        assert_eq!(verify("k", "s", Some(&q), 0, ANY_TTL), Ok(()));
        let q = format!("txSecret={}&txTime=5C2ACACC", upper.to_uppercase());
        assert_eq!(verify("k", "s", Some(&q), 0, ANY_TTL), Ok(()));
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let good = sign_query("key", "cam", 1000);
        assert_eq!(verify("key", "cam", Some(&good), 999, ANY_TTL), Ok(()));
        assert_eq!(
            verify("key", "cam", None, 0, ANY_TTL),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify("key", "cam", Some("txTime=10"), 0, ANY_TTL),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(
                "key",
                "cam",
                Some("txSecret=ab&txTime=zzzzzzzz"),
                0,
                ANY_TTL
            ),
            Err(SignatureError::BadTime)
        );
        assert_eq!(
            verify("other", "cam", Some(&good), 0, ANY_TTL),
            Err(SignatureError::BadSecret)
        );
        assert_eq!(
            verify("key", "cam2", Some(&good), 0, ANY_TTL),
            Err(SignatureError::BadSecret)
        );
        assert_eq!(
            verify("key", "cam", Some(&good), 1001, ANY_TTL),
            Err(SignatureError::Expired {
                expiry: 1000,
                now: 1001
            })
        );
        assert_eq!(
            verify("key", "cam", Some(&good), 100, 899),
            Err(SignatureError::TooFarAhead {
                expiry: 1000,
                now: 100,
                max_ttl: 899
            })
        );
        assert_eq!(verify("key", "cam", Some(&good), 100, 900), Ok(()));
        assert_eq!(
            SignatureError::Expired { expiry: 0, now: 1 }.reason(),
            "signature_expired"
        );
        assert_eq!(
            SignatureError::TooFarAhead {
                expiry: 2,
                now: 1,
                max_ttl: 0
            }
            .reason(),
            "signature_ttl_too_long"
        );
    }

    /// The attack this module's fixed width closes: `cam1` + `6b1021f8` and `cam` + `16b1021f8` are the same MD5
    /// input.
    #[test]
    fn a_name_digit_cannot_move_into_tx_time() {
        let q = sign_query("key", "cam1", 0x6b10_21f8);
        assert!(q.ends_with("txTime=6b1021f8"), "{q}");
        let secret = &q["txSecret=".len().."txSecret=".len() + 32];
        let moved = format!("txSecret={secret}&txTime=16b1021f8");
        assert_eq!(
            verify("key", "cam", Some(&moved), 0x6b00_0000, ANY_TTL),
            Err(SignatureError::BadTime)
        );
        for time in [
            "6b1021f",
            "+6b1021f8",
            "+b1021f8",
            "06b1021f8",
            " 6b1021f",
            "0x6b1021",
        ] {
            let q = format!("txSecret={secret}&txTime={time}");
            assert_eq!(
                verify("key", "cam1", Some(&q), 0, ANY_TTL),
                Err(SignatureError::BadTime),
                "{time}"
            );
        }
    }

    #[test]
    fn tx_time_is_always_eight_digits() {
        assert_eq!(tx_time(0), "00000000");
        assert_eq!(tx_time(0x5c2a_cacc), "5c2acacc");
        assert_eq!(tx_time(u64::MAX), "ffffffff");
        let q = sign_query("k", "s", 5);
        assert_eq!(verify("k", "s", Some(&q), 5, 0), Ok(()));
    }

    #[test]
    fn other_parameters_are_ignored() {
        let q = format!("mode=rtc&{}&extra=1", sign_query("key", "cam", 50));
        assert_eq!(verify("key", "cam", Some(&q), 10, ANY_TTL), Ok(()));
    }

    /// Characters of stream names (the control plane's rule) and of `txTime`.
    const NAME: &str = "[A-Za-z0-9_.-]{1,24}";

    proptest! {
        #[test]
        fn signed_queries_verify(key in ".{0,40}", stream in NAME, expiry in 0u64..u64::from(u32::MAX)) {
            let q = sign_query(&key, &stream, expiry);
            prop_assert_eq!(verify(&key, &stream, Some(&q), expiry, 0), Ok(()));
        }

        /// For an issued signature, no other (stream, txTime) pair verifies: every other split of the same MD5
        /// input, in either case, and any other name or time.
        #[test]
        fn no_other_stream_or_time_verifies(
            key in "[ -~]{0,20}",
            stream in NAME,
            expiry in 0u64..u64::from(u32::MAX),
            other_stream in NAME,
            other_time in "[0-9a-fA-F+]{1,16}",
        ) {
            let tx_time = tx_time(expiry);
            let secret = tx_secret(&key, &stream, &tx_time);
            let whole = format!("{stream}{tx_time}");
            let mut candidates: Vec<(String, String)> = (1..whole.len())
                .map(|at| (whole[..at].to_string(), whole[at..].to_string()))
                .collect();
            candidates.extend(candidates.clone().into_iter().map(|(s, t)| (s, t.to_uppercase())));
            candidates.push((other_stream.clone(), tx_time.clone()));
            candidates.push((stream.clone(), other_time.clone()));
            candidates.push((other_stream, other_time));
            for (s, t) in candidates {
                let q = format!("txSecret={secret}&txTime={t}");
                let verdict = verify(&key, &s, Some(&q), 0, ANY_TTL);
                let same = s == stream && t.eq_ignore_ascii_case(&tx_time)
                    && (t == tx_time || tx_secret(&key, &s, &t) == secret);
                if same {
                    prop_assert_eq!(verdict, Ok(()));
                } else {
                    prop_assert!(verdict.is_err(), "{}/{} verified with the signature of {}/{}", s, t, stream, tx_time);
                }
            }
        }

        #[test]
        fn arbitrary_queries_never_panic(q in ".{0,200}", now in any::<u64>(), max in any::<u64>()) {
            let _ = verify("key", "cam", Some(&q), now, max);
        }
    }
}
