//! Interop tests against real peers nobody here wrote: ffmpeg/ffprobe, rtmpdump (librtmp), GStreamer, curl.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// ffprobe's stream list of `url` as JSON.
fn ffprobe_streams(url: &str) -> serde_json::Value {
    let (out, timed_out) = run_with_timeout(
        Command::new("ffprobe").args(["-v", "error", "-show_streams", "-of", "json", url]),
        Duration::from_secs(20),
    );
    assert!(
        !timed_out && out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first few video packets a player receives: (flags, pts).
fn first_video_packets(url: &str, n: usize) -> Vec<String> {
    let (out, _) = run_with_timeout(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=flags",
            "-read_intervals",
            &format!("%+#{n}"),
            "-of",
            "csv=p=0",
            url,
        ]),
        Duration::from_secs(20),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn ffmpeg_push_then_ffmpeg_decodes_rtmp_and_http_flv() {
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/t1"));
    let stats = server.wait_live("live/t1");
    assert_eq!(stats["videoWidth"], 540, "{stats}");
    assert_eq!(stats["videoHeight"], 960, "{stats}");
    assert_eq!(stats["videoCodec"], "H264", "{stats}");
    assert_eq!(stats["audioCodec"], "AAC", "{stats}");

    let probe = ffprobe_streams(&server.rtmp_url("live/t1"));
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{probe}"
    );

    ffmpeg_decode(&server.rtmp_url("live/t1"), 3);
    ffmpeg_decode(&server.http_url("live/t1.flv"), 3);
    ffmpeg_decode(&server.rtmp_url("live/t1?mode=rtc"), 2);
    ffmpeg_decode(&server.http_url("live/t1.flv?mode=rtc"), 2);

    // Statistics measured from the stream itself.
    let stats = server.wait_live("live/t1");
    let vbr = stats["videoBitrate"].as_f64().unwrap();
    assert!(
        (500.0..2000.0).contains(&vbr),
        "videoBitrate {vbr}: {stats}"
    );
    let fps = stats["videoFPS"].as_f64().unwrap();
    assert!((20.0..30.0).contains(&fps), "videoFPS {fps}: {stats}");
    let gop = stats["videoGOP"].as_f64().unwrap();
    assert!((0.8..1.2).contains(&gop), "videoGOP {gop}: {stats}");
    assert!(stats["bytesOut"].as_u64().unwrap() > 0, "{stats}");
}

#[test]
fn player_joining_mid_gop_gets_the_keyframe_first() {
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/gop"));
    server.wait_live("live/gop");
    for (i, url) in [
        server.rtmp_url("live/gop"),
        server.http_url("live/gop.flv"),
        server.rtmp_url("live/gop?mode=rtc"),
    ]
    .iter()
    .enumerate()
    {
        // Join at different points of the GOP.
        std::thread::sleep(Duration::from_millis(130 * i as u64 + 170));
        let flags = first_video_packets(url, 5);
        assert!(!flags.is_empty(), "no video packets from {url}");
        assert!(
            flags[0].starts_with('K'),
            "first video packet from {url} is not a keyframe: {flags:?}"
        );
    }
}

#[test]
fn audio_only_stream_plays() {
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_audio(), &server.rtmp_url("live/voice"));
    let stats = server.wait_live("live/voice");
    assert_eq!(stats["audioCodec"], "AAC", "{stats}");
    assert!(stats["videoCodec"].is_null(), "{stats}");
    for url in [
        server.rtmp_url("live/voice"),
        server.http_url("live/voice.flv"),
    ] {
        let probe = ffprobe_streams(&url);
        let streams = probe["streams"].as_array().unwrap();
        assert!(
            streams.iter().any(|s| s["codec_name"] == "aac"),
            "{url}: {probe}"
        );
        assert!(
            streams.iter().all(|s| s["codec_type"] != "video"),
            "{url}: {probe}"
        );
        ffmpeg_decode(&url, 2);
    }
}

