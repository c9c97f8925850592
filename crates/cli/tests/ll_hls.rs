//! Low-latency HLS against real peers: ffmpeg publishes over RTMP; ffprobe/ffmpeg read `/{app}/{stream}/ll.m3u8`
//! and the fMP4 init segment, parts and segments. Blocking reload and the mid-stream start are checked with a
//! publisher the test drives tag by tag ([`TagPusher`]): what exists on the server is known, not guessed from
//! timings.

mod common;

use std::path::Path;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::pusher::TagPusher;
use common::{
    decoded_video_frames, ffmpeg_decode, ffmpeg_push, ffprobe_codecs, fixture_audio, fixture_av,
    get_raw, run_with_timeout, Server,
};

fn ll_playlist(server: &Server, path: &str) -> String {
    let (status, content_type, body) = get_raw(&server.http, path);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{path}: {text}\n{}", server.log());
    assert_eq!(content_type, "application/vnd.apple.mpegurl");
    text
}

/// What a checked LL-HLS playlist holds.
struct Ll {
    part_target: f64,
    /// (msn, part index, URI, duration, independent) of every listed part.
    parts: Vec<(u64, usize, String, f64, bool)>,
    /// URIs of the complete segments.
    segments: Vec<String>,
    map: String,
    /// The preload hint's URI.
    hint: String,
}

/// Checks an LL-HLS playlist against RFC 8216bis and returns its parts and segments.
fn check_ll(text: &str) -> Ll {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U", "{text}");
    let value = |name: &str| -> &str {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing: {text}"))
    };
    let target: u64 = value("#EXT-X-TARGETDURATION:").parse().unwrap();
    let part_target: f64 = value("#EXT-X-PART-INF:PART-TARGET=").parse().unwrap();
    let control = value("#EXT-X-SERVER-CONTROL:");
    assert!(control.contains("CAN-BLOCK-RELOAD=YES"), "{text}");
    let hold_back: f64 = control
        .split(',')
        .find_map(|a| a.strip_prefix("PART-HOLD-BACK="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(hold_back >= 2.0 * part_target, "{text}");
    let mut msn: u64 = value("#EXT-X-MEDIA-SEQUENCE:").parse().unwrap();
    let map = value("#EXT-X-MAP:URI=").trim_matches('"').to_string();
    let attr = |l: &str, name: &str| -> Option<String> {
        l.split(',')
            .find_map(|a| a.strip_prefix(name))
            .map(|v| v.trim_matches('"').to_string())
    };
    let (mut parts, mut segments) = (Vec::new(), Vec::new());
    let mut index = 0usize;
    let mut first_part_of_segment = true;
    for (i, l) in lines.iter().enumerate() {
        if let Some(rest) = l.strip_prefix("#EXT-X-PART:") {
            let duration: f64 = attr(rest, "DURATION=").unwrap().parse().unwrap();
            let uri = attr(rest, "URI=").unwrap();
            let independent = rest.contains("INDEPENDENT=YES");
            assert!(duration <= part_target + 1e-9, "part over PART-TARGET: {l}");
            assert!(
                uri.ends_with(&format!("{msn}.{index}.m4s"))
                    || uri.contains(&format!("{msn}.{index}.m4s?")),
                "{l}"
            );
            if first_part_of_segment {
                assert!(
                    independent,
                    "a segment starts with an independent part: {l}"
                );
            }
            first_part_of_segment = false;
            parts.push((msn, index, uri, duration, independent));
            index += 1;
        }
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            let secs: f64 = d.trim_end_matches(',').parse().unwrap();
            assert!(secs > 0.0 && secs.round() as u64 <= target, "{l}");
            segments.push(lines[i + 1].to_string());
            msn += 1;
            index = 0;
            first_part_of_segment = true;
        }
    }
    let hint = value("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=")
        .trim_matches('"')
        .to_string();
    assert!(!parts.is_empty(), "parts near the live edge: {text}");
    Ll {
        part_target,
        parts,
        segments,
        map,
        hint,
    }
}

/// The path of a URI relative to `/live/{stream}/ll.m3u8`.
fn path(stream: &str, uri: &str) -> String {
    format!("/live/{stream}/{uri}")
}

fn fetch(server: &Server, path: &str) -> Vec<u8> {
    let (status, content_type, body) = get_raw(&server.http, path);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "video/mp4", "{path}");
    body
}

