//! WebRTC publishing (WHIP) against a real `mplive serve`: headless Chromium (Playwright, `tests/browser/whip.mjs`)
//! publishes its fake camera and microphone as H.264 + Opus; meanwhile ffprobe and ffmpeg read the stream over RTMP
//! and HTTP-FLV and find H.264 and AAC and decode pictures, hls.js plays its HLS, and afterwards the recording holds
//! both streams for about as long as the publish, and a WHEP viewer plays it; `push_start` / `push_end` arrive. And the refusals: bad or missing
//! credentials (signature and bearer token), a stream already published, malformed SDP, an offer without H.264,
//! DELETE of an unknown session, each with its status and a body that says why.
//!
//! The browser tests need `tests/browser/node_modules` and Chromium, which `./scripts/test` installs
//! (`MPLIVE_REQUIRE_BROWSER=1` there: a missing browser fails instead of skipping).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::browser::{browser_dir, hlsjs, whep};
use common::{
    ffmpeg_push, ffprobe_codecs, fixture_av, http_request_typed, probe_duration, require, Receiver,
    Server,
};

/// The browser tests of this file run one at a time: two publishing Chromiums, their players and a debug server
/// on a small machine make the HLS segmenter fall behind (the hub then skips it to the next keyframe, a hole
/// hls.js reports) and measure the machine.
static BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What Chromium offers for sendonly camera and microphone (cut down), as the server's unit tests use it.
const OFFER: &str = include_str!("../../server/src/webrtc/testdata/chrome-whip-offer.sdp");

fn post_offer(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
    sdp: &str,
) -> (u16, String, String) {
    http_request_typed(
        &server.http,
        "POST",
        path,
        headers,
        Some(("application/sdp", sdp)),
    )
}

/// Starts `whip.mjs` publishing to `url` for `seconds` (stdout piped: its report is the last line).
fn publish(dir: &Path, url: &str, seconds: u32, extra: &[&str]) -> Child {
    Command::new("node")
        .current_dir(dir)
        .arg("whip.mjs")
        .arg(url)
        .args(["--seconds", &seconds.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs")
}

/// Waits for `whip.mjs` (at most `limit`) and returns its report.
fn report(child: Child, limit: Duration) -> serde_json::Value {
    let pid = child.id();
    let deadline = Instant::now() + limit;
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            common::unsafe_kill(pid, "KILL");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = waiter.join().unwrap().expect("whip.mjs output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "whip.mjs failed: {stderr}");
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("report {line:?}: {e}; stderr: {stderr}"))
}

/// ffmpeg decodes the video and the audio of `url` for `secs` s; returns the video pictures decoded.
fn decoded_pictures(url: &str, secs: u32) -> u64 {
    let (out, timed_out) = common::run_with_timeout(
        Command::new("ffmpeg").args([
            "-nostdin",
            "-v",
            "error",
            "-i",
            url,
            "-t",
            &secs.to_string(),
            "-map",
            "0:v:0",
            "-map",
            "0:a:0",
            "-f",
            "null",
            "-",
            "-progress",
            "pipe:1",
        ]),
        Duration::from_secs(u64::from(secs) + 20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !timed_out && out.status.success(),
        "ffmpeg decode of {url}: {stderr}"
    );
    // `-progress` reports `frame=N` as it goes; the last report counts them all.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("frame=")?.trim().parse().ok())
        .unwrap_or(0)
}

fn recordings(server: &Server, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![server.dir.path().join("data").join("recordings")];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                pending.push(p);
            } else if p.extension().and_then(|e| e.to_str()) == Some(ext) {
                out.push(p);
            }
        }
    }
    out
}

