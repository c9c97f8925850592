//! Rooms end to end: a real server, real WebSocket clients, real ffmpeg pushes and plays.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::room_client::*;
use common::*;
use control::now_unix;
use serde_json::{json, Value};
use tungstenite::Message;

const APP: &str = "wx20afc706a711eefc";

fn session_key(server: &Server, open_id: &str) -> String {
    session_key_in(server, APP, open_id)
}

fn join_msg(
    group: &str,
    open_id: &str,
    key: &str,
    nonce: &str,
    ts: &str,
    room_type: &str,
) -> Value {
    join_msg_in(APP, group, open_id, key, nonce, ts, room_type)
}

/// A member: creates its key, connects and joins; returns the socket and the `joined` reply.
fn member(server: &Server, group: &str, open_id: &str, room_type: &str) -> (Ws, Value) {
    member_in(server, APP, group, open_id, room_type)
}

fn start(config: &str) -> Server {
    let server = Server::start(config);
    create_app(&server, APP);
    server
}

/// The stream name in a URL: the last path segment, without a query or `.flv`.
fn stream_of(url: &str) -> &str {
    let path = url.split('?').next().unwrap();
    let last = path.rsplit('/').next().unwrap();
    last.strip_suffix(".flv").unwrap_or(last)
}

fn ids(v: &Value) -> Vec<&str> {
    v["openIdList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

#[test]
fn room_sign_prints_the_seed_vector() {
    let server = Server::start("");
    let out = server.cli_ok(&[
        "room",
        "sign",
        "--app",
        APP,
        "--group",
        "1559129713_672975982",
        "--open-id",
        "o1",
        "--session-key",
        "gDyVgzwa0mFz9uUP7M6GQQ==",
        "--nonce",
        "8AP6DT9ybtniUJfb",
        "--time",
        "1559129714",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["signature"],
        "b002b824688dd8593a6079e11d8c5e8734fbcb39a6d5906eb347bfbcad79c617"
    );
    assert_eq!(v["timeStamp"], "1559129714");
    assert_eq!(v["openId"], "o1");
    // Spellings the server refuses are refused here too.
    for (flag, value) in [("--time", "+1559129714"), ("--nonce", "a.b")] {
        let out = server.cli(&[
            "room",
            "sign",
            "--app",
            APP,
            "--group",
            "g",
            "--open-id",
            "o1",
            "--session-key",
            "k",
            flag,
            value,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(flag), "{err}");
    }
}

#[test]
fn session_keys_api_on_every_database() {
    for db in Db::all() {
        let server = Server::start_with(Options {
            db,
            ..Options::default()
        });
        server.api(
            "POST",
            "/v1/apps",
            Some(&json!({ "name": APP }).to_string()),
        );
        let key = session_key(&server, "o1");
        assert_eq!(key.len(), 24, "16 bytes in base64");
        let (status, body) = server.api(
            "PUT",
            &format!("/v1/apps/{APP}/room-sessions/o1"),
            Some(r#"{"sessionKey":"gDyVgzwa0mFz9uUP7M6GQQ=="}"#),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["sessionKey"],
            "gDyVgzwa0mFz9uUP7M6GQQ=="
        );
        // Errors: unknown app, bad openId, bad key (not echoed), missing field, no admin token.
        let (status, body) = server.api(
            "POST",
            "/v1/apps/nope/room-sessions",
            Some(r#"{"openId":"o"}"#),
        );
        assert_eq!((status, body.contains("40401")), (404, true), "{body}");
        let (status, body) = server.api(
            "POST",
            &format!("/v1/apps/{APP}/room-sessions"),
            Some(r#"{"openId":"a b"}"#),
        );
        assert_eq!((status, body.contains("40001")), (400, true), "{body}");
        let (status, body) = server.api(
            "PUT",
            &format!("/v1/apps/{APP}/room-sessions/o1"),
            Some(r#"{"sessionKey":"secret with spaces"}"#),
        );
        assert_eq!(
            (status, body.contains("40001"), body.contains("secret")),
            (400, true, false),
            "{body}"
        );
        let (status, _) = server.api("POST", &format!("/v1/apps/{APP}/room-sessions"), Some("{}"));
        assert_eq!(status, 400);
        let (status, _) = http_request(
            &server.http,
            "POST",
            &format!("/v1/apps/{APP}/room-sessions"),
            &[],
            Some(r#"{"openId":"o"}"#),
        );
        assert_eq!(status, 401);
        // The key joins a room with this database.
        let mut ws = Ws::connect(&server);
        let r = ws.request(join_msg(
            "g",
            "o1",
            "gDyVgzwa0mFz9uUP7M6GQQ==",
            &nonce(),
            &now_unix().to_string(),
            "voice",
        ));
        assert_eq!(r["type"], "joined", "{r}");
        assert!(
            !server.log().contains("gDyVgzwa0mFz9uUP7M6GQQ=="),
            "the key is never logged"
        );
        // The media app exists, with push auth on.
        let (status, body) = server.get("/v1/apps/room");
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("\"pushAuth\":true") && !body.contains("push_auth"),
            "{body}"
        );
    }
}

#[test]
fn join_leave_members_changed_and_error_codes() {
    let server = start("");
    let (mut a, ja) = member(&server, "g1", "a", "voice");
    assert_eq!(ids(&ja), ["a"]);
    assert_eq!(ja["reqId"], 1);
    assert_eq!(ja["heartbeatIntervalMs"], 7000);
    let push = ja["pushUrl"].as_str().unwrap();
    assert!(
        push.starts_with(&format!(
            "rtmp://127.0.0.1:{}/room/{}?txSecret=",
            server.rtmp.rsplit(':').next().unwrap(),
            rooms::stream_name(APP, "g1", "a")
        )),
        "{push}"
    );
    assert!(stream_of(push).starts_with("g1_a-"), "{push}");
    assert_eq!(a.expect("stateChanged")["state"], "joined");
    let (mut b, jb) = member(&server, "g1", "b", "voice");
    assert_eq!(ids(&jb), ["a", "b"]);
    assert_eq!(jb["members"][0]["openId"], "a");
    assert!(jb["members"][0]["playUrls"]["flv"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/room/{}.flv", rooms::stream_name(APP, "g1", "a"))));
    let mc = a.expect("membersChanged");
    assert_eq!(
        (ids(&mc), mc["errCode"].as_i64()),
        (vec!["a", "b"], Some(0))
    );
    assert_eq!(mc["members"][0]["openId"], "b");

    let key_c = session_key(&server, "c");
    let mut c = Ws::connect(&server);
    let now = now_unix().to_string();
    let err = |r: Value| {
        (
            r["errCode"].as_i64().unwrap(),
            r["errMsg"].as_str().unwrap().to_string(),
        )
    };
    // -10011 before joining, -10006 for nonsense.
    assert_eq!(err(c.request(json!({"type":"exit","reqId":2}))).0, -10011);
    assert_eq!(err(c.request(json!({"type":"dance","reqId":3}))).0, -10006);
    c.0.send(Message::text("{not json")).unwrap();
    assert_eq!(err(c.expect("error")).0, -10006);
    // -10001 bad signature, -10002 milliseconds / out of window, -10007 unknown app or no key.
    assert_eq!(
        err(c.request(join_msg("g1", "c", "wrong", &nonce(), &now, "voice"))).0,
        -10001
    );
    let (code, msg) = err(c.request(join_msg(
        "g1",
        "c",
        &key_c,
        &nonce(),
        &format!("{now}000"),
        "voice",
    )));
    assert_eq!(code, -10002);
    assert!(
        msg.contains("timeStamp is in milliseconds; send seconds"),
        "{msg}"
    );
    let old = (now_unix() - 1000).to_string();
    assert_eq!(
        err(c.request(join_msg("g1", "c", &key_c, &nonce(), &old, "voice"))).0,
        -10002
    );
    let mut unknown = join_msg("g1", "c", &key_c, &nonce(), &now, "voice");
    unknown["appId"] = json!("wxnope");
    assert_eq!(err(c.request(unknown)).0, -10007);
    assert_eq!(
        err(c.request(join_msg("g1", "nobody", "k", &nonce(), &now, "voice"))).0,
        -10007
    );
    // Nonce replay: the first use joins, the second is -10005.
    let n = nonce();
    assert_eq!(
        c.request(join_msg("g1", "c", &key_c, &n, &now, "voice"))["type"],
        "joined"
    );
    // -1: already in a room on this socket.
    assert_eq!(
        err(c.request(join_msg("g2", "c", &key_c, &nonce(), &now, "voice"))).0,
        -1
    );
    assert_eq!(
        c.request(json!({"type":"exit","reqId":"x"})),
        json!({"type":"exited","reqId":"x"})
    );
    let (code, msg) = err(c.request(join_msg("g1", "c", &key_c, &n, &now, "voice")));
    assert_eq!(code, -10005, "{msg}");
    assert_eq!(
        err(c.request(join_msg("g1", "c", &key_c, &"x".repeat(128), &now, "voice"))).0,
        -10005
    );
    // -1: the same openId in another room of the app, from another socket.
    let mut a2 = Ws::connect(&server);
    let key_a = session_key(&server, "a");
    // (a new key for a: the joined socket stays joined)
    assert_eq!(
        err(a2.request(join_msg("g2", "a", &key_a, &nonce(), &now, "voice"))).0,
        -1
    );
    // Heartbeats are answered; updates are acknowledged.
    assert_eq!(
        b.request(json!({"type":"heartbeat"})),
        json!({"type":"heartbeat"})
    );
    assert_eq!(
        b.request(
            json!({"type":"updateMuteConfig","reqId":7,"muteConfig":{"muteMicrophone":true}})
        ),
        json!({"type":"ok","reqId":7})
    );
    assert_eq!(
        b.request(json!({"type":"setEnable1v1Chat","reqId":8,"enable":true,"minWindowType":1})),
        json!({"type":"ok","reqId":8})
    );
    // b leaves: a sees it.
    assert_eq!(
        b.request(json!({"type":"exit","reqId":9}))["type"],
        "exited"
    );
    let mc = loop {
        let v = a.expect("membersChanged");
        if ids(&v) == ["a"] {
            break v;
        }
    };
    assert_eq!(mc["members"], json!([]));
    // Binary frames close with 1003, oversized text with 1009.
    b.0.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(b.expect_close(), 1003);
    let mut big = Ws::connect(&server);
    big.0
        .send(Message::text(format!(
            "{{\"type\":\"heartbeat\",\"pad\":\"{}\"}}",
            "x".repeat(17 * 1024)
        )))
        .unwrap();
    assert_eq!(big.expect_close(), 1009);
}

#[test]
fn room_full_at_eleven_quota_and_reopen() {
    let server = start("[rooms]\ndaily_room_quota = 2\n");
    let mut members: Vec<Ws> = (0..10)
        .map(|i| member(&server, "full", &format!("m{i}"), "voice").0)
        .collect();
    let key = session_key(&server, "m10");
    let mut eleventh = Ws::connect(&server);
    let r = eleventh.request(join_msg(
        "full",
        "m10",
        &key,
        &nonce(),
        &now_unix().to_string(),
        "voice",
    ));
    assert_eq!(r["errCode"], -10003, "{r}");
    // A second room is the quota's last; a third is refused.
    let (mut other, _) = member(&server, "second", "x1", "voice");
    let r = eleventh.request(join_msg(
        "third",
        "m10",
        &key,
        &nonce(),
        &now_unix().to_string(),
        "voice",
    ));
    assert_eq!(r["errCode"], -10004, "{r}");
    // Joining an open room does not count against the quota.
    members.pop();
    std::thread::sleep(Duration::from_millis(100));
    // (the dropped socket keeps its place for the grace; an exit frees it at once)
    let (mut x2, _) = member(&server, "second", "x2", "voice");
    // The room ends with its last member; reopening it counts as a new room (quota used up: refused).
    assert_eq!(other.request(json!({"type":"exit"}))["type"], "exited");
    assert_eq!(x2.request(json!({"type":"exit"}))["type"], "exited");
    let r = eleventh.request(join_msg(
        "second",
        "m10",
        &key,
        &nonce(),
        &now_unix().to_string(),
        "voice",
    ));
    assert_eq!(r["errCode"], -10004, "a reopened room is a new room: {r}");
    for m in &mut members {
        let _ = m.request(json!({"type":"exit"}));
    }
}

#[test]
fn room_ends_and_reopens() {
    let server = start("");
    let (mut a, _) = member(&server, "g", "a", "voice");
    let (mut b, _) = member(&server, "g", "b", "voice");
    a.request(json!({"type":"exit"}));
    b.request(json!({"type":"exit"}));
    // A new room: only the newcomer is in it.
    let (_c, j) = member(&server, "g", "c", "voice");
    assert_eq!(ids(&j), ["c"]);
}

#[test]
fn heartbeat_timeout_interrupts_and_resume_within_grace() {
    let server = start(
        "[rooms]\nheartbeat_interval_ms = 300\nmissed_heartbeats = 3\nresume_grace_secs = 2\n",
    );
    let (mut a, ja) = member(&server, "g", "a", "voice");
    assert_eq!(ja["heartbeatIntervalMs"], 300);
    // Taken before b's join is sent, so before anything b says reaches the server: b cannot be interrupted
    // earlier than 900 ms after it, however loaded the machine. (The exact bound, on a simulated clock, is
    // crates/rooms/tests/rules.rs heartbeat_timeout_is_missed_heartbeats_intervals_of_silence.)
    let before_join = Instant::now();
    let (mut b, _) = member(&server, "g", "b", "voice");
    // a keeps beating; b goes silent and is interrupted.
    let mut interrupted = None;
    while before_join.elapsed() < Duration::from_secs(10) && interrupted.is_none() {
        a.send(json!({"type":"heartbeat"}));
        if let Some(Ok(v)) = b.next(Duration::from_millis(100)) {
            if v["type"] == "interrupted" {
                interrupted = Some(v);
            }
        }
    }
    let waited = before_join.elapsed();
    let v = interrupted.expect("b interrupted");
    assert_eq!(v["errCode"], -10009);
    assert_eq!(v["errMsg"], "heartbeat timeout: 3 heartbeats missed");
    assert!(
        waited >= Duration::from_millis(900),
        "interrupted {waited:?} after the join was sent: before 3 heartbeat intervals of silence"
    );
    assert_eq!(b.expect("stateChanged")["state"], "interrupted");
    assert_eq!(b.expect_close(), 4000);
    let mc = loop {
        a.send(json!({"type":"heartbeat"}));
        let v = a.expect("membersChanged");
        if ids(&v) == ["a"] {
            break v;
        }
    };
    assert_eq!(mc["errCode"], 0);

    // c drops its socket and resumes on a new one within the grace.
    let (c, jc) = member(&server, "g", "c", "voice");
    let token = jc["resumeToken"].as_str().unwrap().to_string();
    drop(c);
    std::thread::sleep(Duration::from_millis(500));
    let mut c2 = Ws::connect(&server);
    let r = c2.request(json!({"type":"resume","reqId":6,"resumeToken":token}));
    assert_eq!(
        (
            r["type"].as_str(),
            r["resumed"].as_bool(),
            r["reqId"].as_i64()
        ),
        (Some("joined"), Some(true), Some(6)),
        "{r}"
    );
    assert_eq!(ids(&r), ["a", "c"]);
    assert_eq!(c2.expect("stateChanged")["state"], "resumed");
    // After the grace a token is useless.
    drop(c2);
    std::thread::sleep(Duration::from_millis(2600));
    let mut c3 = Ws::connect(&server);
    let r = c3.request(json!({"type":"resume","resumeToken":token}));
    assert_eq!(r["errCode"], -10008, "{r}");
}

#[test]
fn speakers_from_reported_volume() {
    let server = start("");
    let (mut a, _) = member(&server, "g", "a", "voice");
    let (mut b, _) = member(&server, "g", "b", "voice");
    // Taken before the volume is sent: b cannot be silent again earlier than speaker_window_ms (1500) after it.
    let sent = Instant::now();
    b.send(json!({"type":"volume","volume":37}));
    let s = a.expect("speakersChanged");
    assert_eq!(ids(&s), ["b"]);
    // The volume counts for speaker_window_ms: then b is silent again.
    let s = a.expect("speakersChanged");
    assert!(ids(&s).is_empty());
    assert!(
        sent.elapsed() >= Duration::from_millis(1500),
        "silent again {:?} after the volume was sent",
        sent.elapsed()
    );
    // Muted members never speak.
    b.request(json!({"type":"updateMuteConfig","reqId":1,"muteConfig":{"muteMicrophone":true}}));
    b.send(json!({"type":"volume","volume":90}));
    assert!(a.next(Duration::from_millis(800)).is_none());
}

#[test]
fn members_push_and_play_each_other_with_room_events_and_subscriptions() {
    require("ffmpeg");
    let server = start("[rooms]\nmedia_poll_ms = 200\n");
    let fixture = fixture_av();
    let (mut a, ja) = member(&server, "v", "a", "video");
    let (mut b, jb) = member(&server, "v", "b", "video");
    let a_saw_b = a.expect("membersChanged");
    assert_eq!(a_saw_b["members"][0]["openId"], "b");
    let (mut c, jc) = member(&server, "v", "c", "video");
    let (mut d, _) = member(&server, "v", "d", "video");
    let _pa = ffmpeg_push(&fixture, ja["pushUrl"].as_str().unwrap());
    // b learns of a's stream: 1031 joined, then 1033 video present.
    let ev = b.expect_event(1031);
    assert_eq!(ev["userlist"][0]["userid"], "a");
    let ev = b.expect_event(1033);
    assert_eq!(
        (ev["userid"].as_str(), ev["hasvideo"].as_bool()),
        (Some("a"), Some(true))
    );
    assert!(ev["playurl"].as_str().unwrap().starts_with("rtmp://"));
    let _pb = ffmpeg_push(&fixture, jb["pushUrl"].as_str().unwrap());
    let ev = a.expect_event(1031);
    assert_eq!(ev["userlist"][0]["userid"], "b");
    a.expect_event(1033);
    // Each plays the other's HTTP-FLV URL: b's from the membersChanged a got when b joined, a's from b's join
    // reply.
    assert!(ja["members"].as_array().unwrap().is_empty());
    let b_flv = a_saw_b["members"][0]["playUrls"]["flv"]
        .as_str()
        .unwrap()
        .to_string();
    let a_flv = jb["members"][0]["playUrls"]["flv"]
        .as_str()
        .unwrap()
        .to_string();
    ffmpeg_decode(&b_flv, 2);
    ffmpeg_decode(&a_flv, 2);
    // Three video members: d sees the first two (a, b) until it subscribes to c.
    let _pc = ffmpeg_push(&fixture, jc["pushUrl"].as_str().unwrap());
    let seen = loop {
        let v = d.expect("videoMembersChanged");
        if ids(&v).len() == 2 {
            break v;
        }
    };
    assert_eq!(ids(&seen), ["a", "b"]);
    let list = loop {
        let v = c.expect("roomEvent");
        if v["code"] == 1020 {
            let m: Value = serde_json::from_str(v["message"].as_str().unwrap()).unwrap();
            if m["userlist"].as_array().unwrap().len() == 2 {
                break m;
            }
        }
    };
    assert_eq!(list["userlist"][0]["userid"], "a");
    assert_eq!(
        d.request(json!({"type":"subscribeVideoMembers","reqId":3,"openIdList":["c"]})),
        json!({"type":"ok","reqId":3})
    );
    // (c's video shows up at the next look at its stream, so d may first see an empty set)
    loop {
        let v = d.expect("videoMembersChanged");
        if ids(&v) == ["c"] {
            break;
        }
        assert!(ids(&v).is_empty(), "{v}");
    }
    // a stops pushing: the others get 1032.
    drop(_pa);
    let ev = b.expect_event(1032);
    assert_eq!(ev["userlist"][0]["userid"], "a");
}

#[test]
fn sockets_beyond_max_connections_get_503() {
    let server = start("[rooms]\nmax_connections = 2\n");
    let mut a = Ws::connect(&server);
    let _b = Ws::connect(&server);
    let tcp = TcpStream::connect(&server.http).unwrap();
    let url = format!("ws://{}/rooms/v1/ws", server.http);
    match tungstenite::client(url.as_str(), tcp) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            assert_eq!(resp.status(), 503);
        }
        other => panic!("a third socket was not refused: {:?}", other.map(|_| ())),
    }
    // The first two work; closing one frees its place.
    assert_eq!(
        a.request(json!({"type":"heartbeat"})),
        json!({"type":"heartbeat"})
    );
    drop(a);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = Ws::connect(&server);
    assert_eq!(
        c.request(json!({"type":"heartbeat"})),
        json!({"type":"heartbeat"})
    );
}

#[test]
fn a_socket_that_does_not_read_is_disconnected_without_slowing_the_room() {
    // Small buffers everywhere, so that a few hundred events fill the kernel's and the queue.
    let server = start("socket_send_buffer = 4096\n[rooms]\nsend_queue = 8\n");
    let key = session_key(&server, "sleeper");
    let addr: std::net::SocketAddr = server.http.parse().unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let tcp: TcpStream = sock.into();
    let url = format!("ws://{}/rooms/v1/ws", server.http);
    let (ws, _) = tungstenite::client(url.as_str(), tcp).expect("WebSocket handshake");
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut sleeper = Ws(ws);
    let r = sleeper.request(join_msg(
        "slow",
        "sleeper",
        &key,
        &nonce(),
        &now_unix().to_string(),
        "voice",
    ));
    assert_eq!(r["type"], "joined");
    // Another member comes and goes; every time the sleeper is sent a membersChanged it never reads. The busy
    // member's own replies keep coming at once.
    // (Each reply must come within 10 s: a room that waited for the sleeper would stop answering once its queue
    // was full.) The sleeper is cut when its queue fills, during the rounds, and the rounds go on after it.
    let key_x = session_key(&server, "x");
    let mut x = Ws::connect(&server);
    let mut cut_at = None;
    for round in 0..300 {
        let r = x.request(join_msg(
            "slow",
            "x",
            &key_x,
            &nonce(),
            &now_unix().to_string(),
            "voice",
        ));
        assert_eq!(r["type"], "joined", "{r}");
        assert_eq!(x.request(json!({"type":"exit"}))["type"], "exited");
        if cut_at.is_none() && server.log().contains("room socket too slow") {
            cut_at = Some(round);
        }
    }
    let cut_at = cut_at.expect("the server logs the disconnect of the socket that does not read");
    assert!(
        cut_at < 250,
        "the sleeper was cut only at round {cut_at} of 300: its queue of 8 and the small socket buffers hold far less"
    );
    // Reading now: what was queued, then the close frame 1008.
    assert_eq!(sleeper.expect_close(), 1008);
}

/// One signed join, re-split: the fields are concatenated unseparated, so the signature for (group `team-vip1`,
/// nonce N) also verifies for (`vip1`, N + `team-`) and (`bteam-vip1`, N minus its last character). Only the first
/// use of the signature is accepted; a timeStamp with a `+` (which Rust's integer parse takes) is refused.
#[test]
fn resplit_signatures_and_signed_plus_timestamps_are_refused() {
    let server = start("");
    let key = session_key(&server, "a");
    let now = now_unix().to_string();
    let nonce = "8AP6DT9ybtniUJfb";
    let genuine = join_msg("team-vip1", "a", &key, nonce, &now, "voice");
    let resplit = |group: &str, nonce: &str| {
        let mut m = genuine.clone();
        m["groupId"] = json!(group);
        m["nonceStr"] = json!(nonce);
        m
    };
    let mut ws = Ws::connect(&server);
    let r = ws.request(genuine.clone());
    assert_eq!(r["type"], "joined", "{r}");
    assert_eq!(ws.request(json!({"type":"exit"}))["type"], "exited");
    let mut other = Ws::connect(&server);
    for m in [
        resplit("vip1", "8AP6DT9ybtniUJfbteam-"),
        resplit("bteam-vip1", "8AP6DT9ybtniUJf"),
        genuine.clone(),
    ] {
        for socket in [&mut ws, &mut other] {
            let r = socket.request(m.clone());
            assert_eq!(r["errCode"], -10005, "{m}: {r}");
            assert!(
                r["errMsg"]
                    .as_str()
                    .unwrap()
                    .contains("signature already used"),
                "{r}"
            );
        }
    }
    // Correctly signed, but not plain decimal seconds.
    for ts in [format!("+{now}"), format!("0{now}")] {
        let r = other.request(join_msg("team-vip1", "a", &key, "fresh1", &ts, "voice"));
        assert_eq!(r["errCode"], -10002, "{ts}: {r}");
        assert!(r["errMsg"].as_str().unwrap().contains("no sign"), "{r}");
    }
    // A nonce outside [A-Za-z0-9_-] or over 32 characters.
    for n in ["a.b".to_string(), "x".repeat(33)] {
        let r = other.request(join_msg("vip1", "a", &key, &n, &now, "voice"));
        assert_eq!(r["errCode"], -10005, "{n}: {r}");
    }
    // Nobody got into the re-split groups; a fresh signature still joins.
    let r = other.request(join_msg("vip1", "a", &key, "fresh2", &now, "voice"));
    assert_eq!(
        (r["type"].as_str(), ids(&r)),
        (Some("joined"), vec!["a"]),
        "{r}"
    );
}

/// Stream names cannot be shared: (group `a_b`, openId `c`) and (group `a`, openId `b_c`) used to both get
/// `room/a_b_c`, and the same group and member in two apps the same name. A push to one of them is announced to
/// its own room only.
#[test]
fn split_ids_and_other_apps_get_their_own_streams() {
    require("ffmpeg");
    const APP2: &str = "wx2second";
    let server = start("[rooms]\nmedia_poll_ms = 200\n");
    create_app(&server, APP2);
    let fixture = fixture_av();
    let (_pusher, j_abc) = member(&server, "a_b", "c", "video");
    let (mut watch_ab, _) = member(&server, "a_b", "w1", "video");
    let (_bc, j_bc) = member(&server, "a", "b_c", "video");
    let (mut watch_a, _) = member(&server, "a", "w2", "video");
    let (_c2, j_c2) = member_in(&server, APP2, "a_b", "c", "video");
    let (mut watch_app2, _) = member_in(&server, APP2, "a_b", "w3", "video");
    let names: Vec<&str> = [&j_abc, &j_bc, &j_c2]
        .iter()
        .map(|j| stream_of(j["pushUrl"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            rooms::stream_name(APP, "a_b", "c"),
            rooms::stream_name(APP, "a", "b_c"),
            rooms::stream_name(APP2, "a_b", "c"),
        ]
    );
    assert!(names[0] != names[1] && names[0] != names[2] && names[1] != names[2]);
    for name in &names {
        assert!(name.starts_with("a_b_c-"), "{name}");
        assert!(
            control::store::validate_stream_name(name).is_ok() && name.len() <= 128,
            "{name}"
        );
    }
    let _push = ffmpeg_push(&fixture, j_abc["pushUrl"].as_str().unwrap());
    let ev = watch_ab.expect_event(1031);
    assert_eq!(ev["userlist"][0]["userid"], "c");
    // The play URL the room hands out names the same stream.
    assert_eq!(
        stream_of(ev["userlist"][0]["playurl"].as_str().unwrap()),
        names[0]
    );
    // The same Input::Stream would have told the others: nothing comes within a second.
    for (who, ws) in [
        ("group a", &mut watch_a),
        ("the other app", &mut watch_app2),
    ] {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if let Some(Ok(v)) = ws.next(Duration::from_millis(200)) {
                assert_ne!(
                    v["type"], "roomEvent",
                    "{who} was told of a_b/c's push: {v}"
                );
            }
        }
    }
}

#[test]
fn the_api_lists_live_rooms_and_their_members() {
    let server = start("");
    let (mut a, _) = member(&server, "listed", "a", "video");
    let (_b, _) = member(&server, "listed", "b", "video");
    assert_eq!(
        a.request(json!({"type":"updateMuteConfig","reqId":2,"muteConfig":{"muteMicrophone":true,"muteEarphone":false}}))["type"],
        "ok"
    );
    let (status, body) = server.get("/v1/rooms");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["node"], Value::Null, "one node: {v}");
    let room = v["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["app"] == APP && r["group"] == "listed")
        .unwrap_or_else(|| panic!("the room is listed: {v}"))
        .clone();
    assert_eq!(room["roomType"], "video");
    let members: Vec<(&str, bool, bool)> = room["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["openId"].as_str().unwrap(),
                m["connected"].as_bool().unwrap(),
                m["microphoneMuted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(members, [("a", true, true), ("b", true, false)], "{room}");
    // The room ends with its members: it leaves the list.
    a.request(json!({"type":"exit"}));
    drop(_b);
    let (_, body) = server.get("/v1/rooms");
    assert!(
        body.contains("listed"),
        "b keeps its place for the resume grace: {body}"
    );
}