/// ffprobe's packets of an fMP4 file: (stream index, keyframe flag) per packet.
fn probe_packets(file: &Path) -> Vec<(u32, bool)> {
    let (out, timed_out) = run_with_timeout(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "packet=stream_index,flags",
                "-of",
                "csv=p=0",
            ])
            .arg(file),
        Duration::from_secs(30),
    );
    assert!(
        !timed_out && out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (index, flags) = l.split_once(',')?;
            Some((index.trim().parse().ok()?, flags.contains('K')))
        })
        .collect()
}

#[test]
fn ll_hls_plays_and_its_parts_are_valid_fmp4() {
    let server = Server::start("");
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/s"));
    server.wait_live("live/s");
    let url = server.http_url("live/s/ll.m3u8");
    let codecs = ffprobe_codecs(&url);
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    ffmpeg_decode(&url, 4);

    let text = ll_playlist(&server, "/live/s/ll.m3u8");
    let ll = check_ll(&text);
    assert!((ll.part_target - 0.334).abs() < 1e-9);
    assert!(
        ll.map.starts_with("ll/init-") && ll.map.ends_with(".mp4"),
        "{text}"
    );
    let init = fetch(&server, &path("s", &ll.map));
    assert_eq!(&init[4..8], b"ftyp");

    // A whole segment, and the same segment rebuilt from its parts, both read by ffprobe: the first video packet
    // is a keyframe and every part is a moof + mdat.
    let dir = tempfile::tempdir().unwrap();
    let segment = fetch(&server, &path("s", &ll.segments[ll.segments.len() - 1]));
    let whole = dir.path().join("whole.mp4");
    std::fs::write(&whole, [init.as_slice(), &segment].concat()).unwrap();
    let packets = probe_packets(&whole);
    assert!(packets.len() > 20, "{packets:?}");
    let first_video = packets.iter().find(|p| p.0 == 0).unwrap();
    assert!(
        first_video.1,
        "the segment starts with a keyframe: {packets:?}"
    );

    let last_msn = ll.parts.last().unwrap().0;
    let mut rebuilt = init.clone();
    for (msn, _, uri, _, _) in ll.parts.iter().filter(|p| p.0 == last_msn) {
        let part = fetch(&server, &path("s", uri));
        assert_eq!(&part[4..8], b"moof", "part {msn}: {uri}");
        rebuilt.extend_from_slice(&part);
    }
    let from_parts = dir.path().join("parts.mp4");
    std::fs::write(&from_parts, &rebuilt).unwrap();
    let packets = probe_packets(&from_parts);
    assert!(packets.iter().any(|p| p.0 == 0 && p.1), "{packets:?}");
    ffmpeg_decode(from_parts.to_str().unwrap(), 10);

    let (status, _, _) = get_raw(&server.http, "/live/s/ll/9999.0.m4s");
    assert_eq!(status, 404, "far beyond the live edge: not waited for");
    let (status, _, _) = get_raw(&server.http, "/live/s/ll/init-7.mp4");
    assert_eq!(status, 404);
    let (status, _, _) = get_raw(&server.http, "/live/s/ll/x.m4s");
    assert_eq!(status, 404);
}

/// GET `path` on a thread: (status, content type, body) once answered.
fn in_background(server: &Server, path: &str) -> JoinHandle<(u16, String, Vec<u8>)> {
    let (addr, path) = (server.http.clone(), path.to_string());
    std::thread::spawn(move || get_raw(&addr, &path))
}

/// The (segment, part) a playlist's preload hint names: `ll/{msn}.{part}.m4s`.
fn hinted(ll: &Ll) -> (u64, usize) {
    let name = ll.hint.split('?').next().unwrap();
    name.trim_start_matches("ll/")
        .trim_end_matches(".m4s")
        .split_once('.')
        .map(|(m, p)| (m.parse().unwrap(), p.parse().unwrap()))
        .unwrap_or_else(|| panic!("hint {}", ll.hint))
}

/// Whether the playlist lists part `part` of segment `msn`, or anything later.
fn holds(ll: &Ll, (msn, part): (u64, usize)) -> bool {
    ll.parts
        .iter()
        .any(|p| (p.0 == msn && p.1 >= part) || p.0 > msn)
}