/// The codecs and duration of each stream of `path`, as ffprobe reads them.
fn probe_streams(path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn chromium_publishes_over_whip_and_every_player_gets_it() {
    let Some(dir) = browser_dir() else {
        return;
    };
    require("ffmpeg");
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start("");
    let receiver = Receiver::start();
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--record",
        "mp4",
        "--callback-url",
        &receiver.url(),
        "--republish-grace-ms",
        "300",
    ]);
    std::thread::sleep(Duration::from_millis(800)); // the server's catalog refresh
    let seconds = 22;
    let browser = publish(&dir, &server.http_url("live/cam/whip"), seconds, &[]);
    let live = server.wait_live("live/cam");
    eprintln!("live: {live}");
    let start = receiver.wait_for("push_start", 1).remove(0);
    assert_eq!(start["stream_id"], "cam", "{start}");

    // RTMP and HTTP-FLV players, side by side with hls.js.
    let rtmp = server.rtmp_url("live/cam");
    let flv = server.http_url("live/cam.flv");
    let readers: Vec<_> = [rtmp, flv]
        .into_iter()
        .map(|url| {
            std::thread::spawn(move || {
                let codecs = ffprobe_codecs(&url);
                let frames = decoded_pictures(&url, 3);
                (url, codecs, frames)
            })
        })
        .collect();
    let hls = hlsjs(&dir, &server.http_url("live/cam.m3u8"), 6, false);
    eprintln!("hls.js: {hls}");
    for reader in readers {
        let (url, codecs, pictures) = reader.join().unwrap();
        eprintln!("{url}: {codecs:?}, {pictures} pictures in 3 s");
        assert!(
            codecs.contains("h264") && codecs.contains("aac"),
            "{url}: {codecs}\n{}",
            server.log()
        );
        assert!(
            pictures >= 30,
            "{url}: {pictures} pictures decoded in 3 s\n{}",
            server.log()
        );
    }
    assert_eq!(hls["errors"], serde_json::json!([]), "{hls}");
    let advanced = hls["advanced"].as_f64().unwrap_or(0.0);
    assert!(
        advanced > 3.0,
        "hls.js played {advanced} s of 6: {hls}\n{}",
        server.log()
    );
    // And back out over WebRTC: the H.264 passed through, the AAC made from the Opus transcoded to Opus again.
    let played = whep(&dir, &server.http_url("live/cam/whep"), 4);
    eprintln!("whep.mjs: {played}");
    assert_eq!(played["status"], 201, "{played}");
    assert_eq!(played["errors"], serde_json::json!([]), "{played}");
    // Pictures decoded, not a rate: a third Chromium on a loaded two-core machine measures the machine (the WHEP
    // test measures playback; docs/webrtc.md has the figures of this one).
    let decoded = played["framesDecoded"].as_u64().unwrap_or(0);
    assert!(decoded > 0, "a WHEP viewer decoded nothing: {played}");
    assert_eq!(played["audioCodec"], "audio/opus", "{played}");

    let published = report(browser, Duration::from_secs(u64::from(seconds) + 60));
    eprintln!("whip.mjs: {published}");
    assert_eq!(
        published["h264"], true,
        "Chromium lists no H.264 encoder: {published}"
    );
    assert_eq!(published["status"], 201, "{published}\n{}", server.log());
    assert_eq!(published["errors"], serde_json::json!([]), "{published}");
    assert_eq!(published["videoCodec"], "video/H264", "{published}");
    assert_eq!(published["audioCodec"], "audio/opus", "{published}");
    assert_eq!(published["deleteStatus"], 200, "{published}");

    // The DELETE ended the publish: push_end, then the recording, with both streams, as long as the publish.
    let end = receiver.wait_for("push_end", 1).remove(0);
    assert_eq!(end["errcode"], 0, "{end}");
    let pushed = end["push_duration"].as_f64().unwrap_or(0.0) / 1000.0;
    receiver.wait_for("record_done", 1);
    // One file, unless the browser changed its resolution (a new SPS: the recorder starts a new file, as for any
    // publisher): then their durations add up.
    let files: Vec<PathBuf> = recordings(&server, "mp4")
        .into_iter()
        .filter(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0) > 10_000)
        .collect();
    assert!(!files.is_empty(), "no recording");
    let mut duration = 0.0;
    for file in &files {
        let streams = probe_streams(file);
        eprintln!("recording {}: {streams:?}", file.display());
        assert!(
            streams.contains("h264") && streams.contains("aac"),
            "{streams}"
        );
        duration += probe_duration(file);
    }
    eprintln!(
        "recording: {} file(s), {duration} s of a {pushed} s publish",
        files.len()
    );
    assert!(
        duration > pushed - 3.0 && duration <= pushed + 1.0,
        "{duration} s recorded of a {pushed} s publish"
    );
    // HLS got the audio header although the WHIP publish sent it before the video's.
    assert!(
        !server
            .log()
            .contains("audio frame before its sequence header"),
        "{}",
        server.log()
    );
    assert!(
        server.log().contains("WHIP session ended"),
        "{}",
        server.log()
    );
}

