//! Classic HLS against real peers: ffmpeg publishes over RTMP, ffprobe/ffmpeg play `/{app}/{stream}.m3u8`, and
//! the playlist and segments are checked on their own (RFC 8216 tags, MPEG-TS structure).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{
    ffmpeg_decode, ffmpeg_push, ffprobe_codecs, fixture_audio, fixture_av, get_raw, get_raw_with,
    require, run_with_timeout, Receiver, Server,
};

fn playlist(server: &Server, path: &str) -> String {
    let (status, content_type, body) = get_raw(&server.http, path);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{path}: {text}\n{}", server.log());
    assert_eq!(content_type, "application/vnd.apple.mpegurl");
    text
}

/// The tags of a playlist, checked against RFC 8216: returns (media sequence, segment URIs).
fn check_playlist(text: &str, window: usize) -> (u64, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U", "{text}");
    assert!(lines.contains(&"#EXT-X-VERSION:3"), "{text}");
    let tag = |name: &str| -> u64 {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing: {text}"))
            .parse()
            .unwrap()
    };
    let target = tag("#EXT-X-TARGETDURATION:");
    let sequence = tag("#EXT-X-MEDIA-SEQUENCE:");
    let mut uris = Vec::new();
    let mut date_times = 0;
    for (i, l) in lines.iter().enumerate() {
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            let secs: f64 = d.trim_end_matches(',').parse().unwrap();
            assert!(d.ends_with(','), "{l}");
            assert!(
                secs.round() as u64 <= target,
                "EXTINF {secs} > target {target}"
            );
            assert!(secs > 0.0);
            uris.push(lines[i + 1].to_string());
        }
        if l.starts_with("#EXT-X-PROGRAM-DATE-TIME:") {
            date_times += 1;
        }
    }
    assert!(!uris.is_empty() && uris.len() <= window, "{text}");
    assert_eq!(date_times, uris.len());
    assert!(!text.contains("#EXT-X-ENDLIST"));
    (sequence, uris)
}

/// Structural check of one downloaded segment: 188-byte packets with sync bytes, PAT then PMT first, continuity
/// counters per PID, a PCR. Returns the stream types the PMT lists.
fn check_ts(data: &[u8]) -> Vec<u8> {
    assert!(
        !data.is_empty() && data.len().is_multiple_of(188),
        "{} bytes",
        data.len()
    );
    let mut counters: HashMap<u16, u8> = HashMap::new();
    let mut pmt_pid = None;
    let mut stream_types = Vec::new();
    let mut pcr = false;
    for (i, p) in data.chunks(188).enumerate() {
        assert_eq!(p[0], 0x47, "sync byte of packet {i}");
        let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
        let pusi = p[1] & 0x40 != 0;
        let afc = (p[3] >> 4) & 3;
        let mut at = 4;
        if afc & 2 != 0 {
            let len = usize::from(p[4]);
            if len > 0 && p[5] & 0x10 != 0 {
                pcr = true;
            }
            at += 1 + len;
        }
        if afc & 1 != 0 {
            let cc = p[3] & 0x0F;
            if let Some(prev) = counters.insert(pid, cc) {
                assert_eq!(
                    cc,
                    (prev + 1) & 0x0F,
                    "continuity of PID {pid} at packet {i}"
                );
            }
        }
        if i == 0 {
            assert!(pid == 0 && pusi, "PAT first");
            let s = &p[at + 1 + usize::from(p[at])..];
            assert_eq!(s[0], 0, "table id of the PAT");
            pmt_pid = Some(u16::from_be_bytes([s[10], s[11]]) & 0x1FFF);
        }
        if i == 1 {
            assert_eq!(Some(pid), pmt_pid, "PMT second");
            let s = &p[at + 1 + usize::from(p[at])..];
            assert_eq!(s[0], 2, "table id of the PMT");
            let section_len = usize::from(u16::from_be_bytes([s[1], s[2]]) & 0x0FFF);
            let info_len = usize::from(u16::from_be_bytes([s[10], s[11]]) & 0x0FFF);
            let mut e = 12 + info_len;
            while e + 5 <= 3 + section_len - 4 {
                stream_types.push(s[e]);
                e += 5 + usize::from(u16::from_be_bytes([s[e + 3], s[e + 4]]) & 0x0FFF);
            }
        }
    }
    assert!(pcr, "a PCR in the segment");
    stream_types
}

