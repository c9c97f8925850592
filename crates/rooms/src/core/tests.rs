//! Checks that need the core's private state.

use std::time::Instant;

use super::*;
use crate::store::MemoryStore;
use crate::{sign, SignedFields};

struct Urls;
impl MediaUrls for Urls {
    fn push_url(&self, stream: &str) -> String {
        format!("rtmp://h/room/{stream}")
    }
    fn play_urls(&self, stream: &str) -> PlayUrls {
        PlayUrls {
            rtmp: format!("rtmp://h/room/{stream}"),
            flv: format!("http://h/room/{stream}.flv"),
        }
    }
}

const UNIX: u64 = 1_559_129_714;

fn join(
    rooms: &mut Rooms<MemoryStore>,
    conn: ConnId,
    group: &str,
    open_id: &str,
    now: Instant,
) -> String {
    rooms.handle_input(Input::Open { conn }, now);
    let ts = UNIX.to_string();
    let nonce = format!("n{conn}");
    let signature = sign(
        &SignedFields {
            app_id: "wx1",
            group_id: group,
            nonce_str: &nonce,
            time_stamp: &ts,
        },
        "key",
    );
    let text = format!(
        r#"{{"type":"join","appId":"wx1","groupId":"{group}","openId":"{open_id}","nonceStr":"{nonce}","timeStamp":"{ts}","signature":"{signature}"}}"#
    );
    let input = Input::Text {
        conn,
        text: &text,
        unix_secs: UNIX,
    };
    rooms.handle_input(input, now);
    let mut reply = String::new();
    while let Some(out) = rooms.poll_output() {
        match out {
            Output::LookupSessionKey { conn, .. } => {
                let key = SessionKey::Found("key".into());
                rooms.handle_input(Input::SessionKey { conn, key }, now)
            }
            Output::Send { conn: to, message } if to == conn && reply.is_empty() => {
                reply = message.to_json()
            }
            _ => {}
        }
    }
    reply
}

/// Names are unique by construction; should two identities ever derive one name (a bug, a hash collision), the
/// second join is refused instead of being handed the first one's stream.
#[test]
fn a_join_whose_stream_belongs_to_another_identity_is_refused() {
    let now = Instant::now();
    let mut rooms = Rooms::new(Config::default(), MemoryStore::new(), Box::new(Urls));
    assert!(join(&mut rooms, 1, "g", "a", now).starts_with(r#"{"type":"joined""#));
    // Pretend b's stream collides with a's.
    let taken = rooms.owners[&stream_name("wx1", "g", "a")].clone();
    rooms.owners.insert(stream_name("wx1", "g", "b"), taken);
    let reply = join(&mut rooms, 2, "g", "b", now);
    assert!(
        reply.contains(&format!(r#""errCode":{}"#, codes::SYSTEM_ERROR)),
        "{reply}"
    );
    assert!(reply.contains("already belongs to openId a"), "{reply}");
    assert_eq!(rooms.members("wx1", "g"), ["a"]);
    assert_eq!(
        rooms
            .store()
            .members(&RoomKey {
                app: "wx1".into(),
                group: "g".into()
            })
            .unwrap(),
        ["a"]
    );
    // The owner itself rejoining (a takeover from another socket) is not a conflict.
    assert!(join(&mut rooms, 3, "g", "a", now).starts_with(r#"{"type":"joined""#));
}

/// The randomness rule of the sans-IO contract: the core's one random value (the secret that keys resume tokens)
/// comes from `Config::rng_seed`, so the same seed and inputs give the same outputs, tokens included.
#[test]
fn the_same_seed_gives_the_same_resume_tokens() {
    let now = Instant::now();
    let joined = |seed| {
        let config = Config {
            rng_seed: Some(seed),
            ..Config::default()
        };
        let mut rooms = Rooms::new(config, MemoryStore::new(), Box::new(Urls));
        join(&mut rooms, 1, "g", "a", now)
    };
    let first = joined(7);
    assert!(first.contains(r#""resumeToken":""#), "{first}");
    assert_eq!(first, joined(7));
    assert_ne!(first, joined(8));
}