#[test]
fn whip_refusals_say_why() {
    let server = Server::start("");
    // Not SDP; an offer that sends no H.264 (a player's recvonly offer); the wrong content type.
    let (status, _, body) = post_offer(&server, "/live/s/whip", &[], "hello");
    assert_eq!(status, 400, "{body}");
    assert!(body.starts_with("bad_offer: malformed SDP offer"), "{body}");
    let player = include_str!("../../server/src/webrtc/testdata/chrome-offer.sdp");
    let (status, _, body) = post_offer(&server, "/live/s/whip", &[], player);
    assert_eq!(status, 406, "{body}");
    assert!(
        body.starts_with("codec_unsupported:") && body.contains("H.264"),
        "{body}"
    );
    let (status, _, body) = http_request_typed(
        &server.http,
        "POST",
        "/live/s/whip",
        &[],
        Some(("text/plain", OFFER)),
    );
    assert_eq!(status, 415, "{body}");
    // DELETE of a session that does not exist.
    let (status, _, body) = http_request_typed(
        &server.http,
        "DELETE",
        "/live/s/whip/0123456789abcdef",
        &[],
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no WebRTC session"), "{body}");
    // The CORS preflight.
    let (status, head, _) = http_request_typed(
        &server.http,
        "OPTIONS",
        "/live/s/whip",
        &[
            ("Origin", "https://example.com"),
            ("Access-Control-Request-Method", "POST"),
        ],
        None,
    );
    assert_eq!(status, 204, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("authorization"),
        "{head}"
    );

    // A stream that an RTMP publisher holds: the same refusal as a second RTMP publisher's.
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/taken"));
    server.wait_live("live/taken");
    let (status, _, body) = post_offer(&server, "/live/taken/whip", &[], OFFER);
    assert_eq!(status, 409, "{body}");
    assert!(body.starts_with("stream_busy:"), "{body}");

    // A good offer for a free stream is answered, and its session deleted once.
    let (status, head, answer) = post_offer(&server, "/live/free/whip", &[], OFFER);
    assert_eq!(status, 201, "{head}\n{answer}\n{}", server.log());
    assert!(
        answer.contains("a=recvonly") && answer.contains("H264/90000"),
        "{answer}"
    );
    let location = common::header(&head, "location")
        .expect("a Location")
        .to_string();
    assert!(location.starts_with("/live/free/whip/"), "{location}");
    let (_, view) = server.get("/v1/streams/live/free");
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["publisher"]["protocol"], "whip", "{view}");
    // The stream is taken now for another WHIP publisher too.
    let (status, _, body) = post_offer(&server, "/live/free/whip", &[], OFFER);
    assert_eq!(status, 409, "{body}");
    let (status, _, _) = http_request_typed(&server.http, "DELETE", &location, &[], None);
    assert_eq!(status, 200);
    let (status, _, _) = http_request_typed(&server.http, "DELETE", &location, &[], None);
    assert_eq!(status, 404, "a session is deleted once");

    // A kick through the API ends the publish and its session.
    let (status, head, _) = post_offer(&server, "/live/kicked/whip", &[], OFFER);
    assert_eq!(status, 201, "{head}");
    let location = common::header(&head, "location")
        .expect("a Location")
        .to_string();
    let (status, body) = server.api("POST", "/v1/streams/live/kicked/kick", None);
    assert!(status < 300, "{status} {body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains("WHIP publisher kicked") {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (status, _, _) = http_request_typed(&server.http, "DELETE", &location, &[], None);
    assert_eq!(status, 404, "the kicked session is gone");

    // Both ends left their interruption records, as an RTMP push's would.
    for (stream, reason) in [("free", "closed"), ("kicked", "kicked")] {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, body) = server.get(&format!("/v1/interruptions?app=live&stream={stream}"));
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let found = v["interruptions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r["reason"] == reason));
            if found {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no {reason} record for {stream}: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn whip_takes_the_push_signature_or_an_app_token() {
    let server = Server::start("");
    server.cli_ok(&["app", "set", "live", "--push-auth", "on"]);
    std::thread::sleep(Duration::from_millis(800));
    // No credential, then a bad signature.
    let (status, head, body) = post_offer(&server, "/live/a/whip", &[], OFFER);
    assert_eq!(status, 401, "{body}");
    assert!(body.starts_with("signature_missing:"), "{body}");
    assert!(
        common::header(&head, "www-authenticate").is_some(),
        "{head}"
    );
    let (status, _, body) = post_offer(
        &server,
        "/live/a/whip?txSecret=00000000000000000000000000000000&txTime=7fffffff",
        &[],
        OFFER,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("signature_"), "{body}");
    // The signed WHIP URL `mplive url push --whip` hands out.
    let url = server.cli_ok(&["url", "push", "a", "--whip"]);
    let path = &url.trim()[url
        .find("/live/")
        .unwrap_or_else(|| panic!("a WHIP URL: {url}"))..];
    assert!(path.starts_with("/live/a/whip?txSecret="), "{url}");
    let (status, head, body) = post_offer(&server, path, &[], OFFER);
    assert_eq!(status, 201, "{head}\n{body}\n{}", server.log());
    // An app token (what the SDK endpoints take): a bad one, one for another stream, a viewer's, a good one.
    let mint = |channel: &str, role: &str| {
        server
            .cli_ok(&[
                "token",
                "--app",
                "live",
                "--channel",
                channel,
                "--account",
                "u1",
                "--role",
                role,
            ])
            .trim()
            .to_string()
    };
    let bearer = |token: &str| format!("Bearer {token}");
    let (status, _, body) = post_offer(
        &server,
        "/live/b/whip",
        &[("Authorization", &bearer("x.y.z"))],
        OFFER,
    );
    assert_eq!(status, 401, "{body}");
    assert!(body.starts_with("token_invalid:"), "{body}");
    let other = mint("elsewhere", "publisher");
    let (status, _, body) = post_offer(
        &server,
        "/live/b/whip",
        &[("Authorization", &bearer(&other))],
        OFFER,
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.starts_with("token_mismatch:") && body.contains("elsewhere"),
        "{body}"
    );
    let viewer = mint("b", "viewer");
    let (status, _, body) = post_offer(
        &server,
        "/live/b/whip",
        &[("Authorization", &bearer(&viewer))],
        OFFER,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("token_mismatch:"), "{body}");
    let good = mint("b", "publisher");
    let (status, head, body) = post_offer(
        &server,
        "/live/b/whip",
        &[("Authorization", &bearer(&good))],
        OFFER,
    );
    assert_eq!(status, 201, "{head}\n{body}\n{}", server.log());
}

/// The flash times (s) of `path`'s video (mean luma over 100) and the beep onsets (s) of its audio.
fn flashes_and_beeps(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let movie = format!("movie={},signalstats", path.display());
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-f", "lavfi", "-i", &movie])
        .args([
            "-show_entries",
            "frame=pts_time:frame_tags=lavfi.signalstats.YAVG",
            "-of",
            "csv=p=0",
        ])
        .output()
        .unwrap();
    let mut flashes: Vec<f64> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.split(',');
        let (Some(t), Some(y)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(t), Ok(y)) = (t.parse::<f64>(), y.parse::<f64>()) else {
            continue;
        };
        // One flash is one frame; a frame right after another bright one is the same flash.
        if y > 100.0 && flashes.last().is_none_or(|last| t - last > 0.5) {
            flashes.push(t);
        }
    }
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "info", "-i"])
        .arg(path)
        .args([
            "-vn",
            "-af",
            "silencedetect=n=-30dB:d=0.2",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let beeps = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| {
            l.split("silence_end: ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    (flashes, beeps)
}

/// A/V sync end to end: Chromium's file camera flashes once a second and its file microphone beeps at the same
/// instants; in the MP4 recording each beep must start within 80 ms of its flash (docs/webrtc.md has the figure:
/// 26-34 ms, Chromium's own capture and the Opus delay included).
#[test]
fn whip_keeps_audio_and_video_in_sync() {
    let Some(dir) = browser_dir() else {
        return;
    };
    require("ffmpeg");
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start("");
    let receiver = Receiver::start();
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--record",
        "mp4",
        "--callback-url",
        &receiver.url(),
        "--republish-grace-ms",
        "300",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    // Ten seconds (longer than the publish: Chromium's loop of a video file adds a frame at each turn): a white
    // frame every second, a 40 ms 1 kHz beep at the same instants.
    let media = server.dir.path().join("sync");
    std::fs::create_dir_all(&media).unwrap();
    let (video, audio) = (media.join("flash.y4m"), media.join("beep.wav"));
    let make = |args: &[&str], out: &Path| {
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y"])
            .args(args)
            .arg(out)
            .status();
        assert!(status.is_ok_and(|s| s.success()), "ffmpeg {args:?}");
    };
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=320x180:r=25:d=10",
            "-vf",
            "geq=lum='if(lt(mod(N\\,25)\\,1)\\,235\\,16)':cb=128:cr=128,format=yuv420p",
            "-f",
            "yuv4mpegpipe",
        ],
        &video,
    );
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "aevalsrc='if(lt(mod(t\\,1)\\,0.04)\\,0.8*sin(2*PI*1000*t)\\,0)':s=48000:d=10",
            "-ac",
            "1",
        ],
        &audio,
    );
    let files = [
        "--fake-video",
        video.to_str().unwrap(),
        "--fake-audio",
        audio.to_str().unwrap(),
    ];
    let browser = publish(&dir, &server.http_url("live/sync/whip"), 8, &files);
    let published = report(browser, Duration::from_secs(70));
    assert_eq!(published["status"], 201, "{published}");
    receiver.wait_for("record_done", 1);
    let recordings = recordings(&server, "mp4");
    let (flashes, beeps) = flashes_and_beeps(&recordings[0]);
    eprintln!("flashes {flashes:?}\nbeeps {beeps:?}");
    assert!(flashes.len() >= 5, "{flashes:?}");
    let offsets: Vec<f64> = flashes
        .iter()
        .filter_map(|f| beeps.iter().map(|b| b - f).find(|d| d.abs() < 0.5))
        .collect();
    eprintln!(
        "audio after video (ms): {:?}",
        offsets
            .iter()
            .map(|d| (d * 1000.0).round())
            .collect::<Vec<_>>()
    );
    assert!(
        offsets.len() >= flashes.len() - 1,
        "flashes without a beep: {flashes:?} {beeps:?}"
    );
    for d in &offsets {
        assert!(
            d.abs() <= 0.080,
            "a beep {} ms from its flash: {offsets:?}",
            (d * 1000.0).round()
        );
    }
}

/// A page that closes its peer connection without `DELETE` ends its publish too: the browser's DTLS close (or,
/// failing that, its silence for `webrtc.disconnect_timeout_secs`) ends the session, and `push_end` follows.
#[test]
fn a_closed_page_ends_its_publish() {
    let Some(dir) = browser_dir() else {
        return;
    };
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start("webrtc.disconnect_timeout_secs = 3\n");
    let receiver = Receiver::start();
    server.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
    std::thread::sleep(Duration::from_millis(800));
    let browser = publish(&dir, &server.http_url("live/gone/whip"), 3, &["--keep"]);
    let published = report(browser, Duration::from_secs(70));
    assert_eq!(published["status"], 201, "{published}");
    assert_eq!(
        published["deleteStatus"],
        serde_json::Value::Null,
        "{published}"
    );
    let end = receiver
        .wait_for_within("push_end", 1, Duration::from_secs(15))
        .remove(0);
    assert_eq!(end["stream_id"], "gone", "{end}");
    let log = server.log();
    for line in log.lines().filter(|l| l.contains("WHIP session")) {
        eprintln!("{line}");
    }
    assert!(
        log.contains("WHIP session closed by the browser") || log.contains("the browser is gone"),
        "{log}"
    );
}

/// `webrtc.whip.max_video_bitrate_bps` caps what a browser publishes: the answer's `b=AS` line holds Chromium's
/// encoder under it (its fake camera's simple picture takes about 180 kbit/s otherwise: the main test's figure).
#[test]
fn the_answer_caps_the_browsers_video_bitrate() {
    let Some(dir) = browser_dir() else {
        return;
    };
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start("webrtc.whip.max_video_bitrate_bps = 100000\n");
    let browser = publish(&dir, &server.http_url("live/capped/whip"), 8, &[]);
    let published = report(browser, Duration::from_secs(70));
    assert_eq!(published["status"], 201, "{published}");
    let bytes = published["videoBytes"].as_f64().unwrap_or(f64::MAX);
    let seconds = published["seconds"].as_f64().unwrap_or(1.0);
    let bps = bytes * 8.0 / seconds;
    eprintln!("capped at 100 kbit/s: {bps:.0} bit/s");
    assert!(bps < 100_000.0 * 1.2, "{bps:.0} bit/s sent: {published}");
    assert!(bps > 20_000.0, "the browser sent video: {published}");
}
