//! One test per rule of the wire contract, on a simulated set of clients.

mod common;

use std::time::Duration;

use common::*;
use rooms::{codes, Config, Input, StreamState};
use serde_json::json;

fn config() -> Config {
    Config::default()
}

#[test]
fn join_reply_and_members_changed() {
    let mut s = Sim::new(config());
    let a = s.join(1, "g", "a", "video");
    assert_eq!(a["type"], "joined");
    assert_eq!(a["reqId"], 1);
    assert_eq!(ids(&a), ["a"]);
    assert_eq!(
        a["pushUrl"],
        format!("rtmp://h/room/{}?txSecret=x", sn("g", "a"))
    );
    assert_eq!(a["heartbeatIntervalMs"], 7000);
    assert_eq!(a["resumed"], false);
    assert_eq!(s.take_type(1, "stateChanged")[0]["state"], "joined");
    let b = s.join(2, "g", "b", "video");
    assert_eq!(ids(&b), ["a", "b"]);
    assert_eq!(b["members"][0]["openId"], "a");
    assert_eq!(
        b["members"][0]["playUrls"]["flv"],
        format!("http://h/room/{}.flv", sn("g", "a"))
    );
    let changed = s.take_type(1, "membersChanged");
    assert_eq!(changed.len(), 1);
    assert_eq!(ids(&changed[0]), ["a", "b"]);
    assert_eq!(changed[0]["members"][0]["openId"], "b");
    // b leaves: a sees it; b gets exited + stateChanged exited.
    s.take(2);
    s.send(2, json!({"type":"exit","reqId":"x"}));
    let out = s.take(2);
    assert_eq!(out[0], json!({"type":"exited","reqId":"x"}));
    assert_eq!(out[1]["state"], "exited");
    assert_eq!(ids(&s.take_type(1, "membersChanged")[0]), ["a"]);
}

#[test]
fn signature_timestamp_and_nonce_errors() {
    let mut s = Sim::new(config());
    s.open(1);
    let ts = s.unix.to_string();
    let mut bad = signed_join("g", "a", "voice", "n1", &ts, "wrong-key");
    s.send(1, bad.clone());
    assert_eq!(code(&s.take(1)[0]), codes::BAD_SIGNATURE as i64);
    // Milliseconds get their own message.
    let ms = (s.unix * 1000).to_string();
    bad = signed_join("g", "a", "voice", "n2", &ms, &key_of("a"));
    s.send(1, bad);
    let r = &s.take(1)[0];
    assert_eq!(code(r), codes::BAD_TIMESTAMP as i64);
    assert!(r["errMsg"]
        .as_str()
        .unwrap()
        .contains("milliseconds; send seconds"));
    // Outside the window, either way.
    for ts in [s.unix - 301, s.unix + 301] {
        s.send(
            1,
            signed_join("g", "a", "voice", "n3", &ts.to_string(), &key_of("a")),
        );
        assert_eq!(code(&s.take(1)[0]), codes::BAD_TIMESTAMP as i64);
    }
    // At the edge it is fine.
    let edge = (s.unix - 300).to_string();
    s.send(1, signed_join("g", "a", "voice", "n4", &edge, &key_of("a")));
    assert_eq!(s.take(1)[0]["type"], "joined");
    // The same nonce again (another user, another socket) is a replay.
    s.open(2);
    s.send(2, signed_join("g", "b", "voice", "n4", &ts, &key_of("b")));
    assert_eq!(code(&s.take(2)[0]), codes::BAD_NONCE as i64);
    // Empty and 33-character nonces are refused; 32 is fine.
    s.send(2, signed_join("g", "b", "voice", "", &ts, &key_of("b")));
    assert_eq!(code(&s.take(2)[0]), codes::BAD_NONCE as i64);
    s.send(
        2,
        signed_join("g", "b", "voice", &"x".repeat(33), &ts, &key_of("b")),
    );
    let r = &s.take(2)[0];
    assert_eq!(code(r), codes::BAD_NONCE as i64);
    assert!(r["errMsg"].as_str().unwrap().contains("1 to 32"), "{r}");
    s.send(
        2,
        signed_join("g", "b", "voice", &"x".repeat(32), &ts, &key_of("b")),
    );
    assert_eq!(s.take(2)[0]["type"], "joined");
}

