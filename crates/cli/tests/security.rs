//! Issue 12's findings, tried from outside against a real `mplive serve`: signatures that could be moved to
//! another stream or pushed a century ahead, and names of any size on the RTMP path. Signatures are also made
//! here from Tencent's definition (`md5(key + stream + txTime)`), independently of the server's code.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use control::now_unix;
use md5::{Digest, Md5};
use rtmp::{ClientEvent, ClientSession, SessionConfig};

/// A server whose app `live` needs signed pushes, with a callback URL so refusals are stored as webhooks.
fn secure_server(config: &str) -> Server {
    let server = Server::start_with(Options {
        config: config.to_string(),
        open_live: false,
        ..Options::default()
    });
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--callback-url",
        "http://127.0.0.1:9/hook",
    ]);
    // The catalog refresh (200 ms in tests) brings the callback URL to the running server.
    std::thread::sleep(Duration::from_millis(600));
    server
}

/// `txSecret` as Tencent defines it, computed here rather than by the server's own module.
fn tencent_secret(key: &str, stream: &str, tx_time: &str) -> String {
    let digest = Md5::digest(format!("{key}{stream}{tx_time}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn app_key(server: &Server, field: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&server.cli_ok(&["app", "show", "live"])).unwrap();
    v[field].as_str().unwrap().to_string()
}

/// (txSecret, txTime) of a URL.
fn signature_of(url: &str) -> (String, String) {
    let query = url.split_once('?').unwrap().1;
    let get = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    (get("txSecret"), get("txTime"))
}

/// Pushes the fixture with ffmpeg and waits for it to be refused; returns ffmpeg's stderr.
fn push_refused(url: &str) -> String {
    require("ffmpeg");
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(fixture_av())
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ffmpeg was not refused: {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

fn webhook_events(server: &Server) -> Vec<serde_json::Value> {
    let (status, body) = server.get("/v1/webhooks?app=live&limit=100");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["deliveries"].as_array().cloned().unwrap_or_default()
}

fn refused_pushes(server: &Server) -> usize {
    webhook_events(server)
        .iter()
        .filter(|w| w.to_string().contains("push_refused"))
        .count()
}

#[test]
fn a_push_signature_cannot_be_moved_to_another_stream() {
    let server = secure_server("");
    let url = server.cli_ok(&["url", "push", "cam1", "--ttl", "1h"]);
    let (secret, time) = signature_of(url.trim());
    assert_eq!(time.len(), 8, "{url}");
    // `cam` + `1` + txTime is the same MD5 input as `cam1` + txTime.
    let moved = server.rtmp_url(&format!("live/cam?txSecret={secret}&txTime=1{time}"));
    let err = push_refused(&moved);
    assert!(err.contains("signature_bad"), "{err}");
    assert_eq!(server.get("/v1/streams/live/cam").0, 404);
    assert!(server.log().contains("signature_bad"));

    // The URL as issued still publishes, and so does one signed here from Tencent's definition.
    let original = server.rtmp_url(&format!("live/cam1?txSecret={secret}&txTime={time}"));
    let _push = ffmpeg_push(&fixture_av(), &original);
    server.wait_live("live/cam1");
    let key = app_key(&server, "pushKey");
    let tx_time = format!("{:08x}", now_unix() + 3600);
    let own = server.rtmp_url(&format!(
        "live/own?txSecret={}&txTime={tx_time}",
        tencent_secret(&key, "own", &tx_time)
    ));
    let _own = ffmpeg_push(&fixture_av(), &own);
    server.wait_live("live/own");
}

#[test]
fn a_push_signature_far_in_the_future_is_refused_with_its_own_reason() {
    let server = secure_server("max_url_ttl_secs = 86400\n");
    let key = app_key(&server, "pushKey");
    let tx_time = format!("{:08x}", now_unix() + 2 * 86_400);
    let url = server.rtmp_url(&format!(
        "live/far?txSecret={}&txTime={tx_time}",
        tencent_secret(&key, "far", &tx_time)
    ));
    let err = push_refused(&url);
    assert!(err.contains("signature_ttl_too_long"), "{err}");
    // The CLI will not sign what the server refuses.
    let out = server.cli(&["url", "push", "far", "--ttl", "2d"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("max_url_ttl_secs"), "{text}");
    // Nor may the server hand out SDK URLs it would refuse.
    let mut bad = Command::new(env!("CARGO_BIN_EXE_mplive"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "max_url_ttl_secs = 600\nsdk_url_ttl_secs = 3600\n").unwrap();
    bad.env("MPLIVE_CONFIG", &cfg)
        .env("MPLIVE_DATA_DIR", dir.path().join("data"))
        .args([
            "serve",
            "--rtmp-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ]);
    let (out, timed_out) = run_with_timeout(&mut bad, Duration::from_secs(20));
    assert!(!timed_out && !out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("sdk_url_ttl_secs"), "{text}");
}

#[test]
fn an_sdk_push_url_cannot_escape_its_channel() {
    let server = secure_server("");
    let token = server.cli_ok(&[
        "token",
        "--app",
        "live",
        "--channel",
        "shop1",
        "--account",
        "alice",
        "--role",
        "publisher",
    ]);
    let app_id = app_key(&server, "id");
    let body = format!(
        r#"{{"appId":"{app_id}","roomId":"shop1","accountId":"alice","token":"{}","singleAudio":false,"profile":"HD"}}"#,
        token.trim()
    );
    let (status, text) = http_request(
        &server.http,
        "POST",
        "/sdk/v1/publisher/instance",
        &[],
        Some(&body),
    );
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (secret, time) = signature_of(v["url"].as_str().unwrap());
    let moved = server.rtmp_url(&format!("live/shop?txSecret={secret}&txTime=1{time}"));
    let err = push_refused(&moved);
    assert!(err.contains("signature_bad"), "{err}");
}

#[test]
fn a_play_signature_cannot_be_moved_to_another_stream() {
    let server = secure_server("");
    server.cli_ok(&["app", "set", "live", "--play-auth", "on"]);
    std::thread::sleep(Duration::from_millis(600));
    let urls = server.cli_ok(&["url", "play", "cam1"]);
    let flv = urls.lines().find(|l| l.contains(".flv")).unwrap();
    let (secret, time) = signature_of(flv);
    // Signed for cam1: passes the signature, then finds nothing live.
    let (status, body) = http_get(
        &server.http,
        &format!("/live/cam1.flv?txSecret={secret}&txTime={time}"),
    );
    assert_eq!(status, 404, "{body}");
    for path in [
        format!("/live/cam.flv?txSecret={secret}&txTime=1{time}"),
        format!("/live/cam.m3u8?txSecret={secret}&txTime=1{time}"),
    ] {
        let (status, body) = http_get(&server.http, &path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("signature_bad"), "{path}: {body}");
    }
}

/// Every URL the server and the CLI hand out is signed as Tencent defines it: checked here by the test's own MD5,
/// not by the server's `txsecret` module that made it.
#[test]
fn issued_urls_match_tencents_definition() {
    let server = secure_server("");
    server.cli_ok(&["app", "set", "live", "--play-auth", "on"]);
    let (push_key, play_key) = (app_key(&server, "pushKey"), app_key(&server, "playKey"));
    let check = |url: &str, key: &str, stream: &str| {
        let (secret, time) = signature_of(url);
        assert_eq!(time.len(), 8, "{url}");
        assert!(time.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
        let expiry = u64::from_str_radix(&time, 16).unwrap();
        assert!(
            expiry > now_unix() && expiry <= now_unix() + 30 * 86_400,
            "{url}"
        );
        assert_eq!(secret, tencent_secret(key, stream, &time), "{url}");
    };
    let push = server.cli_ok(&["url", "push", "demo-1", "--ttl", "2h"]);
    check(push.trim(), &push_key, "demo-1");
    let play = server.cli_ok(&["url", "play", "demo-1"]);
    for url in play.lines() {
        check(url, &play_key, "demo-1");
    }
    let token = server.cli_ok(&[
        "token",
        "--app",
        "live",
        "--channel",
        "ch.2",
        "--account",
        "bob",
        "--role",
        "publisher",
    ]);
    let body = format!(
        r#"{{"appId":"live","roomId":"ch.2","accountId":"bob","token":"{}","singleAudio":false,"profile":"HD"}}"#,
        token.trim()
    );
    let (status, text) = http_request(
        &server.http,
        "POST",
        "/sdk/v1/publisher/instance",
        &[],
        Some(&body),
    );
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    check(v["url"].as_str().unwrap(), &push_key, "ch.2");
}

/// A blocking RTMP client over a real socket, for names no ffmpeg would send.
struct RawRtmp {
    socket: TcpStream,
    session: ClientSession,
}

impl RawRtmp {
    fn connect(addr: &str, app: &str) -> RawRtmp {
        let socket = TcpStream::connect(addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut session = ClientSession::new(SessionConfig::default(), Instant::now());
        session.connect(app, &format!("rtmp://{addr}/app"));
        RawRtmp { socket, session }
    }

    /// Runs the session until `done` picks an event, or the server closes the socket (`None`).
    fn until(&mut self, mut done: impl FnMut(&ClientEvent) -> bool) -> Option<ClientEvent> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(out) = self.session.take_transmit() {
                if self.socket.write_all(&out).is_err() {
                    return None;
                }
            }
            while let Some(event) = self.session.poll_output() {
                if done(&event) {
                    return Some(event);
                }
            }
            assert!(Instant::now() < deadline, "no answer from the server");
            match self.socket.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => {
                    if self
                        .session
                        .handle_input(&buf[..n], Instant::now())
                        .is_err()
                    {
                        return None;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }
}

fn description(event: Option<ClientEvent>) -> String {
    match event {
        Some(ClientEvent::ConnectRejected { description, .. })
        | Some(ClientEvent::PublishRejected { description, .. })
        | Some(ClientEvent::PlayRejected { description, .. }) => description,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn is_refusal(e: &ClientEvent) -> bool {
    matches!(
        e,
        ClientEvent::ConnectRejected { .. }
            | ClientEvent::PublishRejected { .. }
            | ClientEvent::PlayRejected { .. }
            | ClientEvent::Publishing { .. }
            | ClientEvent::Playing { .. }
    )
}

#[test]
fn names_are_checked_before_they_are_logged_stored_or_echoed() {
    let server = secure_server("");
    // Longer than any name rule allows, shorter than [rtmp] max_field_bytes: the lifecycle's name rules refuse it.
    let long = "x".repeat(3_000);

    // A refused publish with a name that follows the rules is a webhook, as before: the control case.
    let mut c = RawRtmp::connect(&server.rtmp, "live");
    c.session.publish("plain");
    let d = description(c.until(is_refusal));
    assert!(d.starts_with("signature_missing"), "{d}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused_pushes(&server) == 0 {
        assert!(Instant::now() < deadline, "no push_refused webhook stored");
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = server.log().len();

    // Publish with a 3 KB stream name: refused for the name, never echoed.
    let mut c = RawRtmp::connect(&server.rtmp, "live");
    c.session.publish(&long);
    let d = description(c.until(is_refusal));
    assert!(d.starts_with("bad_name"), "{d}");
    assert!(
        d.len() < 300,
        "the refusal echoes the name: {} bytes",
        d.len()
    );
    // Play with a 3 KB name on an app that does not exist.
    let mut c = RawRtmp::connect(&server.rtmp, "nope");
    c.session.play(&format!("{long}?x=1"));
    let d = description(c.until(is_refusal));
    assert!(d.starts_with("bad_name"), "{d}");
    assert!(d.len() < 300, "{d}");
    // Connect with a 3 KB application name, and one with a `/`.
    for app in [long.as_str(), "live/../x"] {
        let mut c = RawRtmp::connect(&server.rtmp, app);
        c.session.publish("s");
        let d = description(c.until(is_refusal));
        assert!(d.starts_with("bad_name"), "{d}");
        assert!(d.len() < 300, "{d}");
    }
    // A 60 KB name (under the command bound) is over [rtmp] max_field_bytes: the RTMP session refuses it, naming
    // the field and the limit, not the value.
    let mut c = RawRtmp::connect(&server.rtmp, "live");
    c.session.publish(&"x".repeat(60_000));
    let d = description(c.until(is_refusal));
    assert!(d.contains("max_field_bytes"), "{d}");
    assert!(d.len() < 300, "{d}");
    // A 5 MB name is beyond the command bound: the connection ends before the name is buffered.
    let huge = "y".repeat(5 << 20);
    let mut c = RawRtmp::connect(&server.rtmp, "live");
    c.session.publish(&huge);
    let end = c.until(is_refusal);
    assert!(end.is_none(), "expected the connection closed, got {end:?}");

    // None of it grew the log by more than a few lines or stored a webhook.
    std::thread::sleep(Duration::from_millis(500));
    let log = server.log();
    let grown = log.len() - before;
    assert!(grown < 8 * 1024, "the log grew by {grown} bytes");
    assert!(!log.contains(&"x".repeat(200)) && !log.contains(&"y".repeat(200)));
    assert!(log.contains("bad_name"), "{log}");
    assert!(log.contains("exceeds the limit"), "{log}");
    assert_eq!(refused_pushes(&server), 1, "{:?}", webhook_events(&server));
    let (_, metrics) = server.get("/metrics");
    assert!(
        metrics.contains("reason=\"bad_name\""),
        "refusals are still counted"
    );
}

#[test]
fn http_play_paths_check_names_too() {
    let server = Server::start("");
    let long = "z".repeat(3000);
    for path in [
        format!("/live/{long}.flv"),
        format!("/live/{long}.m3u8"),
        format!("/{long}/s.flv"),
    ] {
        let (status, body) = http_get(&server.http, &path);
        assert!(status == 400 || status == 404, "{status} {body}");
        assert!(!body.contains(&"z".repeat(100)), "the name is echoed");
    }
    assert!(!server.log().contains(&"z".repeat(100)));
}