#[test]
fn av_stream_plays_over_hls() {
    require("ffprobe");
    let server = Server::start("");
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/s"));
    server.wait_live("live/s");
    let url = server.http_url("live/s.m3u8");
    let codecs = ffprobe_codecs(&url);
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    ffmpeg_decode(&url, 4);

    let first = playlist(&server, "/live/s.m3u8");
    let (seq0, uris) = check_playlist(&first, 6);
    assert!(uris
        .iter()
        .all(|u| u.starts_with("s/") && u.ends_with(".ts")));
    let (status, content_type, ts) = get_raw(&server.http, &format!("/live/{}", uris[0]));
    assert_eq!(status, 200);
    assert_eq!(content_type, "video/mp2t");
    let types = check_ts(&ts);
    assert_eq!(types, [0x1B, 0x0F], "H.264 and AAC in the PMT");

    // The window slides: after a few target durations the media sequence has moved and the first segment is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (seq, uris) = check_playlist(&playlist(&server, "/live/s.m3u8"), 6);
        if seq > seq0 && uris.len() == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the media sequence never advanced"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (status, _, _) = get_raw(&server.http, &format!("/live/s/{seq0}.ts"));
    assert_eq!(status, 404, "out of the window");
    let (status, _, _) = get_raw(&server.http, "/live/nope.m3u8");
    assert_eq!(status, 404, "not live");
    // Only the variant that was asked for is muxed.
    let log = server.log();
    assert!(log.contains("HLS: classic variant started"), "{log}");
    assert!(!log.contains("HLS: low-latency variant started"), "{log}");
}

#[test]
fn audio_only_stream_plays_over_hls() {
    require("ffprobe");
    let server = Server::start("[hls]\ntarget_duration_ms = 1000\n");
    let _pusher = ffmpeg_push(&fixture_audio(), &server.rtmp_url("live/a"));
    server.wait_live("live/a");
    let url = server.http_url("live/a.m3u8");
    let codecs = ffprobe_codecs(&url);
    // ffprobe lists the stream once per program it sees it in; every entry must be AAC.
    let names: Vec<&str> = codecs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.trim() == "aac"),
        "{codecs}"
    );
    ffmpeg_decode(&url, 3);
    let (_, uris) = check_playlist(&playlist(&server, "/live/a.m3u8"), 6);
    let (status, _, ts) = get_raw(&server.http, &format!("/live/{}", uris[0]));
    assert_eq!(status, 200);
    assert_eq!(check_ts(&ts), [0x0F]);
}