#[test]
fn blocking_reload_waits_for_the_next_part() {
    let server = Server::start("");
    let mut pusher = TagPusher::publish(&server.rtmp, "live", "b", &fixture_av());
    pusher.set_speed(4);
    pusher.send_while(|t| t.ts < 1500);
    server.wait_live("live/b");
    let first = in_background(&server, "/live/b/ll.m3u8");
    pusher.send_while(|_| !first.is_finished());
    assert_eq!(first.join().unwrap().0, 200);

    // The publisher pauses: no part can be completed now. Once two playlists agree, the server has taken
    // everything sent.
    let mut paused = check_ll(&ll_playlist(&server, "/live/b/ll.m3u8"));
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let again = check_ll(&ll_playlist(&server, "/live/b/ll.m3u8"));
        if hinted(&again) == hinted(&paused) {
            break;
        }
        paused = again;
    }
    let next = hinted(&paused);
    assert!(!holds(&paused, next), "the hinted part exists already");

    // Ask for the playlist that holds the hinted part, and for the part itself: both are held.
    let playlist = in_background(
        &server,
        &format!("/live/b/ll.m3u8?_HLS_msn={}&_HLS_part={}", next.0, next.1),
    );
    let part = in_background(&server, &path("b", &paused.hint));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !playlist.is_finished(),
        "the blocking playlist request was answered before its part existed: {:?}",
        playlist
            .join()
            .map(|r| String::from_utf8_lossy(&r.2).to_string())
    );
    assert!(
        !part.is_finished(),
        "the hinted part was answered before it existed"
    );
    let waiting = check_ll(&ll_playlist(&server, "/live/b/ll.m3u8"));
    assert!(
        !holds(&waiting, next),
        "the part came without the publisher: the test cannot tell blocking from not blocking"
    );

    // The publisher goes on: the part is completed, and both answers carry it.
    pusher.resume_now();
    let deadline = Instant::now() + Duration::from_secs(10);
    pusher.send_while(|_| {
        !(playlist.is_finished() && part.is_finished()) && Instant::now() < deadline
    });
    let (status, _, body) = playlist.join().unwrap();
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(
        holds(&check_ll(&text), next),
        "the answer holds the part asked for ({next:?}): {text}"
    );
    assert!(
        !text.contains("_HLS_"),
        "blocking directives are not repeated on URIs: {text}"
    );
    let (status, _, body) = part.join().unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(&body[4..8], b"moof");

    let (status, _, body) = get_raw(
        &server.http,
        &format!("/live/b/ll.m3u8?_HLS_msn={}", next.0 + 10),
    );
    assert_eq!(
        status,
        400,
        "too far ahead: {}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, body) = get_raw(&server.http, "/live/b/ll.m3u8?_HLS_msn=abc");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("_HLS_msn"));
    let (status, _, _) = get_raw(&server.http, "/live/b/ll.m3u8?_HLS_part=1");
    assert_eq!(status, 400, "_HLS_part without _HLS_msn");
}