#[test]
fn nonce_charset_and_configured_length() {
    let mut s = Sim::new(Config {
        max_nonce_chars: 40,
        ..config()
    });
    s.open(1);
    let ts = s.unix.to_string();
    // Only letters, digits, '_' and '-': signed or not, anything else is refused before the key lookup.
    for nonce in ["a.b", "a b", "a+b", "é", "a/b", "n\u{0}"] {
        s.send(1, signed_join("g", "a", "voice", nonce, &ts, &key_of("a")));
        let r = &s.take(1)[0];
        assert_eq!(code(r), codes::BAD_NONCE as i64, "{nonce:?}: {r}");
        assert!(
            r["errMsg"].as_str().unwrap().contains("letters, digits"),
            "{r}"
        );
    }
    // A UUID (36 characters with '-') fits a 40-character bound.
    let uuid = "123e4567-e89b-12d3-a456-426614174000";
    s.send(1, signed_join("g", "a", "voice", uuid, &ts, &key_of("a")));
    assert_eq!(s.take(1)[0]["type"], "joined");
}

#[test]
fn timestamp_must_be_plain_decimal_seconds() {
    let mut s = Sim::new(config());
    s.open(1);
    let ts = s.unix.to_string();
    // Each is the right time by Rust's or JavaScript's parse, and correctly signed: only one spelling is taken.
    for spelling in [
        format!("+{ts}"),
        format!("0{ts}"),
        format!(" {ts}"),
        format!("{ts} "),
        format!("{ts}.0"),
        format!("-{ts}"),
        "1.559129714e9".to_string(),
        "0x5CEF7E72".to_string(),
        String::new(),
    ] {
        s.send(
            1,
            signed_join("g", "a", "voice", "n1", &spelling, &key_of("a")),
        );
        let r = &s.take(1)[0];
        assert_eq!(code(r), codes::BAD_TIMESTAMP as i64, "{spelling:?}: {r}");
        assert!(
            r["errMsg"]
                .as_str()
                .unwrap()
                .contains("decimal digits only, no sign"),
            "{r}"
        );
    }
    // Far too long for u64: refused, not a panic. "0" is well formed (and outside the window).
    for (spelling, says) in [
        ("9".repeat(30), "at most 11 digits"),
        ("0".into(), "within 300 s"),
    ] {
        s.send(
            1,
            signed_join("g", "a", "voice", "n1", &spelling, &key_of("a")),
        );
        let r = &s.take(1)[0];
        assert_eq!(code(r), codes::BAD_TIMESTAMP as i64, "{r}");
        assert!(r["errMsg"].as_str().unwrap().contains(says), "{r}");
    }
    // A JSON number is its decimal text.
    let mut m = signed_join("g", "a", "voice", "n1", &ts, &key_of("a"));
    m["timeStamp"] = json!(s.unix);
    s.send(1, m);
    assert_eq!(s.take(1)[0]["type"], "joined");
}

