//! Recording end to end: the app policy, the files (checked with ffprobe and ffmpeg), a kill -9 mid-recording,
//! the `record_done` webhook and the recordings API.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

fn recordings_dir(server: &Server) -> PathBuf {
    server.dir.path().join("data").join("recordings")
}

/// Every file under `dir` with extension `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
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
    out.sort();
    out
}

/// Turns recording on for the app `live` with a webhook receiver and a short grace, so streams end quickly.
fn record_live(server: &Server, formats: &str, receiver: &Receiver) {
    record_live_with_grace(server, formats, receiver, 300);
}

fn record_live_with_grace(server: &Server, formats: &str, receiver: &Receiver, grace_ms: u32) {
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--record",
        formats,
        "--callback-url",
        &receiver.url(),
        "--republish-grace-ms",
        &grace_ms.to_string(),
    ]);
    // The server picks the change up at its next catalog refresh (200 ms in tests).
    std::thread::sleep(Duration::from_millis(800));
}

#[test]
fn policy_records_mp4_and_flv_that_play_and_reports_them() {
    require("ffmpeg");
    let mut server = Server::start("");
    let receiver = Receiver::start();
    record_live(&server, "mp4,flv", &receiver);
    let (status, app) = server.api("GET", "/v1/apps/live", None);
    assert_eq!(status, 200, "{app}");
    let app: serde_json::Value = serde_json::from_str(&app).unwrap();
    assert_eq!(app["record"], serde_json::json!(["flv", "mp4"]), "{app}");

    let pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/r"));
    server.wait_live("live/r");
    std::thread::sleep(Duration::from_secs(5));
    drop(pusher);
    let end = receiver.wait_for("push_end", 1).remove(0);
    let pushed = end["push_duration"].as_f64().unwrap() / 1000.0;
    let done = receiver.wait_for("record_done", 2);

    let dir = recordings_dir(&server);
    for ext in ["mp4", "flv"] {
        let found = files(&dir, ext);
        assert_eq!(found.len(), 1, "one {ext} file: {found:?}");
        let path = &found[0];
        let relative = path.strip_prefix(&dir).unwrap().to_str().unwrap();
        assert!(relative.starts_with("live/r/"), "{relative}");
        let duration = probe_duration(path);
        eprintln!("{ext}: {duration} s recorded, {pushed} s pushed");
        assert!(
            (duration - pushed).abs() <= 1.0,
            "{ext}: {duration} s recorded, {pushed} s pushed"
        );
        ffmpeg_decode(path.to_str().unwrap(), 60);

        let hook = done
            .iter()
            .find(|d| d["file_format"] == ext)
            .unwrap_or_else(|| panic!("no record_done for {ext}: {done:?}"));
        assert_eq!(hook["event_type"], 100);
        assert_eq!(hook["errcode"], 0);
        assert_eq!(hook["stream_id"], "r");
        assert_eq!(hook["file_path"], relative);
        assert_eq!(
            hook["file_size"].as_u64().unwrap(),
            std::fs::metadata(path).unwrap().len()
        );
        let reported = hook["duration"].as_f64().unwrap();
        assert!((reported - duration).abs() <= 1.5, "{hook}");
        assert!(hook["end_time"].as_u64() >= hook["start_time"].as_u64());
    }

    // The API lists both, with the filters on the template's {app} and {stream} directories.
    let (status, body) = server.api("GET", "/v1/recordings?app=live&stream=r", None);
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let recs = list["recordings"].as_array().unwrap();
    assert_eq!(recs.len(), 2, "{body}");
    for r in recs {
        assert!(r["size"].as_u64().unwrap() > 10_000, "{r}");
        assert!(r["duration"].as_f64().unwrap() > 1.0, "{r}");
        assert!(
            ["mp4", "flv"].contains(&r["format"].as_str().unwrap()),
            "{r}"
        );
    }
    let (_, body) = server.api("GET", "/v1/recordings?stream=other", None);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["recordings"],
        serde_json::json!([]),
        "{body}"
    );
    let (_, body) = server.api("GET", "/v1/recordings", None);
    assert!(body.contains("live/r/"), "{body}");

    // The durations outlive a restart (the index file under the recordings directory).
    let before: serde_json::Value = serde_json::from_str(&body).unwrap();
    server.kill();
    server.spawn();
    let (_, body) = server.api("GET", "/v1/recordings?app=live&stream=r", None);
    let after: serde_json::Value = serde_json::from_str(&body).unwrap();
    for r in after["recordings"].as_array().unwrap() {
        let same = before["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["path"] == r["path"])
            .unwrap();
        assert_eq!(r["duration"], same["duration"], "{body}");
        assert!(r["duration"].as_f64().unwrap() > 1.0, "{r}");
    }

    // Off again: a new push records nothing.
    server.cli_ok(&["app", "set", "live", "--record", "off"]);
    std::thread::sleep(Duration::from_millis(800));
    let pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/r2"));
    server.wait_live("live/r2");
    drop(pusher);
    assert!(files(&dir.join("live").join("r2"), "mp4").is_empty());
}