#[test]
fn rtmpdump_plays() {
    require("rtmpdump");
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/dump"));
    server.wait_live("live/dump");
    let out_file = server.dir.path().join("dump.flv");
    let (out, _) = run_with_timeout(
        Command::new("rtmpdump")
            .args(["-q", "--live", "-r", &server.rtmp_url("live/dump"), "-o"])
            .arg(&out_file)
            .args(["--stop", "3"]),
        Duration::from_secs(15),
    );
    let size = std::fs::metadata(&out_file).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 50_000,
        "rtmpdump wrote {size} bytes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tags = read_flv(&out_file);
    let video = tags.iter().filter(|t| t.0 == flv::MediaKind::Video).count();
    let audio = tags.iter().filter(|t| t.0 == flv::MediaKind::Audio).count();
    assert!(video > 25 && audio > 25, "video {video} audio {audio}");
    ffmpeg_decode(out_file.to_str().unwrap(), 2);
}

#[test]
fn gstreamer_publishes_and_plays() {
    require("gst-launch-1.0");
    let server = Server::start("");
    let fixture = fixture_av();
    let push = Command::new("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", fixture.display()))
        .args([
            "!",
            "flvdemux",
            "name=d",
            "d.video",
            "!",
            "queue",
            "!",
            "h264parse",
            "!",
            "flvmux",
            "name=m",
            "streamable=true",
            "!",
            "rtmp2sink",
        ])
        .arg(format!("location={}", server.rtmp_url("live/gst")))
        .args(["d.audio", "!", "queue", "!", "aacparse", "!", "m."])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _push = Peer(push);
    let stats = server.wait_live("live/gst");
    assert_eq!(stats["videoWidth"], 540, "{stats}");

    let (out, _) = run_with_timeout(
        Command::new("gst-launch-1.0").args([
            "-q",
            "rtmp2src",
            &format!("location={}", server.rtmp_url("live/gst")),
            "!",
            "flvdemux",
            "name=d",
            "d.video",
            "!",
            "queue",
            "!",
            "h264parse",
            "!",
            "avdec_h264",
            "!",
            "identity",
            "eos-after=50",
            "!",
            "fakesink",
        ]),
        Duration::from_secs(20),
    );
    assert!(
        out.status.success(),
        "gst rtmp2src play failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn second_publisher_is_refused_and_idle_takeover_works() {
    let server = Server::start("[hub]\npublisher_idle_takeover_ms = 1500\n");
    let first = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/one"));
    server.wait_live("live/one");

    let (out, timed_out) = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(fixture_av())
            .args(["-c", "copy", "-f", "flv", &server.rtmp_url("live/one")]),
        Duration::from_secs(15),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!timed_out, "second publisher was not refused: {stderr}");
    assert!(!out.status.success());
    assert!(
        stderr.contains("already publishing"),
        "ffmpeg should show the server's reason: {stderr}"
    );

    // Freeze the first publisher: its connection stays open but it sends nothing.
    unsafe_kill(first.0.id(), "STOP");
    std::thread::sleep(Duration::from_millis(2000));
    let _second = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/one"));
    std::thread::sleep(Duration::from_millis(1500));
    let stats = server.wait_live("live/one");
    assert!(
        server.log().contains("another publisher took over"),
        "{}",
        server.log()
    );
    ffmpeg_decode(&server.rtmp_url("live/one"), 2);
    unsafe_kill(first.0.id(), "CONT");
    drop(stats);
}