/// The signed message is the four sorted fields without separators, so one signature also verifies for other
/// splits of the same text. The memory of used MACs refuses every split after the first.
#[test]
fn resplit_joins_are_replays() {
    let mut s = Sim::new(Config {
        heartbeat_interval: Duration::from_secs(1000),
        ..config()
    });
    let ts = s.unix.to_string();
    let nonce = "8AP6DT9ybtniUJfb";
    let genuine = signed_join("team-vip1", "a", "voice", nonce, &ts, &key_of("a"));
    let resplit = |group: &str, nonce: &str| {
        let mut m = genuine.clone();
        m["groupId"] = json!(group);
        m["nonceStr"] = json!(nonce);
        m
    };
    s.open(1);
    s.send(1, genuine.clone());
    assert_eq!(s.take(1)[0]["type"], "joined");
    s.send(1, json!({"type":"exit"}));
    s.take(1);
    // The same signature split differently: other groups, other nonces; refused as replays (after the exit, so
    // it is not "already in a room" that refuses them), from any socket.
    s.open(2);
    for m in [
        resplit("vip1", "8AP6DT9ybtniUJfbteam-"),
        resplit("bteam-vip1", "8AP6DT9ybtniUJf"),
        genuine.clone(),
    ] {
        for conn in [1, 2] {
            s.send(conn, m.clone());
            let r = &s.take(conn)[0];
            assert_eq!(code(r), codes::BAD_NONCE as i64, "{m}: {r}");
            assert!(
                r["errMsg"]
                    .as_str()
                    .unwrap()
                    .contains("signature already used"),
                "{r}"
            );
        }
    }
    assert!(s.rooms.members(APP, "vip1").is_empty());
    assert!(s.rooms.members(APP, "bteam-vip1").is_empty());
    // The signature in upper case is the same MAC.
    let mut upper = resplit("vip1", "8AP6DT9ybtniUJfbteam-");
    upper["signature"] = json!(genuine["signature"].as_str().unwrap().to_uppercase());
    s.send(2, upper);
    assert_eq!(code(&s.take(2)[0]), codes::BAD_NONCE as i64);
    // The memory lasts the window past the timestamp: later the timestamp itself is refused.
    s.advance(Duration::from_secs(301));
    s.send(2, resplit("vip1", "8AP6DT9ybtniUJfbteam-"));
    assert_eq!(code(&s.take(2)[0]), codes::BAD_TIMESTAMP as i64);
}

/// What the format cannot prevent: whoever sees a signed join before it is used can use a re-split first. The
/// genuine join then fails as a replay, so the member learns of it (docs/rooms-protocol.md; TLS prevents it).
#[test]
fn first_use_of_a_signature_wins() {
    let mut s = Sim::new(config());
    let ts = s.unix.to_string();
    let genuine = signed_join(
        "team-vip1",
        "a",
        "voice",
        "8AP6DT9ybtniUJfb",
        &ts,
        &key_of("a"),
    );
    let mut stolen = genuine.clone();
    stolen["groupId"] = json!("vip1");
    stolen["nonceStr"] = json!("8AP6DT9ybtniUJfbteam-");
    s.open(1);
    s.send(1, stolen);
    assert_eq!(s.take(1)[0]["type"], "joined");
    s.open(2);
    s.send(2, genuine);
    assert_eq!(code(&s.take(2)[0]), codes::BAD_NONCE as i64);
}

#[test]
fn same_member_and_group_in_two_apps_or_split_ids_get_distinct_streams() {
    // (group a_b, openId c) and (group a, openId b_c): one name each, and a stream of one is not the other's.
    let mut s = Sim::new(config());
    let one = s.join(1, "a_b", "c", "video");
    let other = s.join(2, "a", "b_c", "video");
    assert_ne!(one["pushUrl"], other["pushUrl"]);
    s.join(3, "a", "x", "video");
    s.take(3);
    video(&mut s, &sn("a_b", "c"));
    assert!(
        s.take_type(3, "roomEvent").is_empty(),
        "group a sees nothing of a_b's member"
    );
    video(&mut s, &sn("a", "b_c"));
    let ev = s.take_type(3, "roomEvent");
    assert_eq!(ev[0]["code"], 1031);
    assert_ne!(
        rooms::stream_name("wx1", "zz", "c"),
        rooms::stream_name("wx2", "zz", "c")
    );
}

#[test]
fn nonce_expires_with_the_window() {
    let mut s = Sim::new(Config {
        heartbeat_interval: Duration::from_secs(1000),
        ..config()
    });
    s.open(1);
    let ts = s.unix.to_string();
    s.send(1, signed_join("g", "a", "voice", "n", &ts, &key_of("a")));
    s.send(1, json!({"type":"exit"}));
    s.take(1);
    s.advance(Duration::from_secs(200));
    s.send(
        1,
        signed_join("g", "a", "voice", "n", &s.unix.to_string(), &key_of("a")),
    );
    assert_eq!(code(&s.take(1)[0]), codes::BAD_NONCE as i64);
    s.advance(Duration::from_secs(101));
    s.send(1, json!({"type":"heartbeat"}));
    s.send(
        1,
        signed_join("g", "a", "voice", "n", &s.unix.to_string(), &key_of("a")),
    );
    let r = s.take(1);
    assert_eq!(r[1]["type"], "joined", "{r:?}");
}

