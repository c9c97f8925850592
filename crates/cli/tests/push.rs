//! `mplive push` against a real `mplive serve`: status codes, net status, reconnects, refusals, and what players
//! (ffprobe, ffmpeg) make of the pushed stream.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Every field live-pusher's `bindnetstatus` carries.
const NET_STATUS_FIELDS: [&str; 11] = [
    "videoBitrate",
    "audioBitrate",
    "videoFPS",
    "videoGOP",
    "netSpeed",
    "netJitter",
    "netQualityLevel",
    "videoWidth",
    "videoHeight",
    "videoCache",
    "audioCache",
];

/// A running `mplive push ... --json`, killed on drop. Every stdout line must be a JSON object with a type.
struct Push {
    child: Child,
    lines: mpsc::Receiver<Result<Value, String>>,
    seen: Vec<Value>,
    stderr: std::thread::JoinHandle<String>,
}

impl Push {
    fn start(url: &str, args: &[&str]) -> Push {
        Push::start_with_stdin(url, args, Stdio::null())
    }

    fn start_with_stdin(url: &str, args: &[&str], stdin: Stdio) -> Push {
        let mut all = vec![url];
        all.extend_from_slice(args);
        Push::spawn(&all, stdin)
    }

    /// `mplive push --json ARGS`.
    fn spawn(args: &[&str], stdin: Stdio) -> Push {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mplive"))
            .arg("push")
            .arg("--json")
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mplive push");
        let stdout = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let parsed = serde_json::from_str::<Value>(&line)
                    .ok()
                    .filter(|v| v["type"].is_string())
                    .ok_or(line);
                if tx.send(parsed).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Push {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// The next line, or `None` after `limit` or at the end of the output.
    fn next(&mut self, limit: Duration) -> Option<Value> {
        match self.lines.recv_timeout(limit) {
            Ok(Ok(v)) => {
                check_line(&v);
                self.seen.push(v.clone());
                Some(v)
            }
            Ok(Err(line)) => panic!("not a JSON event line: {line:?}"),
            Err(_) => None,
        }
    }

    /// Reads until a status line with `code`; returns it.
    fn wait_code(&mut self, code: i64, limit: Duration) -> Value {
        self.wait_for(&format!("status {code}"), limit, |v| {
            v["type"] == "status" && v["code"] == code
        })
    }

    fn wait_for(&mut self, what: &str, limit: Duration, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(v) if f(&v) => return v,
                Some(_) => {}
                None => panic!("no {what} within {limit:?}; lines so far:\n{}", self.dump()),
            }
        }
    }

    /// The status codes seen so far, in order.
    fn codes(&self) -> Vec<i64> {
        self.seen
            .iter()
            .filter(|v| v["type"] == "status")
            .filter_map(|v| v["code"].as_i64())
            .collect()
    }

    /// Reads to the end of the output and waits for the exit.
    fn finish(mut self, limit: Duration) -> (ExitStatus, Vec<Value>, String) {
        let deadline = Instant::now() + limit;
        while self
            .next(deadline.saturating_duration_since(Instant::now()))
            .is_some()
        {}
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "mplive push did not exit within {limit:?}; lines:\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let seen = std::mem::take(&mut self.seen);
        let _ = self.child.kill();
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        (status, seen, stderr.join().unwrap_or_default())
    }

