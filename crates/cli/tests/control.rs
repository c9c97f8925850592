//! The control plane against real peers: ffmpeg pushing unsigned, signed, expired, forged and forbidden URLs (the
//! signature on the stream name and on the tcUrl), the admin API and CLI, the SDK endpoints, webhooks delivered to
//! a real HTTP receiver (also across a `kill -9`), and metrics. Every scenario runs on SQLite and on PostgreSQL.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use control::now_unix;

fn secure(db: Db, config: &str) -> Server {
    Server::start_with(Options {
        config: config.to_string(),
        open_live: false,
        db,
    })
}

/// Pushes the fixture for a moment and returns (accepted, ffmpeg's stderr). Accepted: ffmpeg was still
/// streaming after 3 s.
fn try_push(args: &[&str]) -> (bool, String) {
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(fixture_av())
        .args(["-c", "copy"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ffmpeg");
    let deadline = Instant::now() + Duration::from_secs(3);
    let accepted = loop {
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        if Instant::now() > deadline {
            break true;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    (accepted, err)
}

fn push_url(server: &Server, url: &str) -> (bool, String) {
    let url = url.replace("rtmp://127.0.0.1/", &format!("rtmp://{}/", server.rtmp));
    try_push(&["-f", "flv", &url])
}

fn expect_refused(server: &Server, url: &str, reason: &str) {
    let (accepted, err) = push_url(server, url);
    assert!(!accepted, "{url} should be refused ({reason})");
    assert!(
        err.contains(reason),
        "ffmpeg should show the server's reason {reason}: {err}"
    );
}

/// The push URL `mplive url push` prints, pointed at this server's port.
fn signed(server: &Server, stream: &str, extra: &[&str]) -> String {
    let mut args = vec!["url", "push", stream, "--public-host", "127.0.0.1"];
    args.extend_from_slice(extra);
    let out = server.cli_ok(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "url push prints exactly one line: {out:?}");
    let url = lines[0].to_string();
    assert!(
        url.contains("txSecret=") && url.contains("txTime="),
        "{url}"
    );
    // The configured port is 0 (a free one); the URL names the default port, so point it at the real one.
    url.replacen("rtmp://127.0.0.1/", &format!("rtmp://{}/", server.rtmp), 1)
        .replacen(
            "rtmp://127.0.0.1:0/",
            &format!("rtmp://{}/", server.rtmp),
            1,
        )
}

fn metrics(server: &Server) -> String {
    let (status, text) = server.get("/metrics");
    assert_eq!(status, 200, "{text}");
    text
}

#[test]
fn signed_urls_gate_publishing_on_name_and_tcurl() {
    require("ffmpeg");
    for db in Db::all() {
        let server = secure(db.clone(), "");
        // Unsigned: refused with the reason, before anything is published.
        expect_refused(&server, &server.rtmp_url("live/s1"), "signature_missing");
        assert_eq!(server.get("/v1/streams/live/s1").0, 404);

        // Signed on the stream name.
        let url = signed(&server, "s1", &[]);
        let _pusher = ffmpeg_push(&fixture_av(), &url);
        server.wait_live("live/s1");

        // Signed on the tcUrl (connect), stream name plain.
        let url2 = signed(&server, "s2", &["--ttl", "15m"]);
        let query = url2.split_once('?').unwrap().1;
        let (accepted, err) = try_push(&[
            "-rtmp_app",
            &format!("live?{query}"),
            "-rtmp_playpath",
            "s2",
            "-f",
            "flv",
            &format!("rtmp://{}/live", server.rtmp),
        ]);
        assert!(accepted, "signature on the tcUrl is accepted: {err}");
        let tc_secret = query.split('&').next().unwrap();
        assert!(
            !server.log().contains(tc_secret),
            "the tcUrl's signature is not logged"
        );

        // Expired, forged, the signature of another stream, unknown app.
        let expired = signed(
            &server,
            "s3",
            &["--expires-at", &(now_unix() - 10).to_string()],
        );
        expect_refused(&server, &expired, "signature_expired");
        let forged = signed(&server, "s3", &[]).replace("txSecret=", "txSecret=0");
        expect_refused(&server, &forged, "signature_bad");
        let other = signed(&server, "s4", &[]).replace("/live/s4?", "/live/s3?");
        expect_refused(&server, &other, "signature_bad");
        expect_refused(&server, &server.rtmp_url("nope/s1"), "unknown_app");
        // One publisher per stream.
        expect_refused(&server, &url, "stream_busy");

        let m = metrics(&server);
        for reason in [
            "signature_missing",
            "signature_expired",
            "signature_bad",
            "unknown_app",
            "stream_busy",
        ] {
            assert!(
                m.contains(&format!(
                    "mplive_refusals_total{{action=\"publish\",reason=\"{reason}\"}}"
                )),
                "metrics count {reason}: {m}"
            );
        }
        assert!(server.log().contains("signature_expired"), "logged");
        assert!(
            !server
                .log()
                .contains(url.split("txSecret=").nth(1).unwrap_or("-")),
            "the signature itself is not logged"
        );
    }
}

#[test]
fn forbid_drops_the_publisher_and_refuses_it_until_lifted() {
    require("ffmpeg");
    for db in Db::all() {
        let server = secure(db, "");
        let url = signed(&server, "f1", &[]);
        let mut pusher = ffmpeg_push(&fixture_av(), &url);
        server.wait_live("live/f1");
        let (status, body) = server.api(
            "POST",
            "/v1/streams/live/f1/forbid",
            Some(r#"{"seconds": 600, "reason": "test"}"#),
        );
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"kicked\":true"), "{body}");
        // The publisher is dropped at once.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pusher.0.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "forbidden publisher still connected"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        expect_refused(&server, &url, "forbidden");
        assert_eq!(
            server.api("DELETE", "/v1/streams/live/f1/forbid", None).0,
            204
        );
        let (accepted, err) = push_url(&server, &url);
        assert!(
            accepted,
            "publishing again after the forbid is lifted: {err}"
        );
        // Kick of a stream that is not live.
        assert_eq!(
            server.api("POST", "/v1/streams/live/none/kick", None).0,
            404
        );
    }
}

#[test]
fn app_changes_from_the_cli_reach_a_running_server() {
    require("ffmpeg");
    for db in Db::all() {
        let server = secure(db, "");
        expect_refused(&server, &server.rtmp_url("live/open"), "signature_missing");
        server.cli_ok(&["app", "set", "live", "--push-auth", "off"]);
        std::thread::sleep(Duration::from_millis(800)); // catalog_refresh_ms = 200 in tests
        let (accepted, err) = push_url(&server, &server.rtmp_url("live/open"));
        assert!(accepted, "unsigned push after push-auth off: {err}");

        // A new app, its URLs, a key rotation that invalidates old URLs.
        let created = server.cli_ok(&["app", "create", "shop", "--max-streams", "5"]);
        let v: serde_json::Value = serde_json::from_str(&created).unwrap();
        assert_eq!(v["name"], "shop");
        assert!(server.cli_ok(&["app", "list"]).contains("shop"));
        std::thread::sleep(Duration::from_millis(800));
        let old = signed(&server, "s", &["--app", "shop"]);
        let (status, body) = server.api(
            "POST",
            "/v1/apps/shop/rotate-key",
            Some(r#"{"key":"push"}"#),
        );
        assert_eq!(status, 200, "{body}");
        expect_refused(&server, &old, "signature_bad");
        let new = signed(&server, "s", &["--app", "shop"]);
        let (accepted, err) = push_url(&server, &new);
        assert!(accepted, "new key works: {err}");

        // Play URLs: one line per protocol, signed once play auth is on.
        let play = server.cli_ok(&["url", "play", "s", "--app", "shop"]);
        assert_eq!(play.lines().count(), 5, "{play}");
        assert!(!play.contains("txSecret"), "play auth is off by default");
        server.cli_ok(&["app", "set", "shop", "--play-auth", "on"]);
        let play = server.cli_ok(&["url", "play", "s", "--app", "shop"]);
        assert!(play.lines().all(|l| l.contains("txSecret")), "{play}");
        let lines: Vec<&str> = play.lines().collect();
        assert!(
            lines[0].starts_with("rtmp://")
                && lines[1].contains(".flv?")
                && lines[2].contains(".m3u8?")
        );
    }
}

#[test]
fn app_limits_refuse_extra_streams_and_players() {
    require("ffmpeg");
    let server = Server::start("");
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--max-streams",
        "1",
        "--max-players",
        "1",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    let _first = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/one"));
    server.wait_live("live/one");
    expect_refused(&server, &server.rtmp_url("live/two"), "too_many_streams");
    let mut player = std::net::TcpStream::connect(&server.http).unwrap();
    write!(player, "GET /live/one.flv HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    player.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let (status, body) = http_get(&server.http, "/live/one.flv");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("too_many_players"), "{body}");
}

#[test]
fn an_apps_republish_grace_replaces_the_servers() {
    require("ffmpeg");
    let server = Server::start("");
    server.cli_ok(&["app", "set", "live", "--republish-grace-ms", "1000"]);
    std::thread::sleep(Duration::from_millis(800));
    let pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/g"));
    server.wait_live("live/g");
    let mut player = std::net::TcpStream::connect(&server.http).unwrap();
    player
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(player, "GET /live/g.flv HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    player.read_exact(&mut buf[..1024]).unwrap();
    drop(pusher);
    let gone = Instant::now();
    loop {
        match player.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => panic!("the play did not end: {e}"),
        }
    }
    let waited = gone.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "the play ended after the app's 1 s grace (plus ffmpeg's exit), not the server's 15 s: {waited:?}"
    );
}

#[test]
fn play_auth_refuses_unsigned_players() {
    require("ffmpeg");
    let server = secure(Db::Sqlite, "");
    server.cli_ok(&["app", "set", "live", "--play-auth", "on"]);
    std::thread::sleep(Duration::from_millis(800));
    let _pusher = ffmpeg_push(&fixture_av(), &signed(&server, "p", &[]));
    server.wait_live("live/p");
    let (status, body) = http_get(&server.http, "/live/p.flv");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("signature_missing"), "{body}");
    let play = server.cli_ok(&["url", "play", "p", "--public-host", "127.0.0.1"]);
    let flv = play.lines().nth(1).unwrap();
    let path = flv.split_once("127.0.0.1").unwrap().1;
    let path = path.trim_start_matches(|c: char| c == ':' || c.is_ascii_digit());
    let mut s = std::net::TcpStream::connect(&server.http).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "signed FLV play is served");
}

/// `mplive token` for alice on channel room1 of app live, with extra flags.
fn mint_token(server: &Server, extra: &[&str]) -> String {
    let mut args = vec![
        "token",
        "--app",
        "live",
        "--channel",
        "room1",
        "--account",
        "alice",
    ];
    args.extend_from_slice(extra);
    server.cli_ok(&args).trim().to_string()
}

#[test]
fn sdk_instance_and_refresh_hand_out_working_push_urls() {
    require("ffmpeg");
    for db in Db::all() {
        let server = secure(db, "");
        let token = mint_token(&server, &["--role", "publisher"]);
        let token = token.trim();
        let app_id = {
            let v: serde_json::Value =
                serde_json::from_str(&server.cli_ok(&["app", "show", "live"])).unwrap();
            v["id"].as_str().unwrap().to_string()
        };
        let req = |token: &str, account: &str| {
            format!(
                r#"{{"appId":"{app_id}","roomId":"room1","accountId":"{account}","token":"{token}","singleAudio":false,"profile":"HD"}}"#
            )
        };
        server.cli_ok(&["app", "create", "elsewhere"]);
        let other_app_token = server
            .cli_ok(&[
                "token",
                "--app",
                "elsewhere",
                "--channel",
                "room1",
                "--account",
                "alice",
            ])
            .trim()
            .to_string();
        let (status, body) = http_request(
            &server.http,
            "POST",
            "/sdk/v1/publisher/instance",
            &[],
            Some(&req(token, "alice")),
        );
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["stream"], "room1");
        assert!(v["playUrls"]["flv"]
            .as_str()
            .unwrap()
            .ends_with("/live/room1.flv"));
        let url = v["url"].as_str().unwrap();
        let (accepted, err) = push_url(&server, url);
        assert!(accepted, "the SDK's push URL publishes: {err}");
        let (status, body) = http_request(
            &server.http,
            "POST",
            "/sdk/v1/publisher/refresh",
            &[],
            Some(&req(token, "alice")),
        );
        assert_eq!(status, 200, "{body}");
        // The channel was made on first use.
        let (status, body) = server.get("/v1/apps/live/channels/room1");
        assert_eq!(status, 200, "{body}");

        // Refusals, each with its code.
        let cases = [
            (req(token, "bob"), 40106, "another account"),
            (req(&format!("{token}x"), "alice"), 40103, "forged"),
            (req("", "alice"), 40101, "missing"),
            (req("a.b", "alice"), 40102, "malformed"),
            // No token field at all is a missing token too, not a bad body.
            (
                format!(r#"{{"appId":"{app_id}","channelId":"room1","accountId":"alice"}}"#),
                40101,
                "absent",
            ),
            // A token minted for another app (signed with that app's secret): another app, not a forgery.
            (req(&other_app_token, "alice"), 40106, "another app"),
        ];
        for (body, code, what) in cases {
            let (status, text) = http_request(
                &server.http,
                "POST",
                "/sdk/v1/publisher/instance",
                &[],
                Some(&body),
            );
            assert!(status == 401 || status == 400, "{what}: {status} {text}");
            assert!(text.contains(&format!("\"code\":{code}")), "{what}: {text}");
        }
        let viewer = mint_token(&server, &["--role", "viewer"]);
        let (_, text) = http_request(
            &server.http,
            "POST",
            "/sdk/v1/publisher/instance",
            &[],
            Some(&req(&viewer, "alice")),
        );
        assert!(text.contains("\"code\":40105"), "wrong role: {text}");
        let expired = mint_token(&server, &["--expires-at", &(now_unix() - 120).to_string()]);
        let (_, text) = http_request(
            &server.http,
            "POST",
            "/sdk/v1/publisher/instance",
            &[],
            Some(&req(&expired, "alice")),
        );
        assert!(text.contains("\"code\":40104"), "expired: {text}");
        let (status, text) = http_request(
            &server.http,
            "POST",
            "/sdk/v1/publisher/instance",
            &[],
            Some(r#"{"appId":"live","channelId":7}"#),
        );
        assert_eq!(status, 400);
        assert!(
            text.contains("channelId"),
            "the error names the field: {text}"
        );
    }
}

fn md5_hex(s: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.md5(sys.argv[1].encode()).hexdigest())",
            s,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn webhooks_pair_push_start_and_end_with_a_valid_sign() {
    require("ffmpeg");
    for db in Db::all() {
        let server = secure(db, "");
        let receiver = Receiver::start();
        server.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
        std::thread::sleep(Duration::from_millis(800));
        let url = signed(&server, "w1", &[]);
        let pusher = ffmpeg_push(&fixture_av(), &url);
        server.wait_live("live/w1");
        let start = receiver.wait_for("push_start", 1).remove(0);
        assert_eq!(start["event_type"], 1);
        assert_eq!(start["appname"], "live");
        assert_eq!(start["stream_id"], "w1");
        assert_eq!(start["user_ip"], "127.0.0.1");
        assert!(
            start["stream_param"]
                .as_str()
                .unwrap()
                .contains("txSecret=***"),
            "{start}"
        );
        let key: serde_json::Value =
            serde_json::from_str(&server.cli_ok(&["app", "show", "live"])).unwrap();
        let t = start["t"].as_u64().unwrap();
        assert!(t > now_unix() + 500, "t is about now + 10 min");
        assert_eq!(
            start["sign"].as_str().unwrap(),
            md5_hex(&format!("{}{t}", key["callbackKey"].as_str().unwrap())),
            "sign = md5(callback key + t)"
        );
        drop(pusher);
        let end = receiver.wait_for("push_end", 1).remove(0);
        assert_eq!(end["event_type"], 0);
        assert_eq!(
            end["sequence"], start["sequence"],
            "the pair shares its sequence"
        );
        let duration = end["push_duration"].as_u64().unwrap();
        assert!(
            (300..60_000).contains(&duration),
            "push_duration in ms: {end}"
        );
        // Players are reported too, with their protocol and address.
        let _pusher = ffmpeg_push(&fixture_av(), &signed(&server, "w3", &[]));
        server.wait_live("live/w3");
        let (out, _) = run_with_timeout(
            Command::new("ffmpeg").args([
                "-v",
                "error",
                "-i",
                &server.rtmp_url("live/w3"),
                "-t",
                "1",
                "-f",
                "null",
                "-",
            ]),
            Duration::from_secs(20),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let play = receiver.wait_for("play_start", 1).remove(0);
        assert_eq!(
            (play["protocol"].as_str(), play["player_ip"].as_str()),
            (Some("rtmp"), Some("127.0.0.1"))
        );
        let stop = receiver.wait_for("play_stop", 1).remove(0);
        // A play's start and stop share a sequence of their own (pairs them; deduplicates deliveries).
        let play_sequence = play["sequence"].as_str().unwrap_or_default();
        assert!(!play_sequence.is_empty(), "a play has a sequence: {play}");
        assert_eq!(stop["sequence"].as_str(), Some(play_sequence), "{stop}");
        assert_eq!(server.api("POST", "/v1/streams/live/w3/kick", None).0, 200);
        let kick = receiver.wait_for("kick", 1).remove(0);
        assert_eq!(
            kick["errcode"], 1012,
            "a kick is errcode 1012 (kicked): {kick}"
        );
        assert!(!kick["errmsg"].as_str().unwrap().is_empty(), "{kick}");
        let kick_sequence = kick["sequence"].as_str().unwrap().to_string();
        assert!(!kick_sequence.is_empty(), "a kick has a sequence: {kick}");
        let ends = receiver.wait_for("push_end", 2);
        let kicked = ends
            .iter()
            .find(|e| e["stream_id"] == "w3")
            .expect("w3's push_end");
        assert_eq!(
            kicked["errcode"], 1012,
            "a kicked push ends with errcode 1012: {kicked}"
        );
        // A refused push is reported with its errcode.
        expect_refused(&server, &server.rtmp_url("live/w2"), "signature_missing");
        expect_refused(&server, &server.rtmp_url("live/w2"), "signature_missing");
        let refused = receiver.wait_for("push_refused", 2);
        assert_eq!(refused[0]["errcode"], 1001);
        // Each refusal, and the kick, is its own dedup key (`sequence` + `event_type`).
        let sequences: std::collections::HashSet<&str> = refused
            .iter()
            .map(|r| r["sequence"].as_str().unwrap())
            .chain([kick_sequence.as_str()])
            .collect();
        assert!(
            sequences.len() == 3 && !sequences.contains(""),
            "distinct sequences: {refused:?} {kick_sequence}"
        );
        // The delivery log, in the API's camelCase (the bodies keep Tencent's names).
        let (status, body) = server.get("/v1/webhooks?app=live&limit=10");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"state\":\"delivered\""), "{body}");
        let log: serde_json::Value = serde_json::from_str(&body).unwrap();
        let row = &log["deliveries"][0];
        for field in [
            "appId",
            "lastStatus",
            "nextAttemptMs",
            "createdMs",
            "deliveredMs",
        ] {
            assert!(row.get(field).is_some(), "{field} in {row}");
        }
        assert!(row.get("app_id").is_none(), "{row}");
        assert!(
            row["body"].as_str().unwrap().contains("\"event_type\""),
            "{row}"
        );
    }
}

#[test]
fn pending_webhooks_survive_kill_9_and_are_delivered_after_restart() {
    require("ffmpeg");
    for db in Db::all() {
        let mut server = secure(
            db,
            "[webhooks]\nretry_interval_secs = 1\nmax_attempts = 100\n",
        );
        let receiver = Receiver::start();
        receiver.fail.store(1, Ordering::SeqCst);
        server.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
        std::thread::sleep(Duration::from_millis(800));
        let url = signed(&server, "k1", &[]);
        let pusher = ffmpeg_push(&fixture_av(), &url);
        server.wait_live("live/k1");
        // Wait until the event is in the outbox and its first attempt failed.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, body) = server.get("/v1/webhooks");
            if body.contains("\"attempts\":1") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no failed attempt recorded: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(pusher);
        server.kill();
        assert!(receiver.bodies.lock().unwrap().is_empty());
        receiver.fail.store(0, Ordering::SeqCst);
        server.spawn();
        let start = receiver.wait_for("push_start", 1);
        assert_eq!(start[0]["stream_id"], "k1");
    }
}

/// Issue 12, finding 5: refused publishes from one address store at most
/// `webhooks.refused_per_address_per_minute` push_refused webhooks a minute; the rest are counted, logged once and
/// dropped.
#[test]
fn push_refused_webhooks_are_rate_limited_per_address() {
    require("ffmpeg");
    let server = secure(
        Db::Sqlite,
        "[webhooks]\nrefused_per_address_per_minute = 3\n",
    );
    let receiver = Receiver::start();
    server.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
    std::thread::sleep(Duration::from_millis(800));
    for i in 0..8 {
        expect_refused(
            &server,
            &server.rtmp_url(&format!("live/r{i}")),
            "signature_missing",
        );
    }
    receiver.wait_for("push_refused", 3);
    std::thread::sleep(Duration::from_millis(1500));
    let refused = receiver.wait_for("push_refused", 3);
    assert_eq!(refused.len(), 3, "{refused:?}");
    let (_, log) = server.get("/v1/webhooks?app=live&limit=100");
    assert_eq!(
        log.matches("\"event\":\"push_refused\"").count(),
        3,
        "{log}"
    );
    let text = metrics(&server);
    assert!(
        text.contains("mplive_webhooks_suppressed_total 5"),
        "{text}"
    );
    assert!(
        text.contains("mplive_refusals_total{action=\"publish\",reason=\"signature_missing\"} 8"),
        "every refusal is still counted: {text}"
    );
    let suppressed = server
        .log()
        .matches("refused_per_address_per_minute")
        .count();
    assert_eq!(suppressed, 1, "logged once per address and minute");
}

/// Issue 12, finding 6: a failed delivery logs the callback URL without its userinfo and query, and the error
/// without the URL.
#[test]
fn failed_webhook_deliveries_log_no_url_credentials() {
    require("ffmpeg");
    let server = secure(
        Db::Sqlite,
        "[webhooks]\nretry_interval_secs = 1\nmax_attempts = 2\n",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://hook:pa55word@127.0.0.1:{port}/in?apikey=SECRET123");
    server.cli_ok(&["app", "set", "live", "--callback-url", &url]);
    std::thread::sleep(Duration::from_millis(800));
    expect_refused(&server, &server.rtmp_url("live/x"), "signature_missing");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.log().contains("webhook given up") {
        assert!(
            Instant::now() < deadline,
            "no failed delivery: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = server.log();
    assert!(log.contains("webhook attempt failed, will retry"), "{log}");
    assert!(
        log.contains(&format!("http://127.0.0.1:{port}/in")),
        "the URL is logged without its secrets: {log}"
    );
    assert!(!log.contains("pa55word"), "{log}");
    assert!(!log.contains("SECRET123"), "{log}");
    // The stored error, shown by the API, has no URL either.
    let (_, body) = server.get("/v1/webhooks?app=live&limit=10");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let error = rows["deliveries"]
        .as_array()
        .and_then(|r| r.first())
        .map(|r| r["lastError"].to_string());
    let error = error.unwrap_or_else(|| panic!("a webhook row: {body}"));
    assert!(error.contains("onnect"), "{error}");
    assert!(
        !error.contains("pa55word") && !error.contains("SECRET123"),
        "{error}"
    );
}

#[test]
fn admin_api_needs_the_token_and_answers_bad_input_with_the_field() {
    let server = secure(Db::Sqlite, "max_body_bytes = 2048\n");
    assert_eq!(http_get(&server.http, "/v1/streams").0, 401);
    assert_eq!(http_get(&server.http, "/metrics").0, 401);
    let (status, body) = http_request(
        &server.http,
        "GET",
        "/v1/apps",
        &[("Authorization", "Bearer wrong")],
        None,
    );
    assert_eq!(status, 401);
    assert!(body.contains("40100"), "{body}");
    assert_eq!(http_get(&server.http, "/v1/openapi.json").0, 200);

    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("POST", "/v1/apps", r#"{"name": 5}"#, 400, "name"),
        ("POST", "/v1/apps", r#"{"name": "bad name"}"#, 400, "name"),
        (
            "POST",
            "/v1/apps",
            r#"{"name": "x", "pushAuth": "yes"}"#,
            400,
            "pushAuth",
        ),
        (
            "POST",
            "/v1/apps",
            r#"{"name": "x", "colour": 1}"#,
            400,
            "colour",
        ),
        (
            "POST",
            "/v1/apps",
            r#"{"name": "x", "maxStreams": -1}"#,
            400,
            "maxStreams",
        ),
        (
            "POST",
            "/v1/apps",
            r#"{"name": "x", "callbackUrls": ["ftp://a"]}"#,
            400,
            "callbackUrls",
        ),
        ("POST", "/v1/apps", r#"{"name": "live"}"#, 409, "live"),
        ("POST", "/v1/apps", "{", 400, "EOF"),
        ("PATCH", "/v1/apps/nope", "{}", 404, "nope"),
        (
            "POST",
            "/v1/apps/live/rotate-key",
            r#"{"key":"all"}"#,
            400,
            "key",
        ),
        (
            "POST",
            "/v1/streams/live/x/forbid",
            r#"{"until": 5}"#,
            400,
            "until",
        ),
        ("POST", "/v1/streams/live/x/forbid", r#"{}"#, 400, "until"),
        (
            "POST",
            "/v1/apps/live/tokens",
            r#"{"channel":"c","account":"a","role":"king"}"#,
            400,
            "role",
        ),
        (
            "POST",
            "/v1/apps/live/urls",
            r#"{"stream":"a b"}"#,
            400,
            "stream",
        ),
        ("GET", "/v1/webhooks?limit=0", "", 400, "limit"),
        ("GET", "/v1/webhooks?limit=x", "", 400, "limit"),
    ];
    for (method, path, body, status, needle) in cases {
        let (got, text) = server.api(method, path, (!body.is_empty()).then_some(*body));
        assert_eq!(got, *status, "{method} {path} {body}: {text}");
        assert!(
            text.contains(needle),
            "{method} {path} {body}: the error names {needle}: {text}"
        );
        assert!(text.contains("\"code\":"), "{text}");
    }
    let big = format!(r#"{{"name": "{}"}}"#, "a".repeat(4096));
    let (status, text) = server.api("POST", "/v1/apps", Some(&big));
    assert_eq!(status, 413, "{text}");
    let (status, _) = http_request(
        &server.http,
        "POST",
        "/v1/apps",
        &[
            ("Authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("Content-Type", "text/plain"),
        ],
        None,
    );
    assert_eq!(status, 415);

    // The API does what the CLI does.
    let (status, body) = server.api(
        "POST",
        "/v1/apps",
        Some(r#"{"name":"api1","playAuth":true,"callbackUrls":["http://127.0.0.1:9/h"]}"#),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.api(
        "POST",
        "/v1/apps/api1/urls",
        Some(r#"{"stream":"s","ttlSecs":60}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("txSecret"), "{body}");
    let (status, body) = server.api(
        "POST",
        "/v1/apps/api1/channels",
        Some(r#"{"channelId":"c1","title":"Launch"}"#),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        server
            .api(
                "POST",
                "/v1/apps/api1/channels",
                Some(r#"{"channelId":"c1"}"#)
            )
            .0,
        409
    );
    assert_eq!(
        server.api("DELETE", "/v1/apps/api1/channels/c1", None).0,
        204
    );
    assert_eq!(server.api("DELETE", "/v1/apps/api1", None).0, 204);
    assert_eq!(server.api("GET", "/v1/apps/api1", None).0, 404);
}

/// Runs `mplive serve` on a data directory until it has printed its banner; returns (stdout, stderr). With `tty`,
/// stdout is a pseudo-terminal (util-linux `script`), as when a person starts the server.
fn first_start_banner(data: &std::path::Path, tty: bool) -> (String, String) {
    let bin = env!("CARGO_BIN_EXE_mplive");
    let args = format!(
        "{bin} serve --rtmp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir {}",
        data.display()
    );
    let mut cmd = if tty {
        let mut c = Command::new("script");
        c.args(["-qefc", &args, "/dev/null"]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &format!("exec {args}")]);
        c
    };
    let mut child = cmd
        .env_remove("MPLIVE_ADMIN_TOKEN")
        .env("MPLIVE_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        out.push_str(&line);
        out.push('\n');
        if line.contains("/v1/streams") {
            break;
        }
    }
    // `script` passes SIGTERM on to the server; SIGKILL would leave the server running without it.
    unsafe_kill(child.id(), "TERM");
    let _ = child.wait();
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    (out, err)
}

#[test]
fn first_start_prints_the_admin_token_once_and_writes_it_0600() {
    // Output to a pipe (a service manager's journal, a log file): the banner names the file, never the token.
    let dir = tempfile::tempdir().unwrap();
    let (first, log) = first_start_banner(&dir.path().join("data"), false);
    let token_file = dir.path().join("data/admin-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.trim();
    assert!(token.starts_with("mpl_"), "{token}");
    assert!(!first.contains(token), "not printed to a pipe: {first}");
    assert!(
        first.contains(&token_file.display().to_string()),
        "names the file: {first}"
    );
    assert!(!log.contains(token), "never logged");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(first.contains("txSecret="), "a signed push URL: {first}");

    // A person at a terminal sees it once, at the first start.
    require("script");
    let dir = tempfile::tempdir().unwrap();
    let (first, log) = first_start_banner(&dir.path().join("data"), true);
    let token = std::fs::read_to_string(dir.path().join("data/admin-token")).unwrap();
    let token = token.trim();
    assert!(
        first.contains(token),
        "printed at first start on a terminal: {first}"
    );
    assert!(!log.contains(token), "never logged");
    let (second, _) = first_start_banner(&dir.path().join("data"), true);
    assert!(second.contains("/v1/streams"), "{second}");
    assert!(!second.contains(token), "printed only once: {second}");
}

#[test]
fn schemathesis_finds_no_server_errors() {
    // ./scripts/test installs it and says where; else it must be on PATH.
    let program = std::env::var("MPLIVE_SCHEMATHESIS").unwrap_or_else(|_| {
        require("schemathesis");
        "schemathesis".into()
    });
    let server = secure(Db::Sqlite, "");
    let out = Command::new(program)
        .args(["run", &format!("http://{}/v1/openapi.json", server.http)])
        .args(["--url", &format!("http://{}", server.http)])
        .args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .args(["--checks", "not_a_server_error"])
        .args(["--max-examples", "25", "--max-time", "45", "--workers", "2"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache goes into the working directory: keep it out of the source tree.
        .current_dir(server.dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis failed:\n{text}\nserver log tail:\n{}",
        {
            let log = server.log();
            log[log.len().saturating_sub(4000)..].to_string()
        }
    );
}

/// One raw HTTP/1.0 request; returns (status, head, body).
fn raw_request(addr: &str, request_head: &str, body: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{request_head}Host: {addr}\r\n\r\n{body}").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn the_api_answers_json_errors_and_lets_browsers_call_the_sdk() {
    let server = secure(Db::Sqlite, "");
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}\r\n");
    // Unknown routes under /v1 and /sdk/v1: 404 {code, message}, whatever media route the path also fits.
    for path in [
        "/v1/nope",
        "/v1/streams/live",
        "/v1/streams/live/cam/extra/more",
        "/sdk/v1/nope",
        "/sdk/v1/publisher/nope/deeper",
    ] {
        let (status, head, body) =
            raw_request(&server.http, &format!("GET {path} HTTP/1.0\r\n{auth}"), "");
        assert_eq!(status, 404, "{path}: {head}\n{body}");
        assert!(
            head.contains("content-type: application/json"),
            "{path}: {head}"
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], 40400, "{path}: {body}");
        assert!(
            v["message"].as_str().unwrap().contains("no route"),
            "{body}"
        );
    }
    let (status, _, body) = raw_request(
        &server.http,
        &format!("POST /v1/nope HTTP/1.0\r\n{auth}"),
        "",
    );
    assert_eq!((status, body.contains("40400")), (404, true), "{body}");
    // A wrong method: 405, the same shape, with Allow.
    for (method, path) in [
        ("DELETE", "/v1/streams"),
        ("PUT", "/v1/apps"),
        ("GET", "/sdk/v1/publisher/instance"),
    ] {
        let (status, head, body) = raw_request(
            &server.http,
            &format!("{method} {path} HTTP/1.0\r\n{auth}"),
            "",
        );
        assert_eq!(status, 405, "{method} {path}: {head}\n{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], 40500, "{body}");
        assert!(head.contains("allow:"), "{head}");
    }
    // Media routes are untouched: an unknown stream's FLV is still the media 404.
    assert_eq!(http_get(&server.http, "/live/none.flv").0, 404);

    // CORS: a preflight from another origin is answered 204 with the headers an H5 page needs.
    let (status, head, _) = raw_request(
        &server.http,
        "OPTIONS /sdk/v1/player/instance HTTP/1.0\r\nOrigin: https://h5.example.com\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n",
        "",
    );
    assert_eq!(status, 204, "{head}");
    for h in [
        "access-control-allow-origin: *",
        "access-control-allow-methods: post, options",
        "access-control-allow-headers: content-type, authorization",
        "access-control-max-age:",
    ] {
        assert!(head.contains(h), "{h} in {head}");
    }
    // Normal answers, refusals included, carry Access-Control-Allow-Origin.
    let body = r#"{"appId":"live","channelId":"room1","accountId":"bob","token":""}"#;
    let (status, head, text) = raw_request(
        &server.http,
        &format!(
            "POST /sdk/v1/player/instance HTTP/1.0\r\nOrigin: https://h5.example.com\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ),
        body,
    );
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("40101"), "{text}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    // The admin API is not opened to browsers.
    let (_, head, _) = raw_request(
        &server.http,
        &format!("GET /v1/streams HTTP/1.0\r\n{auth}"),
        "",
    );
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}

#[test]
fn stream_commands_list_show_kick_forbid_and_unforbid_through_the_api() {
    require("ffmpeg");
    let server = secure(Db::Sqlite, "");
    let api = format!("http://{}", server.http);
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", api.as_str()]);
        server.cli(&all)
    };
    let ok = |args: &[&str]| {
        let out = cli(args);
        assert!(
            out.status.success(),
            "mplive {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let url = signed(&server, "cmd1", &[]);
    let mut pusher = ffmpeg_push(&fixture_av(), &url);
    server.wait_live("live/cmd1");

    let table = ok(&["stream", "list"]);
    assert!(
        table.contains("live/cmd1") && table.contains("H264"),
        "{table}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["stream", "list", "--json"])).unwrap();
    assert_eq!(listed["streams"][0]["stream"], "cmd1", "{listed}");
    let none: serde_json::Value =
        serde_json::from_str(&ok(&["stream", "list", "--app", "other", "--json"])).unwrap();
    assert_eq!(none["streams"].as_array().unwrap().len(), 0, "{none}");
    // `show` prints the API's stream, camelCase.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["stream", "show", "live/cmd1"])).unwrap();
    assert_eq!(shown["videoCodec"], "H264", "{shown}");
    assert!(shown["bytesIn"].as_u64().unwrap() > 0, "{shown}");
    assert!(
        shown["publisher"]["startedAtMs"].as_u64().is_some(),
        "{shown}"
    );
    let out = cli(&["stream", "show", "live/none"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("40402"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["stream", "show", "cmd1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("APP/STREAM"));

    // kick drops the publisher.
    assert!(ok(&["stream", "kick", "live/cmd1"]).contains("kicked"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while pusher.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "kicked publisher still connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // forbid, listed by `forbids`, refuses the publisher; unforbid lets it back.
    let said = ok(&[
        "stream",
        "forbid",
        "live/cmd1",
        "--until",
        "10m",
        "--reason",
        "cli test",
    ]);
    assert!(said.contains("forbade live/cmd1"), "{said}");
    let forbids: serde_json::Value = serde_json::from_str(&ok(&["forbids", "--json"])).unwrap();
    let f = &forbids["forbids"][0];
    assert_eq!(
        (f["app"].as_str(), f["stream"].as_str()),
        (Some("live"), Some("cmd1")),
        "{forbids}"
    );
    assert_eq!(f["reason"], "cli test");
    let until = f["until"].as_i64().unwrap();
    let now = now_unix() as i64;
    assert!((now + 590..=now + 610).contains(&until), "{until} vs {now}");
    assert!(f["createdMs"].as_i64().is_some(), "{f}");
    assert!(ok(&["forbids", "--app", "live"]).contains("cli test"));
    let (status, body) = server.get("/v1/forbids?app=nope");
    assert_eq!(status, 404, "{body}");
    expect_refused(&server, &url, "forbidden");
    assert!(ok(&["stream", "unforbid", "live/cmd1"]).contains("lifted"));
    let forbids: serde_json::Value = serde_json::from_str(&ok(&["forbids", "--json"])).unwrap();
    assert_eq!(forbids["forbids"].as_array().unwrap().len(), 0, "{forbids}");
    let (accepted, err) = push_url(&server, &url);
    assert!(accepted, "publishing again after unforbid: {err}");
    let out = cli(&["stream", "unforbid", "live/cmd1"]);
    assert!(!out.status.success(), "nothing to lift");

    // Without a reachable server the error says where it looked.
    let out = server.cli(&["stream", "list", "--server", "http://127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the server"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_admin_api_and_the_cli_speak_camel_case() {
    require("ffmpeg");
    let server = secure(Db::Sqlite, "");
    let _pusher = ffmpeg_push(&fixture_av(), &signed(&server, "names", &[]));
    let stats = server.wait_live("live/names");
    for field in [
        "videoCodec",
        "audioCodec",
        "videoBitrate",
        "audioBitrate",
        "videoFPS",
        "videoGOP",
        "videoWidth",
        "videoHeight",
        "audioSampleRate",
        "audioChannels",
        "bytesIn",
        "bytesOut",
        "framesIn",
        "droppedFrames",
        "uptimeMs",
    ] {
        assert!(stats.get(field).is_some(), "{field} in {stats}");
    }
    assert!(stats["publisher"]["startedAtMs"].is_u64(), "{stats}");
    let players = stats["players"].as_object().unwrap();
    let mut keys: Vec<&str> = players.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["flv", "hls", "llHls", "relays", "rtmp", "total", "webrtc"],
        "{stats}"
    );
    let (_, list) = server.get("/v1/streams");
    let (_, apps) = server.get("/v1/apps");
    let shown = server.cli_ok(&["app", "show", "live"]);
    for text in [list.as_str(), apps.as_str(), shown.as_str()] {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut stack = vec![&v];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Object(map) => {
                    for (k, child) in map {
                        assert!(!k.contains('_'), "{k} in {text}");
                        stack.push(child);
                    }
                }
                serde_json::Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
    }
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown["pushAuth"], true,
        "the CLI prints the API's app: {shown}"
    );
}

/// `GET /v1/streams/{app}/{stream}/players` lists the RTMP and HTTP-FLV players with what each was sent.
#[test]
fn the_api_lists_a_streams_players() {
    require("ffmpeg");
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/watched"));
    server.wait_live("live/watched");
    let reader = |url: String| {
        Peer(
            std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-i", &url, "-f", "null", "-"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let _rtmp = reader(server.rtmp_url("live/watched"));
    let _flv = reader(server.http_url("live/watched.flv"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, body) = server.get("/v1/streams/live/watched/players");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let players = v["players"].as_array().unwrap();
        let mut protocols: Vec<&str> = players
            .iter()
            .map(|p| p["protocol"].as_str().unwrap())
            .collect();
        protocols.sort();
        let sent = players
            .iter()
            .all(|p| p["bytes"].as_u64().unwrap_or(0) > 10_000);
        if protocols == ["flv", "rtmp"] && sent {
            for p in players {
                assert!(p["addr"].as_str().unwrap().starts_with("127.0.0.1:"), "{p}");
                assert!(p["sinceMs"].as_u64().unwrap() > 1_700_000_000_000, "{p}");
                assert_eq!(p["droppedFrames"], 0, "{p}");
            }
            assert_eq!(v["hlsViewers"], 0);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "players: {v}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(server.get("/v1/streams/live/nobody/players").0, 404);
}

/// `GET /v1/streams/{app}/{stream}/history`: the stream's rates sampled every 2 s.
#[test]
fn the_api_keeps_a_streams_recent_history() {
    require("ffmpeg");
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/sampled"));
    server.wait_live("live/sampled");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, body) = server.get("/v1/streams/live/sampled/history");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["intervalMs"], 2000);
        let samples = v["samples"].as_array().unwrap();
        let flowing = samples
            .iter()
            .filter(|s| {
                s["videoBitrate"].as_f64().unwrap_or(0.0) > 0.0
                    && s["videoFPS"].as_f64().unwrap_or(0.0) > 0.0
            })
            .count();
        if flowing >= 2 {
            let times: Vec<i64> = samples
                .iter()
                .map(|s| s["atMs"].as_i64().unwrap())
                .collect();
            assert!(times.windows(2).all(|w| w[0] < w[1]), "{v}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "history: {v}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(server.get("/v1/streams/live/nobody/history").0, 404);
}