#[test]
fn unknown_identity_and_bad_requests() {
    let mut s = Sim::new(config());
    s.open(1);
    s.send(
        1,
        json!({"type":"join","reqId":3,"appId":"nope","groupId":"g","openId":"a","nonceStr":"n",
        "timeStamp":s.unix.to_string(),"signature":"00"}),
    );
    let r = &s.take(1)[0];
    assert_eq!(
        (code(r), r["reqId"].as_i64()),
        (codes::UNKNOWN_IDENTITY as i64, Some(3))
    );
    let m = s.join_msg("g", "nokey1", "voice");
    s.send(1, m);
    assert_eq!(code(&s.take(1)[0]), codes::UNKNOWN_IDENTITY as i64);
    s.send(1, json!({"type":"fly"}));
    assert_eq!(code(&s.take(1)[0]), codes::BAD_REQUEST as i64);
    s.text(1, "not json");
    s.drain();
    assert_eq!(code(&s.take(1)[0]), codes::BAD_REQUEST as i64);
    s.send(1, json!({"type":"join","groupId":"g"}));
    assert!(s.take(1)[0]["errMsg"].as_str().unwrap().contains("appId"));
    let mut m = s.join_msg("g/../x", "a", "voice");
    s.send(1, m.clone());
    assert_eq!(code(&s.take(1)[0]), codes::BAD_REQUEST as i64);
    m = s.join_msg("g", "a", "voice");
    m["roomType"] = json!("hologram");
    s.send(1, m);
    assert!(s.take(1)[0]["errMsg"]
        .as_str()
        .unwrap()
        .starts_with("roomType"));
}

#[test]
fn not_in_room_and_already_in_room() {
    let mut s = Sim::new(config());
    s.open(1);
    for t in [
        "exit",
        "updateMuteConfig",
        "subscribeVideoMembers",
        "setEnable1v1Chat",
    ] {
        s.send(
            1,
            json!({"type":t,"reqId":9,"muteConfig":{},"openIdList":[],"enable":true}),
        );
        assert_eq!(code(&s.take(1)[0]), codes::NOT_IN_ROOM as i64, "{t}");
    }
    s.join(1, "g", "a", "voice");
    s.take(1);
    let m = s.join_msg("h", "a", "voice");
    s.send(1, m);
    assert_eq!(code(&s.take(1)[0]), codes::ALREADY_IN_ROOM as i64);
    // The same openId in another room of the app, from another socket.
    let r = s.join(2, "h", "a", "voice");
    assert_eq!(code(&r), codes::ALREADY_IN_ROOM as i64);
}

#[test]
fn left_while_joining() {
    let mut s = Sim::new(config());
    s.open(1);
    let m = s.join_msg("g", "a", "voice");
    // Feed the join without answering the lookup, then exit.
    s.text(1, &m.to_string());
    let lookup = s.rooms.poll_output().unwrap();
    assert!(matches!(lookup, rooms::Output::LookupSessionKey { .. }));
    s.send(1, json!({"type":"exit","reqId":2}));
    s.input(Input::SessionKey {
        conn: 1,
        key: rooms::SessionKey::Found(key_of("a")),
    });
    s.drain();
    let out = s.take(1);
    assert_eq!(
        (code(&out[0]), out[0]["reqId"].as_i64()),
        (codes::LEFT_WHILE_JOINING as i64, Some(1))
    );
    assert_eq!(out[1]["type"], "exited");
    assert_eq!(out.len(), 2);
    assert_eq!(s.rooms.room_count(), 0);
}