/// `signal` stops the server cleanly while a publisher pushes, an HTTP-FLV player plays and a recording runs: the
/// process exits with code 0, the player's response ends properly and decodes, the recordings are closed and
/// reported, and the push ends with errcode 1015 (`shutdown`). Webhooks raised while shutting down stay in the
/// outbox; the next start delivers them.
fn shuts_down_cleanly_on(signal: &str) {
    require("curl");
    let mut server = Server::start("");
    let receiver = Receiver::start();
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--record",
        "mp4,flv",
        "--callback-url",
        &receiver.url(),
    ]);
    std::thread::sleep(Duration::from_millis(800)); // the server's catalog refresh
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/bye"));
    server.wait_live("live/bye");
    receiver.wait_for("push_start", 1);
    let played = server.dir.path().join("played.flv");
    let mut curl = Peer(
        Command::new("curl")
            .args(["-sS", "-N", "--max-time", "30", "-o"])
            .arg(&played)
            .arg(server.http_url("live/bye.flv"))
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Two seconds of pictures reached the player (the GOP cache, then live).
    let deadline = Instant::now() + Duration::from_secs(15);
    // 56 video tags: the sequence header and 55 pictures, so the recordings (which may end a picture or two
    // before what the player got when the signal lands) still hold the 50 checked below.
    while flv_video_tags(&played).0 < 56 {
        assert!(Instant::now() < deadline, "the player got no video");
        std::thread::sleep(Duration::from_millis(100));
    }

    let status = server.terminate(signal);
    assert_eq!(
        status.code(),
        Some(0),
        "SIG{signal}: the server did not exit cleanly ({status}); log:\n{}",
        server.log()
    );

    // The HTTP-FLV response was ended by the server (its last chunk), not cut: curl exits 0, not 18.
    let deadline = Instant::now() + Duration::from_secs(5);
    let curl_status = loop {
        if let Some(s) = curl.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "curl still reading after shutdown"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut curl_err = String::new();
    let _ = std::io::Read::read_to_string(curl.0.stderr.as_mut().unwrap(), &mut curl_err);
    assert!(curl_status.success(), "curl: {curl_status}: {curl_err}");
    let (_, partial) = flv_video_tags(&played);
    assert_eq!(partial, 0, "the player's file ends inside a tag");
    let frames = decoded_video_frames(&played);
    assert!(
        frames >= 45,
        "the player's file decodes to {frames} pictures"
    );

    // The next start delivers what the shutdown put in the outbox.
    server.spawn();
    let end = receiver.wait_for("push_end", 1).remove(0);
    assert_eq!(
        (end["stream_id"].as_str(), end["errcode"].as_i64()),
        (Some("bye"), Some(1015)),
        "the push ends with errcode 1015 (shutdown): {end}"
    );
    let done = receiver.wait_for("record_done", 2);
    let dir = server.dir.path().join("data").join("recordings");
    for ext in ["mp4", "flv"] {
        let hook = done
            .iter()
            .find(|d| d["file_format"] == ext)
            .unwrap_or_else(|| panic!("no record_done for {ext}: {done:?}"));
        assert_eq!(hook["errcode"], 0, "{hook}");
        let path = dir.join(hook["file_path"].as_str().unwrap());
        assert_eq!(
            hook["file_size"].as_u64(),
            Some(std::fs::metadata(&path).unwrap().len()),
            "the file is closed at the size reported: {hook}"
        );
        let frames = decoded_video_frames(&path);
        assert!(frames >= 50, "{ext}: {frames} pictures recorded");
    }
}

/// The video tags of an FLV file being written, and the bytes after the last whole tag.
fn flv_video_tags(path: &std::path::Path) -> (usize, usize) {
    let data = std::fs::read(path).unwrap_or_default();
    let mut demux = flv::FlvDemuxer::new(64 << 20);
    let _ = demux.handle_input(&data);
    let video = std::iter::from_fn(|| demux.poll_tag())
        .filter(|t| t.tag_type == flv::MediaKind::Video)
        .count();
    (video, demux.buffered_len())
}

#[test]
fn sigterm_shuts_down_cleanly() {
    shuts_down_cleanly_on("TERM");
}

#[test]
fn sigint_shuts_down_cleanly() {
    shuts_down_cleanly_on("INT");
}

#[test]
fn republish_within_grace_keeps_players_and_timestamps_monotonic() {
    require("curl");
    let server = Server::start("[hub]\nrepublish_grace_ms = 4000\n");
    let fixture = fixture_av();
    let push = ffmpeg_push(&fixture, &server.rtmp_url("live/re"));
    server.wait_live("live/re");

    let flv_out = server.dir.path().join("re.flv");
    let rtmp_out = server.dir.path().join("re-rtmp.flv");
    let curl = Peer(
        Command::new("curl")
            .args(["-s", "-N", "--max-time", "30", "-o"])
            .arg(&flv_out)
            .arg(server.http_url("live/re.flv"))
            .spawn()
            .unwrap(),
    );
    let rtmpdump = Peer(
        Command::new("rtmpdump")
            .args(["-q", "--live", "-r", &server.rtmp_url("live/re"), "-o"])
            .arg(&rtmp_out)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(3));
    drop(push); // publisher gone
    std::thread::sleep(Duration::from_millis(1500));
    let push = ffmpeg_push(&fixture, &server.rtmp_url("live/re"));
    std::thread::sleep(Duration::from_secs(3));
    drop(push);
    // After the grace the HTTP-FLV response ends and curl exits by itself.
    let mut curl = curl;
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = curl.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "HTTP-FLV response did not end after the grace"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "curl: {status:?}");
    let mut rtmpdump = rtmpdump;
    let started = std::time::Instant::now();
    while rtmpdump.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "RTMP player was not ended after the grace"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    for file in [&flv_out, &rtmp_out] {
        let tags = read_flv(file);
        let video: Vec<u32> = tags
            .iter()
            .filter(|t| t.0 == flv::MediaKind::Video)
            .map(|t| t.1)
            .collect();
        assert!(
            video.len() > 100,
            "{}: only {} video tags",
            file.display(),
            video.len()
        );
        for pair in video.windows(2) {
            assert!(
                pair[1] >= pair[0],
                "{}: video timestamp went back {} -> {}",
                file.display(),
                pair[0],
                pair[1]
            );
        }
        // Two sequence headers: the first publish and the republish.
        let seq = tags
            .iter()
            .filter(|t| t.0 == flv::MediaKind::Video)
            .filter(|t| flv::FrameClass::of(t.0, &t.2).is_sequence_header())
            .count();
        assert!(seq >= 2, "{}: {seq} sequence headers", file.display());
        // The republish continues the timeline just after the first session's last frame, whenever it came:
        // at the second sequence header, the pictures on either side are at most a few frames apart.
        let pictures: Vec<(u32, bool)> = tags
            .iter()
            .filter(|t| t.0 == flv::MediaKind::Video)
            .map(|t| (t.1, flv::FrameClass::of(t.0, &t.2).is_sequence_header()))
            .collect();
        let junction = 1 + pictures[1..]
            .iter()
            .position(|p| p.1)
            .expect("the republish's sequence header");
        let before = pictures[..junction].iter().rev().find(|p| !p.1).unwrap().0;
        let after = pictures[junction..].iter().find(|p| !p.1).unwrap().0;
        eprintln!("{}: junction {before} -> {after} ms", file.display());
        assert!(
            after - before <= 200,
            "{}: the timeline jumps from {before} to {after} ms at the republish",
            file.display()
        );
    }
    ffmpeg_decode(flv_out.to_str().unwrap(), 8);
}