#[test]
fn republish_marks_a_discontinuity() {
    let server = Server::start("[hub]\nrepublish_grace_ms = 15000\n");
    let mut pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/r"));
    server.wait_live("live/r");
    check_playlist(&playlist(&server, "/live/r.m3u8"), 6);
    drop(pusher);
    std::thread::sleep(Duration::from_millis(500));
    pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/r"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = playlist(&server, "/live/r.m3u8");
        check_playlist(&text, 6);
        if text.contains("#EXT-X-DISCONTINUITY\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no discontinuity after the republish: {text}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(pusher);
}

#[test]
fn play_auth_guards_playlists_and_segments() {
    let server = Server::start("");
    server.cli_ok(&["app", "set", "live", "--play-auth", "on"]);
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/p"));
    server.wait_live("live/p");
    std::thread::sleep(Duration::from_millis(800)); // the server's catalog refresh
    let (status, _, body) = get_raw(&server.http, "/live/p.m3u8");
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = get_raw(&server.http, "/live/p/0.ts");
    assert_eq!(status, 401);

    let path_of = |url: &str| -> String {
        let rest = url.split_once("://").unwrap().1;
        rest[rest.find('/').unwrap()..].to_string()
    };
    let urls = server.cli_ok(&["url", "play", "p"]);
    let m3u8 = urls.lines().nth(2).unwrap();
    assert!(m3u8.contains(".m3u8?"), "{urls}");
    let signed = path_of(m3u8);
    let text = playlist(&server, &signed);
    let (_, uris) = check_playlist(&text, 6);
    assert!(
        uris[0].contains("txSecret="),
        "the signature carries over: {text}"
    );
    let (status, _, ts) = get_raw(&server.http, &format!("/live/{}", uris[0]));
    assert_eq!(status, 200);
    check_ts(&ts);
    let full = format!("http://{}{signed}", server.http);
    assert!(ffprobe_codecs(&full).contains("h264"));

    let expired = server.cli_ok(&["url", "play", "p", "--expires-at", "1000"]);
    let (status, _, body) = get_raw(&server.http, &path_of(expired.lines().nth(2).unwrap()));
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("signature_expired"));
}

#[test]
fn hls_viewers_count_as_players_and_send_play_webhooks() {
    let server = Server::start("[hls]\ntarget_duration_ms = 1000\n");
    let receiver = Receiver::start();
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--callback-url",
        &receiver.url(),
        "--max-players",
        "1",
    ]);
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/v"));
    server.wait_live("live/v");
    std::thread::sleep(Duration::from_millis(800)); // the server's catalog refresh
    let alice = "User-Agent: alice\r\n";
    let (status, _, body) = get_raw_with(&server.http, "/live/v.m3u8", alice);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let start = receiver.wait_for("play_start", 1).remove(0);
    assert_eq!(start["protocol"], "hls", "{start}");
    assert_eq!(start["stream_id"], "v", "{start}");
    // The same viewer keeps asking, for segments and the LL-HLS playlist too: still one player.
    let (_, _, body) = get_raw_with(&server.http, "/live/v.m3u8", alice);
    let (_, uris) = check_playlist(&String::from_utf8(body).unwrap(), 6);
    let (status, _, _) = get_raw_with(&server.http, &format!("/live/{}", uris[0]), alice);
    assert_eq!(status, 200);
    let (status, _, body) = get_raw_with(&server.http, "/live/v/ll.m3u8", alice);
    assert_eq!(status, 200);
    // Asked for mid-stream, the LL variant starts from the frames since the last keyframe: its first part is
    // independent and starts with a keyframe, and it was not muxed before it was asked for. (That it starts from
    // the kept frames, not the next keyframe, is ll_hls.rs's ll_hls_asked_for_mid_gop_starts_at_the_last_keyframe.)
    let text = String::from_utf8_lossy(&body).to_string();
    let first_part = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .unwrap_or_else(|| panic!("no part: {text}"));
    assert!(
        first_part.contains("INDEPENDENT=YES"),
        "the first part is independent: {text}"
    );
    let uri = |attrs: &str| -> String {
        let at = attrs.find("URI=\"").expect("a URI") + 5;
        let rest = &attrs[at..];
        format!("/live/v/{}", &rest[..rest.find('"').unwrap()])
    };
    let map = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:"))
        .unwrap_or_else(|| panic!("no map: {text}"));
    let (status, _, init) = get_raw_with(&server.http, &uri(map), alice);
    assert_eq!(status, 200);
    let (status, _, part) = get_raw_with(&server.http, &uri(first_part), alice);
    assert_eq!(status, 200);
    let file = server.dir.path().join("first-part.mp4");
    std::fs::write(&file, [init, part].concat()).unwrap();
    assert!(
        first_video_packet_is_keyframe(&file),
        "the first part starts with a keyframe"
    );
    assert!(server.log().contains("HLS: low-latency variant started"));

    // Another client is over the app's max_players, over HLS and over HTTP-FLV.
    let (status, _, body) = get_raw_with(&server.http, "/live/v.m3u8", "User-Agent: bob\r\n");
    let body = String::from_utf8_lossy(&body).to_string();
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("too_many_players"), "{body}");
    let (status, _, _) = get_raw(&server.http, "/live/v.flv");
    assert_ne!(status, 200, "the HLS viewer counts for HTTP-FLV too");
    let metrics = server.get("/metrics").1;
    assert!(
        metrics.contains("mplive_players{protocol=\"hls\"} 1"),
        "{metrics}"
    );

    // Viewers that stop asking are gone after 10 s (three target durations, at least 10 s): play_stop, and room
    // for someone else.
    let stops = receiver.wait_for_within("play_stop", 1, Duration::from_secs(25));
    assert_eq!(stops[0]["protocol"], "hls", "{stops:?}");
    let (status, _, body) = get_raw_with(&server.http, "/live/v.m3u8", "User-Agent: bob\r\n");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// Whether ffprobe reads a keyframe as the first video packet of `file`.