#[test]
fn room_full_at_eleven_and_ends_with_last_member() {
    let mut s = Sim::new(config());
    for i in 0..10 {
        assert_eq!(s.join(i, "g", &format!("m{i}"), "voice")["type"], "joined");
    }
    let r = s.join(10, "g", "m10", "voice");
    assert_eq!(code(&r), codes::ROOM_FULL as i64);
    for i in 0..10 {
        s.send(i, json!({"type":"exit"}));
    }
    assert_eq!(s.rooms.room_count(), 0);
    assert_eq!(s.store.room_count(), 0);
    // The same groupId opens a new room.
    assert_eq!(ids(&s.join(11, "g", "m10", "voice")), ["m10"]);
}

#[test]
fn daily_quota_counts_new_rooms_per_utc_day() {
    let mut s = Sim::new(Config {
        daily_room_quota: 2,
        ..config()
    });
    s.join(1, "g1", "a", "voice");
    s.send(1, json!({"type":"exit"}));
    s.join(2, "g1", "b", "voice"); // reopening counts again
                                   // An hour later is still the same UTC day: the quota is per day, not per second.
    s.unix += 3_600;
    let r = s.join(3, "g2", "c", "voice");
    assert_eq!(code(&r), codes::QUOTA_EXHAUSTED as i64);
    // Joining an open room does not count.
    assert_eq!(s.join(4, "g1", "d", "voice")["type"], "joined");
    // The next UTC day.
    s.unix = (s.unix / 86_400 + 1) * 86_400;
    let m = s.join_msg("g2", "c", "voice");
    s.send(3, m);
    assert_eq!(s.take(3)[0]["type"], "joined");
}

#[test]
fn heartbeat_timeout_interrupts_and_tells_the_others() {
    let mut s = Sim::new(config());
    s.join(1, "g", "a", "voice");
    s.join(2, "g", "b", "voice");
    s.take(1);
    s.take(2);
    let mut seen_by_a = Vec::new();
    for _ in 0..4 {
        s.advance(Duration::from_secs(7));
        s.send(1, json!({"type":"heartbeat"}));
        seen_by_a.extend(s.take(1));
    }
    assert_eq!(
        seen_by_a
            .iter()
            .filter(|m| m["type"] == "heartbeat")
            .count(),
        4
    );
    let out = s.take(2);
    assert_eq!(out[0]["type"], "interrupted");
    assert_eq!(code(&out[0]), codes::HEARTBEAT_TIMEOUT as i64);
    assert_eq!(out[0]["errMsg"], "heartbeat timeout: 3 heartbeats missed");
    assert_eq!(out[1]["state"], "interrupted");
    assert!(s.closed.contains(&2));
    assert_eq!(s.rooms.members(APP, "g"), ["a"]);
    let changed: Vec<_> = seen_by_a
        .iter()
        .filter(|m| m["type"] == "membersChanged")
        .collect();
    assert_eq!(ids(changed[0]), ["a"]);
}

/// A member is interrupted after exactly `missed_heartbeats` intervals of silence since its last message, not a
/// millisecond earlier or later (the end-to-end test in crates/cli can only bound it from below).
#[test]
fn heartbeat_timeout_is_missed_heartbeats_intervals_of_silence() {
    let mut s = Sim::new(config());
    s.join(1, "g", "a", "voice");
    s.take(1);
    // Its last message: a heartbeat 5 s after the join.
    s.advance(Duration::from_secs(5));
    s.send(1, json!({"type":"heartbeat"}));
    s.take(1);
    s.advance(Duration::from_secs(21) - Duration::from_millis(1));
    assert!(
        s.take_type(1, "interrupted").is_empty() && !s.closed.contains(&1),
        "interrupted before 3 intervals (21 s) of silence"
    );
    s.advance(Duration::from_millis(1));
    let out = s.take_type(1, "interrupted");
    assert_eq!(out.len(), 1, "interrupted at 21 s of silence: {out:?}");
    assert_eq!(code(&out[0]), codes::HEARTBEAT_TIMEOUT as i64);
    assert!(s.closed.contains(&1));
}

#[test]
fn idle_sockets_time_out_too() {
    let mut s = Sim::new(config());
    s.open(1);
    s.advance(Duration::from_secs(22));
    assert_eq!(s.closed, [1]);
    assert_eq!(s.rooms.connection_count(), 0);
}