/// LL-HLS asked for mid-GOP, while the stream's segmenter already runs for classic HLS, starts from the frames it
/// kept since the last keyframe K: its first segment, K up to the next keyframe, is complete without a third
/// keyframe (a variant started at the next keyframe would need one), and its first part is independent and
/// decodes on its own, starting with K.
#[test]
fn ll_hls_asked_for_mid_gop_starts_at_the_last_keyframe() {
    // Segments of 0.9 s and more: each 1 s GOP of the fixture is one segment.
    let server = Server::start("[hls]\ntarget_duration_ms = 900\n");
    let mut pusher = TagPusher::publish(&server.rtmp, "live", "m", &fixture_av());
    pusher.set_speed(4);
    pusher.send_while(|t| t.ts < 1500);
    server.wait_live("live/m");
    let classic = in_background(&server, "/live/m.m3u8");
    pusher.send_while(|_| !classic.is_finished());
    assert_eq!(classic.join().unwrap().0, 200);
    // K and half a second after it.
    pusher.send_while(|t| !t.is_keyframe());
    let keyframe = pusher.peek().ts;
    pusher.send_while(|t| t.ts < keyframe + 500);

    // Ask for LL-HLS; the rest of K's GOP. The variant starts at the first frame after the request (the server
    // logs it); audio is sent ahead of the next keyframe until it has.
    let asked = in_background(&server, "/live/m/ll.m3u8");
    pusher.send_while(|t| !t.is_keyframe());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .log()
        .contains("HLS: low-latency variant started stream=live/m ")
    {
        assert!(
            Instant::now() < deadline,
            "the LL-HLS variant never started"
        );
        pusher.send_audio_ahead();
    }
    // The next keyframe and its GOP, but not the keyframe after: then audio only.
    pusher.send_next(true);
    pusher.send_while(|t| !t.is_keyframe());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !asked.is_finished() && Instant::now() < deadline {
        if pusher.peek().kind == flv::MediaKind::Video {
            pusher.skip();
        } else {
            pusher.send_next(true);
        }
    }
    let (status, _, body) = asked.join().unwrap();
    let text = String::from_utf8_lossy(&body).to_string();
    assert_eq!(
        status, 200,
        "LL-HLS asked for mid-GOP has no complete segment after one more keyframe: {text}"
    );
    let ll = check_ll(&text);
    let first = &ll.parts[0];
    assert!(first.4, "the first part is independent: {text}");

    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("first-part.mp4");
    let init = fetch(&server, &path("m", &ll.map));
    std::fs::write(
        &alone,
        [init, fetch(&server, &path("m", &first.2))].concat(),
    )
    .unwrap();
    let packets = probe_packets(&alone);
    assert!(
        packets.iter().find(|p| p.0 == 0).is_some_and(|p| p.1),
        "the first part starts with a keyframe: {packets:?}"
    );
    let frames = decoded_video_frames(&alone);
    assert!(
        frames >= 5,
        "the first part alone decodes to {frames} pictures"
    );
}

#[test]
fn audio_only_ll_hls() {
    let server = Server::start("[hls]\ntarget_duration_ms = 1000\n");
    let _pusher = ffmpeg_push(&fixture_audio(), &server.rtmp_url("live/a"));
    server.wait_live("live/a");
    let url = server.http_url("live/a/ll.m3u8");
    let codecs = ffprobe_codecs(&url);
    assert!(
        codecs.lines().any(|l| l.trim() == "aac") && !codecs.contains("h264"),
        "{codecs}"
    );
    ffmpeg_decode(&url, 3);
    let ll = check_ll(&ll_playlist(&server, "/live/a/ll.m3u8"));
    assert!(
        ll.parts.iter().all(|p| p.4),
        "every audio part is independent"
    );
}

#[test]
fn ll_hls_follows_play_auth() {
    let server = Server::start("");
    server.cli_ok(&["app", "set", "live", "--play-auth", "on"]);
    let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/p"));
    server.wait_live("live/p");
    std::thread::sleep(Duration::from_millis(800)); // the server's catalog refresh
    let (status, _, _) = get_raw(&server.http, "/live/p/ll.m3u8");
    assert_eq!(status, 401);
    let (status, _, _) = get_raw(&server.http, "/live/p/ll/init-0.mp4");
    assert_eq!(status, 401);

    let urls = server.cli_ok(&["url", "play", "p"]);
    let ll_url = urls
        .lines()
        .find(|l| l.contains("/ll.m3u8?"))
        .unwrap_or_else(|| panic!("`mplive url play` prints the LL-HLS URL: {urls}"));
    let signed = {
        let rest = ll_url.split_once("://").unwrap().1;
        rest[rest.find('/').unwrap()..].to_string()
    };
    let text = ll_playlist(&server, &format!("{signed}&_HLS_msn=0"));
    let ll = check_ll(&text);
    assert!(
        ll.map.contains("txSecret=") && ll.hint.contains("txSecret="),
        "{text}"
    );
    assert!(ll.parts.iter().all(|p| p.2.contains("txSecret=")), "{text}");
    fetch(&server, &path("p", &ll.map));
    fetch(&server, &path("p", &ll.parts[0].2));
    assert!(ffprobe_codecs(&format!("http://{}{signed}", server.http)).contains("h264"));

    let expired = server.cli_ok(&["url", "play", "p", "--expires-at", "1000"]);
    let old = expired.lines().find(|l| l.contains("/ll.m3u8?")).unwrap();
    let rest = old.split_once("://").unwrap().1;
    let (status, _, body) = get_raw(&server.http, &rest[rest.find('/').unwrap()..]);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
}
