//! The checks the fuzz targets run (fuzz/fuzz_targets/rooms_messages.rs), public so that tests/corpus.rs can replay
//! fuzz/corpus/rooms_messages/ on stable without cargo-fuzz. Not part of the stable API.

use std::time::{Duration, Instant};

use crate::{
    sign, Config, Input, MediaUrls, MemoryStore, Output, PlayUrls, Rooms, SessionKey, SignedFields,
};

struct Urls;

impl MediaUrls for Urls {
    fn push_url(&self, stream: &str) -> String {
        format!("rtmp://fuzz/room/{stream}")
    }
    fn play_urls(&self, stream: &str) -> PlayUrls {
        PlayUrls {
            rtmp: format!("rtmp://fuzz/room/{stream}"),
            flv: format!("http://fuzz/room/{stream}.flv"),
        }
    }
}

const APP: &str = "wxfuzz";
const UNIX: u64 = 1_700_000_000;

/// Runs `data` through a core in which members `a` and `b` of group `g` have joined (connections 0 and 1; 2 and 3
/// are open, not joined). Each line of `data` is one message: its first byte picks the connection (mod 4) and,
/// when it has the top bit set, first advances the clock by (byte & 0x3f) * 250 ms; the rest is the text (lossy
/// UTF-8). Session-key lookups are answered with the openId as the key, store work with a [`MemoryStore`] in the
/// order emitted. After every message the core must agree with its store. Returns the number of messages the core
/// sent.
pub fn messages(data: &[u8]) -> usize {
    let start = Instant::now();
    let mut now = start;
    let mut rooms = Rooms::new(
        Config {
            max_members: 3,
            rng_seed: Some(9),
            ..Config::default()
        },
        Box::new(Urls),
    );
    let mut store = MemoryStore::new();
    let mut sent = 0;
    for conn in 0..4 {
        rooms.handle_input(Input::Open { conn }, now);
    }
    for (conn, open_id) in [(0u64, "a"), (1, "b")] {
        let nonce = format!("n{conn}");
        let ts = UNIX.to_string();
        let signature = sign(
            &SignedFields {
                app_id: APP,
                group_id: "g",
                nonce_str: &nonce,
                time_stamp: &ts,
            },
            open_id,
        );
        let join = format!(
            r#"{{"type":"join","appId":"{APP}","groupId":"g","openId":"{open_id}","nonceStr":"{nonce}","timeStamp":"{ts}","signature":"{signature}","roomType":"video"}}"#
        );
        let input = Input::Text {
            conn,
            text: &join,
            unix_secs: UNIX,
        };
        rooms.handle_input(input, now);
        sent += drain(&mut rooms, &mut store, now);
    }
    for line in data.split(|b| *b == b'\n') {
        let Some((&first, text)) = line.split_first() else {
            continue;
        };
        if first & 0x80 != 0 {
            now += Duration::from_millis(u64::from(first & 0x3f) * 250);
            rooms.handle_timeout(now);
        }
        let unix = UNIX + (now - start).as_secs();
        let input = Input::Text {
            conn: u64::from(first % 4),
            text: &String::from_utf8_lossy(text),
            unix_secs: unix,
        };
        rooms.handle_input(input, now);
        sent += drain(&mut rooms, &mut store, now);
        check(&rooms, &store);
    }
    sent
}

fn drain(rooms: &mut Rooms, store: &mut MemoryStore, now: Instant) -> usize {
    let mut sent = 0;
    while let Some(out) = rooms.poll_output() {
        match out {
            Output::Send { message, .. } => {
                // Every message serializes.
                let _ = message.to_json();
                sent += 1;
            }
            Output::Close { conn, .. } => rooms.handle_input(Input::Closed { conn }, now),
            Output::LookupSessionKey { conn, open_id, .. } => {
                let key = SessionKey::Found(open_id);
                rooms.handle_input(Input::SessionKey { conn, key }, now)
            }
            store_work => {
                if let Some(answer) = store.apply(&store_work) {
                    rooms.handle_input(answer, now);
                }
            }
        }
    }
    sent
}

fn check(rooms: &Rooms, store: &MemoryStore) {
    let mut in_store = 0;
    for (key, members) in store.rooms() {
        assert!(!members.is_empty(), "an empty room exists");
        assert!(
            members.len() <= rooms.config().max_members,
            "a room is over its size"
        );
        assert_eq!(
            rooms.members(&key.app, &key.group),
            members,
            "core and store disagree"
        );
        in_store += 1;
    }
    assert_eq!(in_store, rooms.room_count());
}