    fn dump(&self) -> String {
        self.seen
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Push {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status lines carry a code and a message; net-status lines every live-pusher field as a number.
fn check_line(v: &Value) {
    match v["type"].as_str() {
        Some("status") => {
            assert!(v["code"].is_i64(), "status without a code: {v}");
            assert!(
                v["message"].as_str().is_some_and(|m| !m.is_empty()),
                "status without a message: {v}"
            );
        }
        Some("netStatus") => {
            for field in NET_STATUS_FIELDS {
                assert!(v[field].is_number(), "netStatus without {field}: {v}");
            }
        }
        Some("ended") => assert!(v["reason"].is_string(), "{v}"),
        Some("sdk") => assert!(v["event"].is_string(), "{v}"),
        other => panic!("unknown line type {other:?}: {v}"),
    }
}

const SECS_30: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// ffprobe's stream list of `url`.
fn ffprobe_streams(url: &str) -> Vec<Value> {
    let (out, timed_out) = run_with_timeout(
        Command::new("ffprobe").args(["-v", "error", "-show_streams", "-of", "json", url]),
        SECS_30,
    );
    assert!(
        !timed_out && out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["streams"].as_array().cloned().unwrap_or_default()
}

fn stream_of(streams: &[Value], kind: &str) -> Value {
    streams
        .iter()
        .find(|s| s["codec_type"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} stream in {streams:?}"))
}

/// The push URL `mplive url push` prints, pointed at this server's RTMP port.
fn signed(server: &Server, stream: &str, extra: &[&str]) -> String {
    let mut args = vec!["url", "push", stream, "--public-host", "127.0.0.1"];
    args.extend_from_slice(extra);
    let url = server.cli_ok(&args).trim().to_string();
    assert!(
        url.contains("txSecret=") && url.contains("txTime="),
        "{url}"
    );
    let (_, path) = url
        .strip_prefix("rtmp://")
        .and_then(|r| r.split_once('/'))
        .expect("rtmp://host/path");
    format!("rtmp://{}/{path}", server.rtmp)
}

#[test]
fn push_file_goes_live_and_plays() {
    require("ffprobe");
    let server = Server::start("");
    let fixture = fixture_av();
    let mut push = Push::start(
        &server.rtmp_url("live/pf"),
        &["--source", fixture.to_str().unwrap(), "--seconds", "12"],
    );
    push.wait_code(1002, SECS_30);
    assert_eq!(push.codes(), [1001, 1002], "connected, then pushing");
    server.wait_live("live/pf");
    let (status, body) = server.get("/v1/streams/live/pf");
    assert_eq!(status, 200, "{body}");

    let flv = server.http_url("live/pf.flv");
    let streams = ffprobe_streams(&flv);
    let video = stream_of(&streams, "video");
    assert_eq!(
        (video["codec_name"].as_str(), video["width"].as_i64()),
        (Some("h264"), Some(540))
    );
    assert_eq!(stream_of(&streams, "audio")["codec_name"], "aac");
    ffmpeg_decode(&flv, 3);

    let net = push.wait_for("a net status with video", SECS_30, |v| {
        v["type"] == "netStatus" && v["videoWidth"] == 540 && v["netSpeed"].as_u64() > Some(0)
    });
    assert_eq!(net["videoHeight"], 960, "{net}");
    assert!(net["videoBitrate"].as_u64() > Some(100), "{net}");
    assert!(net["videoFPS"].as_f64().is_some_and(|f| f > 15.0), "{net}");
    assert!(
        (1..=4).contains(&net["netQualityLevel"].as_u64().unwrap()),
        "{net}"
    );

    let (status, lines, stderr) = push.finish(SECS_30);
    assert!(
        status.success(),
        "exit 0 after --seconds: {status} {stderr}"
    );
    let last = lines.last().expect("an ended line");
    assert_eq!(
        (last["type"].as_str(), last["reason"].as_str()),
        (Some("ended"), Some("stopped"))
    );
    assert!(
        !lines.iter().any(|v| v["type"] == "status"
            && v["code"].as_i64() != Some(1002)
            && v["code"].as_i64() != Some(1001)),
        "no failure while pushing: {lines:?}"
    );
}

#[test]
fn push_test_pattern_follows_the_mode_preset() {
    require("ffprobe");
    let server = Server::start("");
    let mut push = Push::start(
        &server.rtmp_url("live/sd"),
        &["--source", "testsrc", "--mode", "SD", "--seconds", "20"],
    );
    push.wait_code(1002, SECS_30);
    if !push.codes().contains(&1007) {
        push.wait_code(1007, SECS_30);
    }
    let codes = push.codes();
    let at = |c: i64| codes.iter().position(|x| *x == c).unwrap();
    assert!(
        at(1003) < at(1008) && at(1008) < at(1007),
        "the encoder codes in live-pusher's order: {codes:?}"
    );
    let streams = ffprobe_streams(&server.http_url("live/sd.flv"));
    let video = stream_of(&streams, "video");
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(360), Some(640))
    );
    assert_eq!(stream_of(&streams, "audio")["sample_rate"], "48000");
    drop(push);

    let mut audio = Push::start(
        &server.rtmp_url("live/voice"),
        &["--audio-only", "--audio-quality", "low", "--seconds", "20"],
    );
    audio.wait_code(1002, SECS_30);
    let net = audio.wait_for("audio net status", SECS_30, |v| {
        v["type"] == "netStatus" && v["audioBitrate"].as_u64() > Some(0)
    });
    assert_eq!(
        (net["videoBitrate"].as_u64(), net["videoWidth"].as_u64()),
        (Some(0), Some(0)),
        "{net}"
    );
    let streams = ffprobe_streams(&server.http_url("live/voice.flv"));
    assert!(
        streams.iter().all(|s| s["codec_type"] == "audio"),
        "{streams:?}"
    );
    assert_eq!(stream_of(&streams, "audio")["sample_rate"], "16000");
}

#[test]
fn push_from_stdin_is_paced_by_arrival_and_ends_with_it() {
    require("ffmpeg");
    let server = Server::start("");
    let mut ffmpeg = Peer(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(fixture_av())
            .args(["-t", "6", "-c", "copy", "-f", "flv", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pipe = ffmpeg.0.stdout.take().unwrap();
    let mut push = Push::start_with_stdin(
        &server.rtmp_url("live/pipe"),
        &["--source", "-"],
        pipe.into(),
    );
    push.wait_code(1002, SECS_30);
    server.wait_live("live/pipe");
    let (status, lines, stderr) = push.finish(SECS_30);
    assert!(
        status.success(),
        "the end of stdin ends the push: {status} {stderr}"
    );
    assert_eq!(lines.last().unwrap()["reason"], "source_ended");
}

#[test]
fn push_to_nothing_listening_gives_up() {
    let url = format!("rtmp://127.0.0.1:{}/live/s", free_port());
    let push = Push::start(
        &url,
        &[
            "--source",
            "testsrc",
            "--retries",
            "2",
            "--retry-interval-ms",
            "50",
        ],
    );
    let (status, lines, stderr) = push.finish(SECS_30);
    // The encoder codes (1003, 1008, 1007) of the test pattern come whenever ffmpeg starts: not part of this.
    let codes: Vec<i64> = lines
        .iter()
        .filter_map(|v| v["code"].as_i64())
        .filter(|c| ![1003, 1007, 1008].contains(c))
        .collect();
    assert_eq!(codes, [3002, 1102, 3002, 1102, 3002, -1307], "{lines:?}");
    let refused = &lines[0];
    assert!(
        refused["message"].as_str().unwrap().contains("refused"),
        "{refused}"
    );
    assert!(!status.success(), "non-zero exit after -1307");
    assert!(
        stderr.contains("gave up") && stderr.contains("3002"),
        "{stderr}"
    );
    assert_eq!(lines.last().unwrap()["reason"], "gave_up");
}

/// A push refused for its signature: 3004 with the server's reason, retried once, then -1307.
fn expect_signature_refusal(server: &Server, url: &str, reason: &str) {
    let push = Push::start(
        url,
        &[
            "--source",
            fixture_av().to_str().unwrap(),
            "--retries",
            "1",
            "--retry-interval-ms",
            "100",
        ],
    );
    let (status, lines, _) = push.finish(SECS_30);
    let codes: Vec<i64> = lines.iter().filter_map(|v| v["code"].as_i64()).collect();
    assert_eq!(codes, [1001, 3004, 1102, 1001, 3004, -1307], "{lines:?}");
    let refusal = lines.iter().find(|v| v["code"] == 3004).unwrap();
    assert!(
        refusal["message"].as_str().unwrap().contains(reason),
        "{refusal}"
    );
    assert!(!status.success());
    assert_eq!(
        server.get("/v1/streams/live/sig").0,
        404,
        "nothing went live"
    );
}

#[test]
fn push_with_a_bad_signature_is_refused_with_the_reason() {
    let server = Server::start_with(Options {
        open_live: false,
        ..Options::default()
    });
    let forged = signed(&server, "sig", &[]).replace("txSecret=", "txSecret=0");
    expect_signature_refusal(&server, &forged, "signature_bad");
}

#[test]
fn push_with_an_expired_signature_is_refused_with_the_reason() {
    let server = Server::start_with(Options {
        open_live: false,
        ..Options::default()
    });
    let now = control::now_unix();
    let expired = signed(&server, "sig", &["--expires-at", &(now - 10).to_string()]);
    expect_signature_refusal(&server, &expired, "signature_expired");
    // The same stream with a valid signature goes live.
    let good = signed(&server, "sig", &[]);
    let mut push = Push::start(&good, &["--source", fixture_av().to_str().unwrap()]);
    push.wait_code(1002, SECS_30);
}

/// Restarts `server` on fixed free ports, so that a restart after `kill` listens where clients reconnect.
fn pin_ports(server: &mut Server) -> u16 {
    let (rtmp, http) = (free_port(), free_port());
    let cfg = server.dir.path().join("mplive.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text
        .replace(
            "rtmp_addr = \"127.0.0.1:0\"",
            &format!("rtmp_addr = \"127.0.0.1:{rtmp}\""),
        )
        .replace(
            "http_addr = \"127.0.0.1:0\"",
            &format!("http_addr = \"127.0.0.1:{http}\""),
        );
    std::fs::write(&cfg, text).unwrap();
    server.kill();
    server.spawn();
    assert_eq!(server.rtmp, format!("127.0.0.1:{rtmp}"));
    rtmp
}

#[test]
fn push_reconnects_when_the_server_comes_back() {
    let mut server = Server::start("");
    // The restarted server must listen where the pusher reconnects: fixed ports instead of fresh ones.
    let rtmp = pin_ports(&mut server);

    let mut push = Push::start(
        &server.rtmp_url("live/back"),
        &[
            "--source",
            fixture_av().to_str().unwrap(),
            "--retries",
            "40",
            "--retry-interval-ms",
            "250",
        ],
    );
    push.wait_code(1002, SECS_30);
    server.wait_live("live/back");
    server.kill();
    let lost = push.wait_for("3004 or 3005", SECS_30, |v| {
        v["code"] == 3004 || v["code"] == 3005
    });
    assert!(
        lost["message"].as_str().unwrap().contains("server"),
        "{lost}"
    );
    push.wait_code(1102, SECS_30);
    server.spawn();
    assert_eq!(server.rtmp, format!("127.0.0.1:{rtmp}"));
    push.wait_code(1002, SECS_30);
    server.wait_live("live/back");
    let codes = push.codes();
    assert_eq!(codes.iter().filter(|c| **c == 1002).count(), 2, "{codes:?}");
    assert!(!codes.contains(&-1307), "{codes:?}");
}

#[test]
fn push_kicked_through_the_api_reports_3004_and_comes_back() {
    let server = Server::start("");
    let mut push = Push::start(
        &server.rtmp_url("live/kick"),
        &[
            "--source",
            fixture_av().to_str().unwrap(),
            "--retry-interval-ms",
            "200",
        ],
    );
    push.wait_code(1002, SECS_30);
    server.wait_live("live/kick");
    let (status, body) = server.api("POST", "/v1/streams/live/kick/kick", None);
    assert_eq!(status, 200, "{body}");
    let kicked = push.wait_for("3004 or 3005", SECS_30, |v| {
        v["code"] == 3004 || v["code"] == 3005
    });
    assert_eq!(
        kicked["code"], 3004,
        "the server closed the connection: {kicked}"
    );
    push.wait_code(1102, SECS_30);
    push.wait_code(1002, SECS_30);
    server.wait_live("live/kick");
}

/// The Vhall SDK's semantics against the real server: createInstance, `connected`; the server killed ->
/// `reconnecting` and (while it is down) `reconnectFail`; back -> `reconnectReady` with a fresh URL and
/// `reconnected`; a revoked token (the app's secret rotated) -> `reconnectFail` with the token error.
#[test]
fn managed_push_reconnects_with_fresh_urls_like_the_vhall_sdk() {
    let mut server = Server::start_with(Options {
        open_live: false,
        ..Options::default()
    });
    pin_ports(&mut server);
    let token = server.cli_ok(&[
        "token",
        "--app",
        "live",
        "--channel",
        "room1",
        "--account",
        "alice",
    ]);
    let api = format!("http://{}", server.http);
    let fixture = fixture_av();
    let mut push = Push::spawn(
        &[
            "--api",
            &api,
            "--app",
            "live",
            "--channel",
            "room1",
            "--account",
            "alice",
            "--token",
            token.trim(),
            "--source",
            fixture.to_str().unwrap(),
            "--reconnect-every",
            "1",
            "--retry-interval-ms",
            "300",
            "--retries",
            "1",
        ],
        Stdio::null(),
    );
    let sdk = |name: &'static str| move |v: &Value| v["type"] == "sdk" && v["event"] == name;
    let first = push.wait_for("the instance URL", SECS_30, sdk("reconnectReady"));
    assert!(
        first["url"].as_str().unwrap().contains("txSecret="),
        "{first}"
    );
    push.wait_code(1002, SECS_30);
    push.wait_for("connected", SECS_30, sdk("connected"));
    server.wait_live("live/room1");

    server.kill();
    push.wait_for("reconnecting", SECS_30, sdk("reconnecting"));
    push.wait_for(
        "reconnectFail while the API is down",
        SECS_30,
        sdk("reconnectFail"),
    );
    server.spawn();
    let fresh = push.wait_for("a fresh URL", SECS_30, sdk("reconnectReady"));
    assert!(
        fresh["url"].as_str().unwrap().contains("txSecret="),
        "{fresh}"
    );
    push.wait_for("reconnected", SECS_30, sdk("reconnected"));
    server.wait_live("live/room1");

    // Revoke the token (rotate the secret it was signed with) and forbid the stream, so that the pusher's own
    // retries with its still-valid URL fail and the SDK must ask for a fresh one.
    server.cli_ok(&["app", "rotate-key", "live", "--key", "secret"]);
    std::thread::sleep(Duration::from_millis(800));
    let (status, body) = server.api(
        "POST",
        "/v1/streams/live/room1/forbid",
        Some(r#"{"seconds": 600}"#),
    );
    assert_eq!(status, 200, "{body}");
    let fail = push.wait_for("reconnectFail for the revoked token", SECS_30, |v| {
        v["type"] == "sdk"
            && v["event"] == "reconnectFail"
            && v["err"].as_str().is_some_and(|e| e.contains("40103"))
    });
    assert!(fail["err"].as_str().unwrap().contains("token"), "{fail}");
}