#[test]
fn a_recording_cut_by_kill_9_still_plays() {
    require("ffmpeg");
    let mut server = Server::start("");
    let receiver = Receiver::start();
    record_live(&server, "mp4,flv", &receiver);
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/k"));
    server.wait_live("live/k");
    std::thread::sleep(Duration::from_secs(3));
    server.kill();
    let dir = recordings_dir(&server);
    for ext in ["mp4", "flv"] {
        let found = files(&dir, ext);
        assert_eq!(found.len(), 1, "one {ext} file: {found:?}");
        // Decoded, not just probed: every packet up to the cut decodes (-xerror), and most of the 3 s are there.
        let frames = decoded_video_frames(&found[0]);
        eprintln!("{ext}: {frames} pictures decoded after kill -9");
        assert!(
            frames >= 50,
            "{ext}: {frames} pictures decoded from about 3 s (75 pictures) recorded before kill -9"
        );
    }
    // The next start reports both files (errcode 1019: cut by a restart), cut to their last complete unit, and
    // they still decode.
    server.spawn();
    let done = receiver.wait_for("record_done", 2);
    for d in &done {
        assert_eq!(d["errcode"], 1019, "{d}");
        let path = dir.join(d["file_path"].as_str().unwrap());
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(d["file_size"].as_u64(), Some(len), "{d}");
        if d["file_format"] == "flv" {
            assert!(d["duration"].as_u64().unwrap() >= 2, "{d}");
        }
        assert!(decoded_video_frames(&path) >= 50, "{d}");
    }
    let end = receiver.wait_for("push_end", 1);
    assert_eq!(end[0]["errcode"], 1019, "{}", end[0]);
}

