//! Property tests: whatever clients send and whatever the clock does, the room invariants hold and nothing panics.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use rooms::{Config, Input, StreamState};
use serde_json::json;

#[derive(Debug, Clone)]
enum Step {
    Join {
        conn: u64,
        group: u8,
        user: u8,
        video: bool,
    },
    Exit {
        conn: u64,
    },
    Close {
        conn: u64,
    },
    Open {
        conn: u64,
    },
    Resume {
        conn: u64,
        of: u64,
    },
    Volume {
        conn: u64,
        volume: u8,
    },
    Mute {
        conn: u64,
        mic: bool,
    },
    Subscribe {
        conn: u64,
        users: Vec<u8>,
    },
    Stream {
        group: u8,
        user: u8,
        live: bool,
        video: bool,
    },
    Heartbeat {
        conn: u64,
    },
    Advance {
        ms: u32,
    },
    Garbage {
        conn: u64,
        text: String,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let conn = 0u64..14;
    prop_oneof![
        4 => (conn.clone(), 0u8..3, 0u8..14, any::<bool>())
            .prop_map(|(conn, group, user, video)| Step::Join { conn, group, user, video }),
        1 => conn.clone().prop_map(|conn| Step::Exit { conn }),
        1 => conn.clone().prop_map(|conn| Step::Close { conn }),
        2 => conn.clone().prop_map(|conn| Step::Open { conn }),
        1 => (conn.clone(), conn.clone()).prop_map(|(conn, of)| Step::Resume { conn, of }),
        1 => (conn.clone(), 0u8..=100).prop_map(|(conn, volume)| Step::Volume { conn, volume }),
        1 => (conn.clone(), any::<bool>()).prop_map(|(conn, mic)| Step::Mute { conn, mic }),
        1 => (conn.clone(), prop::collection::vec(0u8..14, 0..4))
            .prop_map(|(conn, users)| Step::Subscribe { conn, users }),
        2 => (0u8..3, 0u8..14, any::<bool>(), any::<bool>())
            .prop_map(|(group, user, live, video)| Step::Stream { group, user, live, video }),
        1 => conn.clone().prop_map(|conn| Step::Heartbeat { conn }),
        2 => (0u32..25_000).prop_map(|ms| Step::Advance { ms }),
        1 => (conn, ".{0,40}").prop_map(|(conn, text)| Step::Garbage { conn, text }),
    ]
}

fn check(s: &Sim, max: usize) {
    let mut seen = HashSet::new();
    let store_rooms: Vec<_> = s
        .store
        .rooms()
        .map(|(k, m)| (k.clone(), m.to_vec()))
        .collect();
    for (key, members) in &store_rooms {
        assert!(
            !members.is_empty(),
            "a room without members exists: {key:?}"
        );
        assert!(
            members.len() <= max,
            "{key:?} has {} members",
            members.len()
        );
        for m in members {
            assert!(seen.insert(m.clone()), "{m} is in two rooms");
        }
        assert_eq!(
            s.rooms.members(&key.app, &key.group),
            *members,
            "core and store agree"
        );
    }
    assert_eq!(s.rooms.room_count(), store_rooms.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn invariants_hold(steps in prop::collection::vec(step(), 1..120)) {
        let max = 4;
        let mut s = Sim::new(Config { max_members: max, daily_room_quota: 6, ..Config::default() });
        let mut tokens: std::collections::HashMap<u64, String> = Default::default();
        for step in steps {
            match step {
                Step::Join { conn, group, user, video } => {
                    let m = s.join_msg(&format!("g{group}"), &format!("u{user}"), if video { "video" } else { "voice" });
                    s.send(conn, m);
                }
                Step::Exit { conn } => s.send(conn, json!({"type":"exit","reqId":1})),
                Step::Close { conn } => { s.input(Input::Closed { conn }); s.drain(); }
                Step::Open { conn } => s.open(conn),
                Step::Resume { conn, of } => {
                    let token = tokens.get(&of).cloned().unwrap_or_default();
                    s.send(conn, json!({"type":"resume","resumeToken":token}));
                }
                Step::Volume { conn, volume } => s.send(conn, json!({"type":"volume","volume":volume})),
                Step::Mute { conn, mic } => s.send(conn, json!({"type":"updateMuteConfig","muteConfig":{"muteMicrophone":mic}})),
                Step::Subscribe { conn, users } => {
                    let list: Vec<String> = users.iter().map(|u| format!("u{u}")).collect();
                    s.send(conn, json!({"type":"subscribeVideoMembers","openIdList":list}));
                }
                Step::Stream { group, user, live, video } => {
                    let state = live.then_some(StreamState { has_audio: true, has_video: video });
                    s.input(Input::Stream { name: &sn(&format!("g{group}"), &format!("u{user}")), state });
                    s.drain();
                }
                Step::Heartbeat { conn } => s.send(conn, json!({"type":"heartbeat"})),
                Step::Advance { ms } => s.advance(Duration::from_millis(u64::from(ms))),
                Step::Garbage { conn, text } => {
                    s.text(conn, &text);
                    s.drain();
                }
            }
            for (conn, msgs) in &s.inbox {
                for m in msgs {
                    if m["type"] == "joined" {
                        tokens.insert(*conn, m["resumeToken"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
            s.inbox.clear();
            check(&s, max);
        }
        // Everyone goes away: after the grace nothing is left.
        for conn in 0..14 {
            s.input(Input::Closed { conn });
        }
        s.advance(Duration::from_secs(60));
        check(&s, max);
        prop_assert_eq!(s.rooms.room_count(), 0);
        prop_assert_eq!(s.rooms.connection_count(), 0);
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,14}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Messages of every known type with random fields (of random JSON types) never panic the core, from a socket
    /// that is a member and from one that is not.
    #[test]
    fn random_fields_never_panic(
        msgs in prop::collection::vec(
            (prop::sample::select(vec!["join", "exit", "updateMuteConfig", "subscribeVideoMembers",
                "setEnable1v1Chat", "volume", "heartbeat", "resume", "other"]),
             prop::collection::btree_map(
                prop::sample::select(vec!["reqId", "appId", "groupId", "openId", "nonceStr", "timeStamp",
                    "signature", "roomType", "muteConfig", "openIdList", "enable", "minWindowType", "volume",
                    "resumeToken"]),
                json_value(), 0..8)),
            1..30)
    ) {
        let mut s = Sim::new(Config::default());
        s.join(1, "g", "a", "video");
        s.open(2);
        for (i, (kind, fields)) in msgs.into_iter().enumerate() {
            let mut obj: serde_json::Map<String, serde_json::Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            obj.insert("type".into(), json!(kind));
            let conn = 1 + (i as u64 % 2);
            s.send(conn, serde_json::Value::Object(obj));
            check(&s, 10);
        }
    }
}