fn first_video_packet_is_keyframe(file: &std::path::Path) -> bool {
    let (out, timed_out) = run_with_timeout(
        std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v",
                "-show_entries",
                "packet=flags",
                "-read_intervals",
                "%+#1",
                "-of",
                "csv=p=0",
            ])
            .arg(file),
        Duration::from_secs(30),
    );
    assert!(
        !timed_out && out.status.success(),
        "ffprobe {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().starts_with('K')
}

/// Opens an HTTP-FLV play and returns its status and the open socket (the player counts while it is open).
fn open_flv(server: &Server, path: &str) -> (u16, std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", server.http).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    let status = String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0);
    (status, s)
}

/// Issue 12, finding 4: a viewer is someone being served. Requests answered 404 count no player and send no
/// webhook (20 of them with 20 User-Agents used to fill max_players), one address holds at most
/// hls.max_viewers_per_address viewers, and a 30 KB query reaches the webhook cut to about 1 KiB.
#[test]
fn only_served_hls_requests_make_viewers() {
    let server = Server::start("[hls]\ntarget_duration_ms = 1000\nmax_viewers_per_address = 3\n");
    let receiver = Receiver::start();
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--callback-url",
        &receiver.url(),
        "--max-players",
        "2",
    ]);
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/f"));
    server.wait_live("live/f");
    std::thread::sleep(Duration::from_millis(800)); // the server's catalog refresh
    let real = "User-Agent: real\r\n";
    let (status, _, body) = get_raw_with(&server.http, "/live/f.m3u8", real);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    for i in 0..20 {
        let (status, _, body) = get_raw_with(
            &server.http,
            "/live/f/99999999.ts",
            &format!("User-Agent: fake-{i}\r\n"),
        );
        assert_eq!(status, 404, "fake {i}: {}", String::from_utf8_lossy(&body));
    }
    // The app's second place is still free: an HTTP-FLV player takes it, and the HLS viewer goes on.
    let (status, flv) = open_flv(&server, "/live/f.flv");
    assert_eq!(status, 200, "{}", server.log());
    let (status, _, _) = get_raw_with(&server.http, "/live/f.m3u8", real);
    assert_eq!(status, 200);
    let metrics = server.get("/metrics").1;
    assert!(
        metrics.contains("mplive_players{protocol=\"hls\"} 1"),
        "{metrics}"
    );
    receiver.wait_for("play_start", 2);
    std::thread::sleep(Duration::from_millis(1500));
    let starts = receiver.wait_for("play_start", 2);
    let protocols: Vec<&str> = starts
        .iter()
        .map(|s| s["protocol"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(starts.len(), 2, "no play_start for the 404s: {protocols:?}");
    drop(flv);

    server.cli_ok(&["app", "set", "live", "--max-players", "10"]);
    std::thread::sleep(Duration::from_millis(800));
    // A 30 KB query: served, and the play_start carries at most 1 KiB of it.
    let long = format!("/live/f.m3u8?pad={}", "x".repeat(30_000));
    let (status, _, body) = get_raw_with(&server.http, &long, "User-Agent: long\r\n");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let starts = receiver.wait_for("play_start", 3);
    let param = starts
        .iter()
        .filter_map(|s| s["stream_param"].as_str())
        .find(|p| p.starts_with("pad="))
        .expect("the long query's play_start");
    assert!(param.len() <= 1024, "stream_param of {} bytes", param.len());

    // The address has two viewers (real, long); a third fits, a fourth is refused with 429, for a playlist and a
    // segment alike, while the viewers it has are still served.
    let (status, _, _) = get_raw_with(&server.http, "/live/f.m3u8", "User-Agent: third\r\n");
    assert_eq!(status, 200);
    let (status, _, body) = get_raw_with(&server.http, "/live/f.m3u8", "User-Agent: fourth\r\n");
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("too_many_viewers_per_address"), "{body}");
    let (status, _, body) = get_raw_with(&server.http, "/live/f.m3u8", real);
    assert_eq!(status, 200);
    let (_, uris) = check_playlist(&String::from_utf8(body).unwrap(), 6);
    let segment = format!("/live/{}", uris[uris.len() - 1]);
    let (status, _, _) = get_raw_with(&server.http, &segment, "User-Agent: fourth\r\n");
    assert_eq!(status, 429);
    let (status, _, _) = get_raw_with(&server.http, &segment, real);
    assert_eq!(status, 200);
    let metrics = server.get("/metrics").1;
    assert!(
        metrics.contains("mplive_players{protocol=\"hls\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reason=\"too_many_viewers_per_address\"} 2"),
        "{metrics}"
    );
}