#[test]
fn the_api_starts_and_stops_a_recording() {
    let (server, receiver, _pusher) = pushing_live_a();

    let (status, body) = server.api(
        "POST",
        "/v1/streams/live/none/record",
        Some(r#"{"formats":["mp4"]}"#),
    );
    assert_eq!(status, 404, "not live: {body}");
    let (status, body) = server.api(
        "POST",
        "/v1/streams/live/a/record",
        Some(r#"{"formats":["avi"]}"#),
    );
    assert_eq!(status, 400, "unknown format: {body}");
    let (status, body) = server.api(
        "POST",
        "/v1/streams/live/a/record",
        Some(r#"{"formats":["mp4"]}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""formats":["mp4"]"#), "{body}");
    let (status, body) = server.api(
        "POST",
        "/v1/streams/live/a/record",
        Some(r#"{"formats":["flv"]}"#),
    );
    assert_eq!(status, 409, "already recording: {body}");

    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = server.api("DELETE", "/v1/streams/live/a/record", None);
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.api("DELETE", "/v1/streams/live/a/record", None);
    assert_eq!(status, 404, "{body}");

    // Stopping closes the file while the stream goes on.
    let done = receiver.wait_for("record_done", 1).remove(0);
    assert_eq!(done["file_format"], "mp4");
    assert_eq!(done["errcode"], 0);
    let path = recordings_dir(&server).join(done["file_path"].as_str().unwrap());
    let duration = probe_duration(&path);
    assert!((1.5..6.0).contains(&duration), "{duration} s recorded");
    ffmpeg_decode(path.to_str().unwrap(), 60);
    assert!(files(&recordings_dir(&server), "flv").is_empty());
    let (status, _) = server.get("/v1/streams/live/a");
    assert_eq!(status, 200, "the stream is still live");
}

#[test]
fn a_recording_that_cannot_write_reports_an_error_and_the_stream_goes_on() {
    require("ffmpeg");
    let scratch = tempfile::tempdir().unwrap();
    // A regular file where the recordings directory should be: creating the first file fails.
    let blocked = scratch.path().join("not-a-dir");
    std::fs::write(&blocked, b"x").unwrap();
    let server = Server::start(&format!("[record]\ndir = {:?}\n", blocked));
    let receiver = Receiver::start();
    record_live(&server, "flv", &receiver);
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/e"));
    server.wait_live("live/e");
    let done = receiver.wait_for("record_done", 1).remove(0);
    assert_eq!(done["errcode"], 1016, "{done}");
    assert!(!done["errmsg"].as_str().unwrap().is_empty(), "{done}");
    std::thread::sleep(Duration::from_secs(1));
    let (status, body) = server.get("/v1/streams/live/e");
    assert_eq!(status, 200, "the stream goes on: {body}");
}

#[test]
fn a_republish_within_the_grace_continues_the_same_file() {
    require("ffmpeg");
    let server = Server::start("");
    let receiver = Receiver::start();
    record_live_with_grace(&server, "flv", &receiver, 4000);
    let pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/g"));
    server.wait_live("live/g");
    std::thread::sleep(Duration::from_secs(2));
    drop(pusher);
    receiver.wait_for("push_end", 1);
    let pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/g"));
    receiver.wait_for("republish", 1);
    std::thread::sleep(Duration::from_secs(2));
    drop(pusher);
    let done = receiver.wait_for("record_done", 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.wait_for("record_done", 1).len(), 1, "{done:?}");
    let found = files(&recordings_dir(&server), "flv");
    assert_eq!(found.len(), 1, "one file across the republish: {found:?}");
    let duration = probe_duration(&found[0]);
    assert!(duration > 3.0, "both pushes are in the file: {duration} s");
}

#[test]
fn an_flv_recording_has_its_own_duration_not_the_sources() {
    require("ffmpeg");
    let server = Server::start("");
    let receiver = Receiver::start();
    record_live(&server, "flv", &receiver);
    // `mplive push --source FILE` sends the file's own onMetaData: a duration of 10 s, for a push of about 4 s.
    let mut push = Command::new(env!("CARGO_BIN_EXE_mplive"));
    push.arg("push")
        .arg(server.rtmp_url("live/d"))
        .arg("--source")
        .arg(fixture_av())
        .args(["--seconds", "4"]);
    let (out, timed_out) = run_with_timeout(&mut push, Duration::from_secs(30));
    assert!(
        !timed_out && out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let end = receiver.wait_for("push_end", 1).remove(0);
    let pushed = end["push_duration"].as_f64().unwrap() / 1000.0;
    receiver.wait_for("record_done", 1);
    let found = files(&recordings_dir(&server), "flv");
    assert_eq!(found.len(), 1, "{found:?}");
    let duration = probe_duration(&found[0]);
    assert!(
        (duration - pushed).abs() <= 1.0,
        "ffprobe reads {duration} s, {pushed} s were pushed (the source says 10 s)"
    );
    // The onMetaData holds the file's real duration and size.
    let tags = read_flv(&found[0]);
    let (_, _, meta) = tags
        .iter()
        .find(|(kind, _, _)| *kind == flv::MediaKind::Script)
        .expect("onMetaData");
    let number = |key: &str| {
        let mut pattern = (key.len() as u16).to_be_bytes().to_vec();
        pattern.extend_from_slice(key.as_bytes());
        pattern.push(0);
        meta.windows(pattern.len())
            .position(|w| w == pattern.as_slice())
            .map(|at| {
                let at = at + pattern.len();
                f64::from_be_bytes(meta[at..at + 8].try_into().unwrap())
            })
    };
    let meta_duration = number("duration").expect("a duration");
    assert!(
        (meta_duration - duration).abs() <= 1.0,
        "onMetaData says {meta_duration} s, ffprobe {duration} s"
    );
    if let Some(size) = number("filesize") {
        assert_eq!(size as u64, std::fs::metadata(&found[0]).unwrap().len());
    }
}

/// A server whose app `live` reports to a webhook receiver, with ffmpeg pushing `live/a`.
fn pushing_live_a() -> (Server, Receiver, Peer) {
    require("ffmpeg");
    let server = Server::start("");
    let receiver = Receiver::start();
    server.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
    std::thread::sleep(Duration::from_millis(800));
    let pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/a"));
    server.wait_live("live/a");
    (server, receiver, pusher)
}

/// `POST /v1/recordings/url`: (status, JSON body).
fn recording_url(server: &Server, body: &str) -> (u16, serde_json::Value) {
    let (status, body) = server.api("POST", "/v1/recordings/url", Some(body));
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, json)
}

#[test]
fn signed_links_serve_recordings_with_ranges_and_refuse_tampering() {
    let (server, receiver, _pusher) = pushing_live_a();
    let (status, body) = server.api(
        "POST",
        "/v1/streams/live/a/record",
        Some(r#"{"formats":["mp4","flv"]}"#),
    );
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = server.api("DELETE", "/v1/streams/live/a/record", None);
    assert_eq!(status, 204, "{body}");
    let done = receiver.wait_for("record_done", 2);

    for event in &done {
        let format = event["file_format"].as_str().unwrap();
        let relative = event["file_path"].as_str().unwrap();
        let on_disk = std::fs::read(recordings_dir(&server).join(relative)).unwrap();
        let len = on_disk.len();
        assert!(len > 2000, "{relative}: {len} bytes");
        let (status, link) = recording_url(&server, &format!(r#"{{"path":"{relative}"}}"#));
        assert_eq!(status, 200, "{link}");
        let url = link["url"].as_str().unwrap().to_owned();
        assert!(
            url.starts_with(&format!("/recordings/{relative}?expires=")),
            "{url}"
        );
        let expires = link["expires"].as_u64().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now + 3500..=now + 3700).contains(&expires), "{expires}");

        // The whole file, as on disk and readable by ffprobe.
        let (status, head, body) = get_with_head(&server.http, &url, "");
        assert_eq!(status, 200, "{head}");
        let content_type = if format == "mp4" {
            "video/mp4"
        } else {
            "video/x-flv"
        };
        assert_eq!(header(&head, "content-type"), Some(content_type), "{head}");
        assert_eq!(
            header(&head, "content-length"),
            Some(len.to_string().as_str())
        );
        assert_eq!(header(&head, "accept-ranges"), Some("bytes"));
        assert!(
            header(&head, "content-disposition")
                .unwrap()
                .starts_with("inline; filename=\""),
            "{head}"
        );
        assert!(body == on_disk, "{relative}: the downloaded bytes differ");
        let copy = server.dir.path().join(format!("downloaded.{format}"));
        std::fs::write(&copy, &body).unwrap();
        let duration = probe_duration(&copy);
        assert!((1.5..6.0).contains(&duration), "{duration} s downloaded");

        // Ranges.
        let (status, head, body) = get_with_head(&server.http, &url, "Range: bytes=100-1099\r\n");
        assert_eq!(status, 206, "{head}");
        assert_eq!(
            header(&head, "content-range"),
            Some(format!("bytes 100-1099/{len}").as_str())
        );
        assert_eq!(header(&head, "content-length"), Some("1000"));
        assert!(body == on_disk[100..1100], "bytes=100-1099 differ");
        let (status, head, body) = get_with_head(&server.http, &url, "Range: bytes=-500\r\n");
        assert_eq!(status, 206, "{head}");
        assert_eq!(
            header(&head, "content-range"),
            Some(format!("bytes {}-{}/{len}", len - 500, len - 1).as_str())
        );
        assert!(body == on_disk[len - 500..], "bytes=-500 differ");
        let (status, _, body) = get_with_head(
            &server.http,
            &url,
            &format!("Range: bytes={}-\r\n", len - 10),
        );
        assert_eq!(status, 206);
        assert!(body == on_disk[len - 10..]);
        let (status, head, _) =
            get_with_head(&server.http, &url, &format!("Range: bytes={len}-\r\n"));
        assert_eq!(status, 416, "{head}");
        assert_eq!(
            header(&head, "content-range"),
            Some(format!("bytes */{len}").as_str())
        );

        // `download=1` is outside the signature and asks for an attachment.
        let (status, head, _) = get_with_head(
            &server.http,
            &format!("{url}&download=1"),
            "Range: bytes=0-0\r\n",
        );
        assert_eq!(status, 206, "{head}");
        assert!(
            header(&head, "content-disposition")
                .unwrap()
                .starts_with("attachment; filename=\""),
            "{head}"
        );

        // A tampered signature, another path with this signature, no signature.
        let (path_part, query) = url.split_once('?').unwrap();
        let sig = query.split("sig=").nth(1).unwrap();
        let flipped = format!(
            "{}{}",
            if sig.starts_with('0') { '1' } else { '0' },
            &sig[1..]
        );
        let tampered = url.replace(sig, &flipped);
        let (status, _, body) = get_with_head(&server.http, &tampered, "");
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("\"code\":40300"));
        let later = url.replace(
            &format!("expires={expires}"),
            &format!("expires={}", expires + 1),
        );
        assert_eq!(get_with_head(&server.http, &later, "").0, 403);
        let (status, _, _) = get_with_head(&server.http, path_part, "");
        assert_ne!(status, 200, "no signature");
        assert_eq!(
            get_with_head(&server.http, &format!("{path_part}?sig={sig}"), "").0,
            403
        );
        let sideways = format!(
            "/recordings/live/a/../a/{}?{query}",
            relative.rsplit('/').next().unwrap()
        );
        assert_eq!(get_with_head(&server.http, &sideways, "").0, 403, "..");
        let escape = format!("/recordings/../admin-token.mp4?{query}");
        assert_eq!(get_with_head(&server.http, &escape, "").0, 403, "..");
    }

    // Expired.
    let relative = done[0]["file_path"].as_str().unwrap();
    let (status, link) = recording_url(&server, &format!(r#"{{"path":"{relative}","ttlSecs":1}}"#));
    assert_eq!(status, 200, "{link}");
    std::thread::sleep(Duration::from_millis(2100));
    let (status, _, body) = get_with_head(&server.http, link["url"].as_str().unwrap(), "");
    assert_eq!(status, 403, "expired");
    assert!(String::from_utf8_lossy(&body).contains("expired"));

    // A vanished file.
    let (status, link) = recording_url(&server, &format!(r#"{{"path":"{relative}"}}"#));
    assert_eq!(status, 200, "{link}");
    std::fs::remove_file(recordings_dir(&server).join(relative)).unwrap();
    assert_eq!(
        get_with_head(&server.http, link["url"].as_str().unwrap(), "").0,
        404
    );

    // What the signing endpoint refuses.
    for (body, want) in [
        (r#"{"path":"../x.mp4"}"#.to_owned(), 400),
        (r#"{"path":"/etc/x.mp4"}"#.to_owned(), 400),
        (r#"{"path":"live\\a.mp4"}"#.to_owned(), 400),
        (r#"{"path":"live/a/x.txt"}"#.to_owned(), 400),
        (r#"{"path":"live/a/none.mp4"}"#.to_owned(), 404),
        (format!(r#"{{"path":"{relative}"}}"#), 404),
        (r#"{"path":"a.mp4","ttlSecs":0}"#.to_owned(), 400),
        (r#"{"path":"a.mp4","ttlSecs":86401}"#.to_owned(), 400),
        (r#"{"path":"a.mp4","ttl":5}"#.to_owned(), 400),
    ] {
        let (status, json) = recording_url(&server, &body);
        assert_eq!(status, want, "{body}: {json}");
        assert!(
            json["code"].is_u64() && json["message"].is_string(),
            "{json}"
        );
    }
    let (status, _) = http_request(
        &server.http,
        "POST",
        "/v1/recordings/url",
        &[],
        Some(r#"{"path":"a.mp4"}"#),
    );
    assert_eq!(status, 401, "no admin token");
}

/// `/recordings/...` without `sig`/`expires` is still the playback of an app named `recordings`: HLS (playlist and
/// segments through the router's hand-over) and HTTP-FLV.
#[test]
fn an_app_named_recordings_still_plays() {
    require("ffprobe");
    let server = Server::start("");
    server.cli_ok(&["app", "create", "recordings", "--push-auth", "off"]);
    std::thread::sleep(Duration::from_millis(800));
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("recordings/cam"));
    server.wait_live("recordings/cam");
    let (status, head, body) = get_with_head(&server.http, "/recordings/cam.m3u8", "");
    assert_eq!(status, 200, "{head}\n{}", String::from_utf8_lossy(&body));
    let playlist = String::from_utf8_lossy(&body).to_string();
    let segment = playlist
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("a segment in {playlist}"));
    let segment = if segment.starts_with('/') {
        segment.to_owned()
    } else {
        format!("/recordings/{segment}")
    };
    let (status, head, _) = get_with_head(&server.http, &segment, "");
    assert_eq!(status, 200, "{segment}: {head}");
    for path in ["recordings/cam.m3u8", "recordings/cam.flv"] {
        let codecs = ffprobe_codecs(&server.http_url(path));
        assert!(
            codecs.contains("h264") && codecs.contains("aac"),
            "{path}: {codecs}"
        );
    }
}