#[test]
fn unknown_stream_is_not_found() {
    let server = Server::start("");
    let (status, body) = server.get("/live/nothing.flv");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("live/nothing"), "{body}");
    let (status, body) = server.get("/v1/streams/live/nothing");
    assert_eq!(status, 404, "{body}");
    let (out, _) = run_with_timeout(
        Command::new("ffmpeg").args([
            "-v",
            "error",
            "-i",
            &server.rtmp_url("live/nothing"),
            "-f",
            "null",
            "-",
        ]),
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
}

#[test]
fn silent_publisher_is_closed_after_the_no_data_timeout() {
    let server = Server::start("publisher_timeout_secs = 2\n");
    let push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/quiet"));
    server.wait_live("live/quiet");
    let _player = Peer(
        Command::new("curl")
            .args([
                "-s",
                "-N",
                "--max-time",
                "20",
                "-o",
                "/dev/null",
                &server.http_url("live/quiet.flv"),
            ])
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    unsafe_kill(push.0.id(), "STOP");
    let started = std::time::Instant::now();
    while !server.log().contains("publisher sent no media for 2 s") {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "silent publisher not closed:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Its players now wait in the republish grace.
    let (status, body) = server.get("/v1/streams/live/quiet");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"grace\""), "{body}");
    unsafe_kill(push.0.id(), "CONT");
}

