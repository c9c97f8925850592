//! The join signature of `wx.joinVoIPChat`: `hex(hmac_sha256(key = sessionKey, sorted([appId, groupId, nonceStr,
//! timeStamp]).join("")))`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The four signed fields, as the client sent them (the timestamp as its decimal text).
#[derive(Debug, Clone, Copy)]
pub struct SignedFields<'a> {
    /// The app id (the mplive app name).
    pub app_id: &'a str,
    /// The room's group id.
    pub group_id: &'a str,
    /// The one-time random string.
    pub nonce_str: &'a str,
    /// Unix seconds, as decimal text.
    pub time_stamp: &'a str,
}

impl SignedFields<'_> {
    /// The signed message: the four strings sorted by bytes and concatenated.
    fn message(&self) -> String {
        let mut parts = [self.app_id, self.group_id, self.nonce_str, self.time_stamp];
        parts.sort_unstable();
        parts.concat()
    }

    fn mac(&self, session_key: &str) -> HmacSha256 {
        // HMAC takes a key of any length, so `new_from_slice` cannot fail here.
        let mut mac = HmacSha256::new_from_slice(session_key.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(self.message().as_bytes());
        mac
    }
}

/// Computes the signature (lowercase hex), as an app's backend does. The session key is used as the literal
/// string (its base64 text), exactly as WeChat does.
pub fn sign(fields: &SignedFields<'_>, session_key: &str) -> String {
    hex(&fields.mac(session_key).finalize().into_bytes())
}

/// Checks a presented signature (hex, either case) in constant time.
pub fn verify(fields: &SignedFields<'_>, session_key: &str, signature: &str) -> bool {
    verified_mac(fields, session_key, signature).is_some()
}

/// The MAC a presented signature carries, when it is right for `fields` (checked in constant time).
///
/// The replay memory keys on these bytes rather than on the text: the hex may come in either case, and the MAC
/// is what a re-split of the same signed fields carries unchanged (the concatenation has no separators, so
/// `groupId` `team-vip1` with nonce `N` and `groupId` `vip1` with nonce `N` + `team-` sign the same message).
pub(crate) fn verified_mac(
    fields: &SignedFields<'_>,
    session_key: &str,
    signature: &str,
) -> Option<[u8; 32]> {
    let presented: [u8; 32] = unhex(signature)?.try_into().ok()?;
    // `verify_slice` compares in constant time.
    fields
        .mac(session_key)
        .verify_slice(&presented)
        .ok()
        .map(|()| presented)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

/// Lowercase hex of arbitrary bytes (resume tokens).
pub(crate) fn hex_of(bytes: &[u8]) -> String {
    hex(bytes)
}

/// HMAC-SHA256 of `message` under `key` (resume tokens are derived this way from the core's secret).
pub(crate) fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: SignedFields<'static> = SignedFields {
        app_id: "wx20afc706a711eefc",
        group_id: "1559129713_672975982",
        nonce_str: "8AP6DT9ybtniUJfb",
        time_stamp: "1559129714",
    };
    const SEED_KEY: &str = "gDyVgzwa0mFz9uUP7M6GQQ==";
    const SEED_SIGNATURE: &str = "b002b824688dd8593a6079e11d8c5e8734fbcb39a6d5906eb347bfbcad79c617";

    #[test]
    fn seed_message_is_sorted_concatenation() {
        assert_eq!(
            SEED.message(),
            "1559129713_67297598215591297148AP6DT9ybtniUJfbwx20afc706a711eefc"
        );
    }

    #[test]
    fn seed_vector() {
        assert_eq!(sign(&SEED, SEED_KEY), SEED_SIGNATURE);
        assert!(verify(&SEED, SEED_KEY, SEED_SIGNATURE));
        assert!(verify(&SEED, SEED_KEY, &SEED_SIGNATURE.to_uppercase()));
    }

    #[test]
    fn seed_resplits_sign_the_same_message() {
        // Why the replay memory keys on the MAC: without separators, moving characters between sorted fields
        // keeps the message, so the signature stays valid for another groupId.
        let genuine = SignedFields {
            group_id: "team-vip1",
            ..SEED
        };
        let signature = sign(&genuine, SEED_KEY);
        for (group_id, nonce_str) in [
            ("vip1", "8AP6DT9ybtniUJfbteam-"),
            ("bteam-vip1", "8AP6DT9ybtniUJf"),
        ] {
            let resplit = SignedFields {
                group_id,
                nonce_str,
                ..genuine
            };
            assert_eq!(resplit.message(), genuine.message());
            assert_eq!(
                verified_mac(&resplit, SEED_KEY, &signature),
                verified_mac(&genuine, SEED_KEY, &signature)
            );
        }
        assert!(verified_mac(&genuine, SEED_KEY, &signature).is_some());
    }

    #[test]
    fn wrong_key_field_or_shape_fails() {
        assert!(!verify(&SEED, "other", SEED_SIGNATURE));
        let other = SignedFields {
            nonce_str: "x",
            ..SEED
        };
        assert!(!verify(&other, SEED_KEY, SEED_SIGNATURE));
        assert!(!verify(&SEED, SEED_KEY, &SEED_SIGNATURE[..62]));
        assert!(!verify(&SEED, SEED_KEY, "zz"));
        assert!(!verify(&SEED, SEED_KEY, &"g".repeat(64)));
        assert!(!verify(&SEED, SEED_KEY, &"é".repeat(32)));
    }
}