/// `GET /v1/streams/{app}/{stream}` counts HLS viewers as `/metrics` does, per variant, and not the segmenter
/// (an internal reader of the stream, like the recorder): with only HLS viewers, `total` is theirs alone.
#[test]
fn the_api_counts_hls_viewers_and_not_the_segmenter() {
    require("ffmpeg");
    let server = Server::start("[hls]\ntarget_duration_ms = 1000\n");
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/counted"));
    server.wait_live("live/counted");
    // A real HLS client: ffmpeg reading the playlist for a while (its User-Agent is its own).
    let mut viewer = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", &server.http_url("live/counted.m3u8")])
        .args(["-t", "20", "-f", "null", "-"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run ffmpeg");
    let players = |server: &Server| -> serde_json::Value {
        let (status, body) = server.get("/v1/streams/live/counted");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["players"].clone()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let p = players(&server);
        if p["hls"].as_u64() >= Some(1) {
            break p;
        }
        assert!(Instant::now() < deadline, "no HLS viewer counted: {p}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(seen["hls"], 1, "{seen}");
    // The segmenter is not a viewer: no RTMP or FLV players, and the total is the HLS viewer.
    assert_eq!(
        (seen["rtmp"].as_u64(), seen["flv"].as_u64()),
        (Some(0), Some(0)),
        "{seen}"
    );
    assert_eq!(seen["total"], 1, "{seen}");
    assert!(seen.get("other").is_none(), "{seen}");
    let metrics = server.get("/metrics").1;
    assert!(
        metrics.contains("mplive_players{protocol=\"hls\"} 1"),
        "{metrics}"
    );
    // The list says the same.
    let (_, list) = server.get("/v1/streams");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["streams"][0]["players"]["hls"], 1, "{list}");

    // A low-latency viewer counts under llHls, and in the total.
    let (status, _, _) = get_raw_with(
        &server.http,
        "/live/counted/ll.m3u8",
        "User-Agent: ll-viewer\r\n",
    );
    assert_eq!(status, 200);
    let p = players(&server);
    assert_eq!(
        (p["hls"].as_u64(), p["llHls"].as_u64(), p["total"].as_u64()),
        (Some(1), Some(1), Some(2)),
        "{p}"
    );
    let _ = viewer.kill();
    let _ = viewer.wait();
}
