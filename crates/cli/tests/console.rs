//! The operator's web console in headless Chromium against a real `mplive serve` with a real ffmpeg push:
//! `tests/browser/console.mjs` signs in (a wrong token first), finds the stream in the list, plays its preview
//! over HLS, WebRTC (WHEP) and HTTP-FLV, kicks it, creates an app, signs URLs and reads the push URL's QR code, and screenshots
//! every page at 390 and 1440 px; this test checks what the page did against the server and ffmpeg.
//!
//! Needs `tests/browser/node_modules` (`npm ci` there) and Chromium; skipped without them unless
//! `MPLIVE_REQUIRE_BROWSER` is set (as `./scripts/test` does).

mod common;

use std::time::{Duration, Instant};

use common::browser::{browser_dir, console};
use common::{ffmpeg_push, fixture_av, Server, ADMIN_TOKEN};

#[test]
fn console_drives_a_live_server_in_chromium() {
    let Some(dir) = browser_dir() else {
        return;
    };
    let started = Instant::now();
    let server = Server::start("");
    // A webhook receiver that refuses connections: its deliveries fail, and the webhooks page shows the attempts.
    let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_hook = format!("http://{}/hook", refusing.local_addr().unwrap());
    drop(refusing);
    server.cli_ok(&["app", "set", "live", "--callback-url", &dead_hook]);
    std::thread::sleep(Duration::from_millis(400));
    let mut pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/cam1"));
    server.wait_live("live/cam1");

    let shots = server.dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let report = console(&dir, &server.http_url(""), ADMIN_TOKEN, "live/cam1", &shots);
    eprintln!("console.mjs: {report}");
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "console errors or page errors: {report}"
    );

    // Sign-in: the wrong token's message names the reason.
    let message = report["wrongTokenMessage"].as_str().unwrap_or_default();
    assert!(message.contains("admin token is wrong"), "{message}");

    // The list showed the stream within 2 s, with the fixture's picture.
    assert!(report["listMs"].as_u64().unwrap() <= 2000, "{report}");
    assert_eq!(report["resolution"], "540×960");
    assert_eq!(report["fps"], "25");

    // The preview played over the three protocols.
    for kind in ["hls", "rtc", "flv"] {
        let advanced = report["advanced"][kind].as_f64().unwrap_or(0.0);
        assert!(advanced >= 3.0, "{kind}: currentTime moved {advanced} s");
    }
    // WebRTC decoded pictures, and leaving it for FLV ended its WHEP session by DELETE.
    assert!(report["rtcFrames"].as_u64().unwrap_or(0) > 0, "{report}");
    assert!(
        server.log().contains("WHEP session ended by DELETE"),
        "the rtc preview's session was not DELETEd: {}",
        server.log()
    );

    // Kick: the page showed it at once, and the real publisher is gone; its interruption record is listed.
    assert_ne!(report["kicked"]["state"], "live", "{report}");
    assert_eq!(report["interruption"], "kicked", "{report}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while pusher.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "ffmpeg still pushing 5 s after the kick"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Forbid from the page: the next push is refused.
    assert_eq!(report["forbidden"], true, "{report}");
    let refused = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(fixture_av())
        .args(["-t", "3", "-c", "copy", "-f", "flv"])
        .arg(server.rtmp_url("live/cam1"))
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a push after the forbid was accepted: {}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The recording started and stopped from the page is an MP4 that ffprobe reads.
    assert_eq!(report["recorded"], true, "{report}");
    let (status, body) = server.get("/v1/recordings");
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mp4 = list["recordings"]
        .as_array()
        .and_then(|r| r.iter().find(|f| f["format"] == "mp4"))
        .unwrap_or_else(|| panic!("no MP4 recording: {body}"))["path"]
        .as_str()
        .unwrap()
        .to_string();
    let file = server.dir.path().join("data/recordings").join(&mp4);
    let duration = common::probe_duration(&file);
    assert!(duration >= 2.0, "the recording lasts {duration} s");
    // ... and the recordings page played it (through a signed link) and downloaded it.
    assert!(
        report["recordingPlay"]["advanced"].as_f64().unwrap_or(0.0) >= 1.5,
        "{report}"
    );
    assert_eq!(
        report["recordingDownload"].as_str(),
        mp4.rsplit('/').next(),
        "{report}"
    );

    // The webhooks page showed the failing deliveries.
    let rows = report["webhookRows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r.as_str().unwrap_or_default().contains("push_start")),
        "{report}"
    );

    // The app created in the page exists for the API, with push auth on (the form's default).
    let app = report["app"].as_str().unwrap();
    let (status, body) = server.get(&format!("/v1/apps/{app}"));
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["pushAuth"], true, "{body}");

    // The URL generator's push URL (signed: push auth is on) is accepted by a real ffmpeg, and its QR code reads
    // the same URL.
    let push_url = report["pushUrl"].as_str().unwrap();
    assert!(push_url.contains("txSecret="), "{push_url}");
    assert_eq!(report["qrText"], push_url);
    let _signed = ffmpeg_push(&fixture_av(), push_url);
    server.wait_live(&format!("{app}/gen1"));

    // Every page at both widths.
    let shots_taken = report["screenshots"].as_array().unwrap();
    assert!(shots_taken.len() >= 18, "{report}");
    for path in shots_taken {
        let path = std::path::Path::new(path.as_str().unwrap());
        let png = std::fs::read(path).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{}", path.display());
    }
    if let Ok(keep) = std::env::var("MPLIVE_CONSOLE_SCREENSHOTS") {
        // docs/console.md's pictures are copied from here.
        for path in shots_taken {
            let path = std::path::Path::new(path.as_str().unwrap());
            std::fs::copy(
                path,
                std::path::Path::new(&keep).join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    eprintln!("console test took {:?}", started.elapsed());
}