#[test]
fn resume_within_grace_and_not_after() {
    let mut s = Sim::new(config());
    let a = s.join(1, "g", "a", "voice");
    s.join(2, "g", "b", "voice");
    let token = a["resumeToken"].as_str().unwrap().to_string();
    s.take(1);
    s.input(Input::Closed { conn: 1 });
    s.advance(Duration::from_secs(10));
    s.send(2, json!({"type":"heartbeat"}));
    assert!(
        s.take_type(2, "membersChanged").is_empty(),
        "no change during the grace"
    );
    s.open(3);
    s.send(3, json!({"type":"resume","reqId":5,"resumeToken":token}));
    let out = s.take(3);
    assert_eq!(out[0]["type"], "joined");
    assert_eq!(out[0]["resumed"], true);
    assert_eq!(out[0]["reqId"], 5);
    assert_eq!(ids(&out[0]), ["a", "b"]);
    assert_eq!(out[1]["state"], "resumed");
    // Drop again and let the grace pass: removed as if it had left.
    s.input(Input::Closed { conn: 3 });
    s.advance(Duration::from_secs(16));
    assert_eq!(s.rooms.members(APP, "g"), ["b"]);
    assert_eq!(ids(&s.take_type(2, "membersChanged")[0]), ["b"]);
    s.open(4);
    s.send(4, json!({"type":"resume","resumeToken":token}));
    assert_eq!(code(&s.take(4)[0]), codes::BAD_RESUME_TOKEN as i64);
}

#[test]
fn same_open_id_from_another_socket_replaces() {
    let mut s = Sim::new(config());
    s.join(1, "g", "a", "voice");
    s.join(2, "g", "b", "voice");
    s.take(1);
    s.take(2);
    let r = s.join(3, "g", "a", "voice");
    assert_eq!(ids(&r), ["a", "b"]);
    let old = s.take(1);
    assert_eq!(code(&old[0]), codes::REPLACED as i64);
    assert!(s.closed.contains(&1));
    assert!(s.take_type(2, "membersChanged").is_empty());
}

#[test]
fn resume_on_another_socket_replaces_the_live_one() {
    let mut s = Sim::new(config());
    let a = s.join(1, "g", "a", "voice");
    let token = a["resumeToken"].as_str().unwrap().to_string();
    s.take(1);
    // Socket 1 is still up (no close, no grace) when socket 2 resumes the membership.
    s.open(2);
    s.send(2, json!({"type":"resume","reqId":7,"resumeToken":token}));
    let out = s.take(2);
    assert_eq!(
        (&out[0]["type"], &out[0]["resumed"]),
        (&json!("joined"), &json!(true))
    );
    let old = s.take(1);
    assert_eq!(code(&old[0]), codes::REPLACED as i64, "{old:?}");
    assert!(s.closed.contains(&1));
    assert!(!s.closed.contains(&2));
    assert_eq!(s.rooms.members(APP, "g"), ["a"]);
    // Resuming on the socket that already holds the membership is refused as already in a room, and replaces
    // nothing.
    s.send(2, json!({"type":"resume","reqId":8,"resumeToken":token}));
    assert_eq!(code(&s.take(2)[0]), codes::ALREADY_IN_ROOM as i64);
    assert!(!s.closed.contains(&2));
}

#[test]
fn id_lengths_are_bounded_by_max_id_bytes() {
    // The bound is the app id's length, so it is exactly at the bound too.
    let max = APP.len();
    let mut s = Sim::new(Config {
        max_id_bytes: max,
        ..config()
    });
    let at = |c: char| c.to_string().repeat(max);
    let over = |c: char| c.to_string().repeat(max + 1);
    assert_eq!(s.join(1, &at('g'), &at('a'), "voice")["type"], "joined");
    let cases = [
        (over('g'), "b".to_string(), "groupId"),
        ("g".to_string(), over('b'), "openId"),
        (String::new(), "b".to_string(), "groupId"),
        ("g".to_string(), String::new(), "openId"),
    ];
    for (i, (group, open_id, field)) in cases.into_iter().enumerate() {
        let r = s.join(2 + i as u64, &group, &open_id, "voice");
        assert_eq!(
            code(&r),
            codes::BAD_REQUEST as i64,
            "{group:?}/{open_id:?}: {r}"
        );
        let expected = format!("{field}: must be 1 to {max} bytes");
        assert!(r["errMsg"].as_str().unwrap().starts_with(&expected), "{r}");
    }
}

