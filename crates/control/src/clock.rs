//! The wall clock as Unix time, read in one place for the control plane, the server and the CLI (the hub and the
//! protocol crates take times as arguments instead).
//!
//! A clock set before 1970 reads as 0; one past what the type holds saturates. Neither happens on a sane host,
//! and neither panics.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch: signed URL expiries (`txTime`), webhook `t` and `event_time`, room join
/// timestamps, token lifetimes.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch: the unit of every time in the store (forbids, webhooks, channels), of
/// HLS program date times and of the hub's publish start times.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds_agree() {
        let (s, ms) = (now_unix(), now_ms());
        // Past 2020-01-01, and the two readings within a second of each other.
        assert!(s > 1_577_836_800);
        assert!(ms / 1000 - i64::try_from(s).unwrap() <= 1);
    }
}
