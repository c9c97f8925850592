//! The name of a member's stream in the media app, derived from (appId, groupId, openId).
//!
//! Every app's members push into one media app, so the name must tell apart what the ids tell apart. Joining
//! the ids with `_` does not: `_` may occur in both, so (group `a_b`, openId `c`) and (group `a`, openId `b_c`)
//! would share `a_b_c`, and the appId would be lost. The name is therefore a readable prefix for operators
//! (`{groupId}_{openId}`, each cut short) followed by `-` and 128 bits of SHA-256 over an unambiguous encoding of
//! the three ids (each length-prefixed). The hash makes names unique; the prefix only helps reading. No secret
//! or per-process value goes in, so every node and every restart derives the same name.

use sha2::{Digest, Sha256};

use crate::signature::hex_of;

/// Characters of `groupId` kept in the readable prefix.
const GROUP_PREFIX_CHARS: usize = 40;
/// Characters of `openId` kept in the readable prefix.
const OPEN_ID_PREFIX_CHARS: usize = 39;
/// Bytes of the digest in the name (32 hex characters).
const HASH_BYTES: usize = 16;
/// Longest name: both prefixes, `_`, `-` and the hash; well within the control plane's 128 characters.
pub const MAX_STREAM_NAME_CHARS: usize =
    GROUP_PREFIX_CHARS + 1 + OPEN_ID_PREFIX_CHARS + 1 + HASH_BYTES * 2;

// The control plane refuses stream names longer than 128 characters.
const _: () = assert!(MAX_STREAM_NAME_CHARS <= 128);

/// The stream of member `open_id` of group `group` of app `app`:
/// `{groupId (up to 40)}_{openId (up to 39)}-{32 lowercase hex}`, at most [`MAX_STREAM_NAME_CHARS`] characters of
/// `[A-Za-z0-9_.-]`. Distinct triples get distinct names (up to a 128-bit hash collision).
pub fn stream_name(app: &str, group: &str, open_id: &str) -> String {
    let mut hash = Sha256::new();
    // A domain and version tag: another derivation later cannot produce these names by accident.
    hash.update(b"mplive/room-stream/v1");
    for id in [app, group, open_id] {
        hash.update((id.len() as u64).to_be_bytes());
        hash.update(id.as_bytes());
    }
    let digest = hash.finalize();
    format!(
        "{}_{}-{}",
        readable(group, GROUP_PREFIX_CHARS),
        readable(open_id, OPEN_ID_PREFIX_CHARS),
        hex_of(&digest[..HASH_BYTES])
    )
}

/// The start of an id for reading; characters a stream name cannot hold are dropped (the join checks refuse
/// them before a name is made, so this only keeps the function total).
fn readable(id: &str, max: usize) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// The control plane's rule for stream names (crates/control/src/store/validate.rs).
    fn valid(name: &str) -> bool {
        (1..=128).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !name.chars().all(|c| c == '.')
    }

    #[test]
    fn underscores_and_apps_do_not_collide() {
        let one = stream_name("wx1", "a_b", "c");
        let other = stream_name("wx1", "a", "b_c");
        assert_ne!(one, other);
        assert!(one.starts_with("a_b_c-") && other.starts_with("a_b_c-"));
        assert_ne!(stream_name("wx1", "zz", "c"), stream_name("wx2", "zz", "c"));
        // Stable across nodes, restarts and versions: pinned (computed independently: SHA-256 of the tag, then
        // each id as a big-endian u64 length and its bytes), so a change of derivation is noticed.
        assert_eq!(
            stream_name("wx20afc706a711eefc", "g1", "alice"),
            "g1_alice-e493e66ae4190de3fe215c55e72fbd46"
        );
    }

    #[test]
    fn longest_ids_stay_within_the_rule() {
        let long = "x".repeat(128);
        let name = stream_name(&long, &long, &long);
        assert_eq!(name.len(), MAX_STREAM_NAME_CHARS);
        assert!(valid(&name), "{name}");
        // Ids that differ only past the readable prefix still differ.
        let a = format!("{long}a");
        assert_ne!(stream_name("w", &long, "o"), stream_name("w", &a, "o"));
        // Odd input (refused by the join checks) still gives a valid name.
        assert!(valid(&stream_name("", "", "")));
        assert!(valid(&stream_name("é", "..", "a b")));
    }

    fn id() -> impl Strategy<Value = String> {
        // A small alphabet full of separators makes near-collisions ("a_b"+"c" vs "a"+"b_c") likely.
        prop::string::string_regex("[ab_.-]{1,6}").expect("valid regex")
    }

    fn any_id() -> impl Strategy<Value = String> {
        prop::string::string_regex("[A-Za-z0-9_.-]{1,128}").expect("valid regex")
    }

    proptest! {
        #[test]
        fn distinct_triples_get_distinct_names(
            triples in prop::collection::vec((id(), id(), id()), 1..200)
        ) {
            let mut seen: HashMap<String, (String, String, String)> = HashMap::new();
            for t in triples {
                let name = stream_name(&t.0, &t.1, &t.2);
                prop_assert!(valid(&name) && name.len() <= MAX_STREAM_NAME_CHARS, "{}", name);
                if let Some(before) = seen.insert(name.clone(), t.clone()) {
                    prop_assert_eq!(&before, &t, "{} for two triples", name);
                }
            }
        }

        #[test]
        fn names_of_any_allowed_ids_are_valid(app in any_id(), group in any_id(), open_id in any_id()) {
            let name = stream_name(&app, &group, &open_id);
            prop_assert!(valid(&name) && name.len() <= MAX_STREAM_NAME_CHARS, "{}", name);
            prop_assert_ne!(name, stream_name(&app, &group, &format!("{open_id}_")));
        }
    }
}