fn video(s: &mut Sim, name: &str) {
    s.input(Input::Stream {
        name,
        state: Some(StreamState {
            has_audio: true,
            has_video: true,
        }),
    });
    s.drain();
}

#[test]
fn subscription_rule_with_four_video_members() {
    let mut s = Sim::new(config());
    for (i, m) in ["a", "b", "c", "d"].iter().enumerate() {
        s.join(i as u64, "g", m, "video");
    }
    for m in ["a", "b", "c", "d"] {
        video(&mut s, &sn("g", m));
    }
    let last = |s: &mut Sim, c| ids(s.take_type(c, "videoMembersChanged").last().unwrap());
    assert_eq!(last(&mut s, 0), ["b", "c"]);
    assert_eq!(last(&mut s, 3), ["a", "b"]);
    s.send(
        3,
        json!({"type":"subscribeVideoMembers","reqId":1,"openIdList":["c","zz"]}),
    );
    let out = s.take(3);
    assert_eq!(out[0], json!({"type":"ok","reqId":1}));
    assert_eq!(ids(&out[1]), ["c"]);
    // a leaves: b now sees c and d.
    s.take(1);
    s.send(0, json!({"type":"exit"}));
    assert_eq!(last(&mut s, 1), ["c", "d"]);
}

#[test]
fn voice_rooms_have_no_video_members() {
    let mut s = Sim::new(config());
    s.join(1, "g", "a", "voice");
    s.join(2, "g", "b", "video"); // the room keeps the first member's type
    video(&mut s, &sn("g", "a"));
    assert!(s.take_type(2, "videoMembersChanged").is_empty());
}