#[test]
fn a_player_that_stops_reading_is_dropped_to_keyframes_and_slows_nobody() {
    use std::io::{Read, Write};
    let server = Server::start("socket_send_buffer = 32768\n[hub]\nsubscriber_max_lag_ms = 1000\n");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/slow"));
    server.wait_live("live/slow");
    // A player with a tiny receive window that reads nothing after the response head.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(8192).unwrap();
    let addr: std::net::SocketAddr = server.http.parse().unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stuck: std::net::TcpStream = socket.into();
    write!(stuck, "GET /live/slow.flv HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = [0u8; 64];
    stuck.read_exact(&mut head).unwrap();
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let before = server.wait_live("live/slow")["framesIn"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(6));
    // Reading again: the player resumes at a keyframe past what it missed, and the skip is counted.
    stuck
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 65536];
    while started.elapsed() < Duration::from_secs(2) {
        let _ = stuck.read(&mut buf);
    }
    let stats = server.wait_live("live/slow");
    assert!(stats["droppedFrames"].as_u64().unwrap() > 0, "{stats}");
    // The publisher was not held up: about 6 s of frames arrived (25 fps video + ~43 fps audio).
    let arrived = stats["framesIn"].as_u64().unwrap() - before;
    assert!(
        arrived > 300,
        "publisher slowed down: {arrived} frames in 6 s: {stats}"
    );
    // Other players are served as usual.
    ffmpeg_decode(&server.http_url("live/slow.flv"), 2);
    ffmpeg_decode(&server.rtmp_url("live/slow"), 2);
    drop(stuck);
}

#[test]
fn http_flv_after_another_request_on_a_kept_alive_connection() {
    use std::io::{BufRead, BufReader, Read, Write};
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/ka"));
    server.wait_live("live/ka");
    let s = std::net::TcpStream::connect(&server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    write!(
        w,
        "GET /v1/streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    )
    .unwrap();
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    assert!(String::from_utf8_lossy(&body).contains("live"));
    write!(w, "GET /live/ka.flv HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let mut some = vec![0u8; 100_000];
    r.read_exact(&mut some).unwrap();
    let text = String::from_utf8_lossy(&some);
    assert!(
        text.contains("video/x-flv") && text.contains("FLV"),
        "no FLV on the kept-alive connection"
    );
}

#[test]
fn serve_prints_working_push_and_play_urls() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mplive"))
        .args([
            "serve",
            "--rtmp-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut urls = Vec::new();
    while urls.len() < 3 {
        let line = lines.next().expect("serve output ended early").unwrap();
        let line = line.trim();
        if line.starts_with("rtmp://") || (line.starts_with("http://") && line.ends_with(".flv")) {
            urls.push(line.to_string());
        }
    }
    let _server = Peer(child);
    let (push, rtmp_play, flv_play) = (&urls[0], &urls[1], &urls[2]);
    let _pusher = ffmpeg_push(&fixture_av(), push);
    std::thread::sleep(Duration::from_secs(2));
    ffmpeg_decode(rtmp_play, 1);
    ffmpeg_decode(flv_play, 1);
    assert!(
        dir.path().join("data").is_dir(),
        "the data directory is created"
    );
}
