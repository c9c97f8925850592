//! The relay credential: what a node adds to its RTMP play of another node's stream, so that node serves it as a
//! relay (no play webhooks, outside `max_players` and the player counts) instead of checking an app's play key.
//!
//! `mplive_relay=EXPIRY.MAC`: EXPIRY in Unix seconds, MAC the hex HMAC-SHA256 over `relay\n{app}/{stream}\n{EXPIRY}`
//! with the cluster secret, which only the cluster's nodes know (it lives in their Redis). A credential is valid for
//! one stream and a minute; a client that sends one without the secret is refused as `signature_bad`.
//!
//! The same secret signs the room hop ([`ROOM_HOP_HEADER`]): the mark on a room socket one node proxies to another.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The query parameter that carries the credential.
pub(crate) const PARAM: &str = "mplive_relay";

/// How long a credential is accepted for connecting, in seconds.
const VALIDITY_SECS: u64 = 60;

fn mac(secret: &[u8], app: &str, stream: &str, expiry: u64) -> String {
    mac_hex(secret, &format!("relay\n{app}/{stream}\n{expiry}"))
}

/// The hex HMAC-SHA256 of `message` with the cluster secret.
fn mac_hex(secret: &[u8], message: &str) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `mplive_relay=...` query parameter for a relay of `app/stream` made at `now` (Unix seconds).
pub(crate) fn sign(secret: &[u8], app: &str, stream: &str, now: u64) -> String {
    let expiry = now + VALIDITY_SECS;
    format!("{PARAM}={expiry}.{}", mac(secret, app, stream, expiry))
}

/// The credential in `query`, if it carries one (valid or not).
pub(crate) fn find(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(PARAM)?.strip_prefix('='))
}

/// Whether `credential` (the parameter's value) was made with `secret` for `app/stream` and is still valid at
/// `now`. Compared in constant time.
pub(crate) fn verify(secret: &[u8], credential: &str, app: &str, stream: &str, now: u64) -> bool {
    verify_with(credential, now, |expiry| mac(secret, app, stream, expiry))
}

/// Whether `credential` (`EXPIRY.MAC`) is unexpired at `now` and its MAC is `expected(EXPIRY)`, compared in
/// constant time.
fn verify_with(credential: &str, now: u64, expected: impl FnOnce(u64) -> String) -> bool {
    let Some((expiry, given)) = credential.split_once('.') else {
        return false;
    };
    let Ok(expiry) = expiry.parse::<u64>() else {
        return false;
    };
    if expiry < now || expiry > now + VALIDITY_SECS {
        return false;
    }
    let expected = expected(expiry);
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The header on a room socket that a node proxies to the room's home node: `EXPIRY.MAC` over
/// `room-hop\n{EXPIRY}`. The home serves such a socket itself instead of routing it again, so a client that
/// forges the header without the secret is refused (it could otherwise open a second copy of a room).
pub(crate) const ROOM_HOP_HEADER: &str = "x-mplive-room-hop";

/// A [`ROOM_HOP_HEADER`] value made at `now` (Unix seconds).
pub(crate) fn sign_room_hop(secret: &[u8], now: u64) -> String {
    let expiry = now + VALIDITY_SECS;
    format!(
        "{expiry}.{}",
        mac_hex(secret, &format!("room-hop\n{expiry}"))
    )
}

/// Whether a [`ROOM_HOP_HEADER`] value was made with `secret` and is valid at `now`.
pub(crate) fn verify_room_hop(secret: &[u8], value: &str, now: u64) -> bool {
    verify_with(value, now, |expiry| {
        mac_hex(secret, &format!("room-hop\n{expiry}"))
    })
}

impl super::Cluster {
    /// Whether `credential` opens `app/stream` to a relay now.
    pub(crate) fn verify_relay(&self, credential: &str, app: &str, stream: &str) -> bool {
        verify(&self.secret, credential, app, stream, control::now_unix())
    }

    /// A [`ROOM_HOP_HEADER`] value for a room socket this node proxies now.
    pub(crate) fn room_hop(&self) -> String {
        sign_room_hop(&self.secret, control::now_unix())
    }

    /// Whether `value` of [`ROOM_HOP_HEADER`] comes from a node of this cluster.
    pub(crate) fn verify_room_hop(&self, value: &str) -> bool {
        verify_room_hop(&self.secret, value, control::now_unix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_opens_one_stream_for_a_minute_and_only_with_the_secret() {
        let param = sign(b"s3cret", "live", "cam", 1000);
        let query = format!("mode=rtc&{param}");
        let value = find(Some(&query)).expect("found");
        assert!(verify(b"s3cret", value, "live", "cam", 1000));
        assert!(verify(b"s3cret", value, "live", "cam", 1060));
        assert!(!verify(b"s3cret", value, "live", "cam", 1061), "expired");
        assert!(
            !verify(b"other", value, "live", "cam", 1000),
            "another secret"
        );
        assert!(
            !verify(b"s3cret", value, "live", "cam2", 1000),
            "another stream"
        );
        assert!(!verify(b"s3cret", "1060.00", "live", "cam", 1000), "forged");
        assert!(!verify(b"s3cret", "junk", "live", "cam", 1000));
        assert_eq!(find(Some("txSecret=a&txTime=b")), None);
    }

    #[test]
    fn a_room_hop_needs_the_secret_and_is_not_a_relay_credential() {
        let hop = sign_room_hop(b"s3cret", 1000);
        assert!(verify_room_hop(b"s3cret", &hop, 1000));
        assert!(!verify_room_hop(b"s3cret", &hop, 1061), "expired");
        assert!(!verify_room_hop(b"other", &hop, 1000), "another secret");
        assert!(!verify_room_hop(b"s3cret", "1060.00", 1000), "forged");
        let relay = sign(b"s3cret", "live", "cam", 1000);
        let relay = relay.trim_start_matches("mplive_relay=");
        assert!(
            !verify_room_hop(b"s3cret", relay, 1000),
            "a relay credential is not a hop"
        );
    }
}