#[test]
fn room_events_follow_streams() {
    let mut s = Sim::new(config());
    s.join(1, "g", "a", "video");
    s.join(2, "g", "b", "video");
    s.take(1);
    s.take(2);
    s.input(Input::Stream {
        name: &sn("g", "b"),
        state: Some(StreamState {
            has_audio: true,
            has_video: false,
        }),
    });
    s.drain();
    let ev = s.take_type(1, "roomEvent");
    let codes: Vec<i64> = ev.iter().map(|e| e["code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [1031, 1034, 1020]);
    let m: serde_json::Value = serde_json::from_str(ev[0]["message"].as_str().unwrap()).unwrap();
    assert_eq!(
        m,
        json!({"userlist":[{"userid":"b","playurl":format!("rtmp://h/room/{}", sn("g", "b"))}]})
    );
    let m: serde_json::Value = serde_json::from_str(ev[1]["message"].as_str().unwrap()).unwrap();
    assert_eq!(
        m,
        json!({"userid":"b","playurl":format!("rtmp://h/room/{}", sn("g", "b")),"hasaudio":true})
    );
    assert!(
        s.take_type(2, "roomEvent").is_empty(),
        "not told about itself"
    );
    video(&mut s, &sn("g", "b"));
    let ev = s.take(1);
    assert_eq!(ev[0]["code"], 1033);
    assert_eq!(
        ev[1],
        json!({"type":"videoMembersChanged","openIdList":["b"]})
    );
    s.input(Input::Stream {
        name: &sn("g", "b"),
        state: None,
    });
    s.drain();
    let codes: Vec<i64> = s
        .take_type(1, "roomEvent")
        .iter()
        .map(|e| e["code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [1032, 1020]);
    // Streams that are not a member's do nothing.
    s.input(Input::Stream {
        name: &sn("g", "zz"),
        state: Some(StreamState::default()),
    });
    // The old `{groupId}_{openId}` name is not a member's stream any more.
    s.input(Input::Stream {
        name: "g_c",
        state: Some(StreamState::default()),
    });
    s.input(Input::Stream {
        name: "other",
        state: Some(StreamState::default()),
    });
    s.drain();
    assert!(s.take(1).is_empty());
    // A member joining while its stream is live is announced.
    s.input(Input::Stream {
        name: &sn("g", "c"),
        state: Some(StreamState {
            has_audio: false,
            has_video: true,
        }),
    });
    s.join(3, "g", "c", "video");
    let codes: Vec<i64> = s
        .take_type(1, "roomEvent")
        .iter()
        .map(|e| e["code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [1031, 1033, 1020]);
}

#[test]
fn speakers_from_volume_with_mute_window_and_rate_limit() {
    let mut s = Sim::new(config());
    s.join(1, "g", "a", "voice");
    s.join(2, "g", "b", "voice");
    s.take(1);
    s.take(2);
    s.send(2, json!({"type":"volume","volume":37}));
    assert!(
        s.take(2).iter().all(|m| m["type"] != "ok"),
        "volume has no reply"
    );
    assert_eq!(
        s.take_type(1, "speakersChanged"),
        [json!({"type":"speakersChanged","openIdList":["b"]})]
    );
    // A quiet volume ends it, but not before 300 ms after the last one.
    s.advance(Duration::from_millis(100));
    s.send(2, json!({"type":"volume","volume":19}));
    assert!(s.take_type(1, "speakersChanged").is_empty());
    s.advance(Duration::from_millis(200));
    assert_eq!(
        ids(&s.take_type(1, "speakersChanged")[0]),
        Vec::<String>::new()
    );
    s.take(2);
    // Loud but muted does not count.
    s.send(
        1,
        json!({"type":"updateMuteConfig","reqId":1,"muteConfig":{"muteMicrophone":true}}),
    );
    s.send(1, json!({"type":"volume","volume":90}));
    assert!(s.take_type(2, "speakersChanged").is_empty());
    // A volume counts for the window only.
    s.advance(Duration::from_millis(400));
    s.send(2, json!({"type":"volume","volume":50}));
    assert_eq!(ids(&s.take_type(1, "speakersChanged")[0]), ["b"]);
    s.advance(Duration::from_millis(1500));
    assert_eq!(
        ids(&s.take_type(1, "speakersChanged")[0]),
        Vec::<String>::new()
    );
}

#[test]
fn enable_1v1_chat_is_acknowledged() {
    let mut s = Sim::new(config());
    s.join(1, "g", "a", "voice");
    s.take(1);
    s.send(
        1,
        json!({"type":"setEnable1v1Chat","reqId":4,"enable":false,"minWindowType":1}),
    );
    assert_eq!(s.take(1), [json!({"type":"ok","reqId":4})]);
    s.send(1, json!({"type":"setEnable1v1Chat","reqId":4}));
    assert_eq!(code(&s.take(1)[0]), codes::BAD_REQUEST as i64);
}

#[test]
fn store_failures_are_system_errors_and_a_full_nonce_cache_refuses() {
    let mut s = Sim::new(Config {
        max_nonces_per_app: 1,
        ..config()
    });
    s.open(1);
    let m = s.join_msg("g", "a", "voice");
    s.text(1, &m.to_string());
    assert!(matches!(
        s.rooms.poll_output(),
        Some(rooms::Output::LookupSessionKey { .. })
    ));
    s.input(Input::SessionKey {
        conn: 1,
        key: rooms::SessionKey::Failed("db down".into()),
    });
    s.drain();
    let r = &s.take(1)[0];
    assert_eq!(code(r), codes::SYSTEM_ERROR as i64);
    assert_eq!(r["reqId"], 1);
    // One nonce fills this app's cache: the next join, with another nonce, is refused until it expires.
    assert_eq!(s.join(2, "g", "b", "voice")["type"], "joined");
    let r = s.join(3, "g", "c", "voice");
    assert_eq!(code(&r), codes::BAD_NONCE as i64);
    assert!(r["errMsg"]
        .as_str()
        .unwrap()
        .contains("rooms.max_nonces_per_app"));
}
