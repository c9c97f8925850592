//! The checks the fuzz target runs (fuzz/fuzz_targets/txsecret_verify.rs), public so that tests/corpus.rs can
//! replay fuzz/corpus/txsecret_verify/ on stable without cargo-fuzz. Not part of the stable API.

use crate::txsecret::{self, TX_TIME_DIGITS};

/// Splits `data` into a key, a stream name and a query (lines 1-3, lossy UTF-8) and a clock and TTL bound (the
/// next 16 bytes, zero-padded), then runs [`txsecret::verify`]. Whatever the input, it must not panic, and a
/// query that verifies must satisfy every rule: `txTime` exactly eight hex digits, its expiry within
/// `[now, now + max_ttl]`, the secret equal to `md5(key + stream + txTime)`, and no other split of
/// `stream + txTime` verifying with the same query. Returns whether it verified.
pub fn txsecret_verify(data: &[u8]) -> bool {
    let mut lines = data.splitn(4, |b| *b == b'\n');
    let mut text = || String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (key, stream, query) = (text(), text(), text());
    let rest = lines.next().unwrap_or_default();
    let mut numbers = [0u8; 16];
    let n = rest.len().min(16);
    numbers[..n].copy_from_slice(&rest[..n]);
    let [now, max_ttl] = [0, 8].map(|at| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&numbers[at..at + 8]);
        u64::from_le_bytes(b) >> 16
    });
    if txsecret::verify(&key, &stream, Some(&query), now, max_ttl).is_err() {
        return false;
    }
    let field = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .rfind(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let (Some(secret), Some(time)) = (field("txSecret"), field("txTime")) else {
        panic!("verified without txSecret and txTime: {query:?}");
    };
    assert_eq!(time.len(), TX_TIME_DIGITS, "txTime {time:?} verified");
    let expiry = u64::from_str_radix(&time, 16).expect("eight hex digits");
    assert!(
        expiry >= now && expiry - now <= max_ttl,
        "expiry {expiry} verified at {now} (max {max_ttl})"
    );
    assert!(secret.eq_ignore_ascii_case(&txsecret::tx_secret(&key, &stream, &time)));
    let whole = format!("{stream}{time}");
    for at in (0..whole.len()).filter(|at| whole.is_char_boundary(*at) && *at != stream.len()) {
        let (s, t) = whole.split_at(at);
        let moved = format!("txSecret={secret}&txTime={t}");
        assert!(
            txsecret::verify(&key, s, Some(&moved), now, max_ttl).is_err(),
            "the signature of {stream:?}/{time:?} also verifies {s:?}/{t:?}"
        );
    }
    true
}
