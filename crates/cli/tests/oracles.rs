//! Independent oracles (issue 13, item 3): ffmpeg judges what our own readers otherwise check alone.
//!
//! - HEVC: libx265 encodes a test pattern to Annex B; this file turns it into Enhanced RTMP video tags itself
//!   (`hvc1` SequenceStart with an hvcC built here from the VPS/SPS/PPS, CodedFrames/CodedFramesX with
//!   length-prefixed NAL units) and publishes them with `rtmp::ClientSession`. ffmpeg then decodes the LL-HLS
//!   variant live and the MP4 recording afterwards with `-xerror`, and every decoded picture is compared (MD5)
//!   with what ffmpeg decodes from the original Annex B file.
//! - `mplive bench`: its per-player frame and byte counts, against ffmpeg reading the same stream for the same
//!   window.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};

// ---------------------------------------------------------------------------------------------------------------
// HEVC Annex B -> Enhanced FLV, written from the specifications (ISO/IEC 14496-15 8.3.3.1, H.265 7.3, Enhanced
// RTMP v1), not with the project's parsers.
// ---------------------------------------------------------------------------------------------------------------

const WIDTH: u32 = 320;
/// Not a multiple of 8: x265 codes 184 lines and crops with the SPS conformance window.
const HEIGHT: u32 = 180;
const FPS: u32 = 25;
const SECONDS: u32 = 10;
const FRAMES: usize = (FPS * SECONDS) as usize;

const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;
const NAL_AUD: u8 = 35;

/// The HEVC source: the Annex B file and, per coded picture in decoding order, (dts, pts) in 1/FPS units and
/// size in bytes, from ffmpeg's `framecrc` of the same encode.
struct HevcSource {
    annexb: PathBuf,
    packets: Vec<(i64, i64, usize)>,
}

/// Encodes (once per test binary run) `SECONDS` of testsrc2 with libx265: closed 1 s GOPs with B-frames, an
/// access unit delimiter before every picture.
fn hevc_source() -> &'static HevcSource {
    static S: OnceLock<HevcSource> = OnceLock::new();
    S.get_or_init(|| {
        require("ffmpeg");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oracles");
        std::fs::create_dir_all(&dir).unwrap();
        let annexb = dir.join(format!("src-{}.hevc", std::process::id()));
        let crc = dir.join(format!("src-{}.crc", std::process::id()));
        let params = "keyint=25:min-keyint=25:aud=1:scenecut=0:open-gop=0:log-level=error";
        let (out, timed_out) = run_with_timeout(
            Command::new("ffmpeg")
                .args(["-y", "-v", "error", "-f", "lavfi", "-i"])
                .arg(format!("testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}"))
                .args(["-t", &SECONDS.to_string(), "-pix_fmt", "yuv420p"])
                .args([
                    "-c:v",
                    "libx265",
                    "-preset",
                    "ultrafast",
                    "-x265-params",
                    params,
                ])
                .args(["-map", "0:v", "-f", "tee"])
                .arg(format!(
                    "[f=hevc]{}|[f=framecrc]{}",
                    annexb.display(),
                    crc.display()
                )),
            Duration::from_secs(60),
        );
        assert!(
            !timed_out && out.status.success(),
            "libx265 encode failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&crc).unwrap();
        assert!(text.contains("#tb 0: 1/25"), "{text}");
        let packets: Vec<(i64, i64, usize)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split(',').map(str::trim).collect();
                (
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[4].parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(packets.len(), FRAMES, "{text}");
        HevcSource { annexb, packets }
    })
}

/// The NAL units of an Annex B stream (start codes removed; trailing zero bytes belong to the next start code),
/// each with the offset where its start code (with any leading zero bytes) begins.
fn annexb_nals(data: &[u8]) -> Vec<(usize, &[u8])> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    let mut from = 0;
    for (k, &(_, begin)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |s| s.0);
        while end > begin && data[end - 1] == 0 {
            end -= 1;
        }
        nals.push((from, &data[begin..end]));
        from = end;
    }
    nals
}

fn nal_type(nal: &[u8]) -> u8 {
    (nal[0] >> 1) & 0x3f
}

/// The RBSP of a NAL unit: the emulation prevention byte of every `00 00 03` removed.
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// An MSB-first bit reader with Exp-Golomb codes.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn u(&mut self, n: u32) -> u64 {
        let mut v = 0;
        for _ in 0..n {
            let bit = (self.data[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u64::from(bit);
            self.pos += 1;
        }
        v
    }

    fn ue(&mut self) -> u64 {
        let mut zeros = 0;
        while self.u(1) == 0 {
            zeros += 1;
        }
        (1u64 << zeros) - 1 + self.u(zeros)
    }
}

/// What the hvcC needs from the SPS besides its profile_tier_level bytes, and the cropped picture size.
struct SpsFields {
    max_sub_layers_minus1: u8,
    temporal_id_nesting: bool,
    chroma_format_idc: u8,
    bit_depth_luma_minus8: u8,
    bit_depth_chroma_minus8: u8,
    width: u32,
    height: u32,
}

/// Reads an SPS RBSP (H.265 7.3.2.2.1) up to the bit depths.
fn parse_sps(rbsp: &[u8]) -> SpsFields {
    let mut b = Bits {
        data: &rbsp[2..],
        pos: 0,
    };
    b.u(4); // sps_video_parameter_set_id
    let max_sub_layers_minus1 = b.u(3) as u8;
    let temporal_id_nesting = b.u(1) == 1;
    // profile_tier_level(1, max_sub_layers_minus1): 96 bits of general fields, then the sub-layer flags.
    b.u(32);
    b.u(32);
    b.u(32);
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        present.push((b.u(1) == 1, b.u(1) == 1));
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            b.u(2);
        }
    }
    for (profile, level) in present {
        if profile {
            b.u(32);
            b.u(32);
            b.u(24);
        }
        if level {
            b.u(8);
        }
    }
    b.ue(); // sps_seq_parameter_set_id
    let chroma_format_idc = b.ue() as u8;
    if chroma_format_idc == 3 {
        b.u(1);
    }
    let (mut width, mut height) = (b.ue() as u32, b.ue() as u32);
    if b.u(1) == 1 {
        let (sub_w, sub_h) = match chroma_format_idc {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let (l, r, t, bo) = (b.ue() as u32, b.ue() as u32, b.ue() as u32, b.ue() as u32);
        width -= sub_w * (l + r);
        height -= sub_h * (t + bo);
    }
    SpsFields {
        max_sub_layers_minus1,
        temporal_id_nesting,
        chroma_format_idc,
        bit_depth_luma_minus8: b.ue() as u8,
        bit_depth_chroma_minus8: b.ue() as u8,
        width,
        height,
    }
}

/// The HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) of one VPS, SPS and PPS, NAL lengths 4 bytes.
fn build_hvcc(vps: &[u8], sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let rbsp = unescape(sps);
    let f = parse_sps(&rbsp);
    let mut out = vec![1u8];
    // general_profile_space..general_level_idc: the 12 bytes after the NAL header and the first SPS byte.
    out.extend_from_slice(&rbsp[3..15]);
    out.extend_from_slice(&[0xF0, 0x00]); // min_spatial_segmentation_idc 0
    out.push(0xFC); // parallelismType 0 (unknown)
    out.push(0xFC | f.chroma_format_idc);
    out.push(0xF8 | f.bit_depth_luma_minus8);
    out.push(0xF8 | f.bit_depth_chroma_minus8);
    out.extend_from_slice(&[0, 0]); // avgFrameRate unspecified
    out.push(((f.max_sub_layers_minus1 + 1) << 3) | (u8::from(f.temporal_id_nesting) << 2) | 3);
    out.push(3);
    for (kind, nal) in [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)] {
        out.push(0x80 | kind); // array_completeness: the parameter sets are only here
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// One FLV tag: kind, timestamp (ms), body.
type Tag = (MediaKind, u32, Vec<u8>);

/// The Enhanced RTMP video tags of the source (SequenceStart first, then one coded frame per picture, parameter
/// sets and delimiters left out so the hvcC is the decoder's only source of them) merged with the AAC tags of
/// the audio fixture, in timestamp order. Also returns the cropped size the SPS announces.
fn hevc_flv_tags(src: &HevcSource) -> (Vec<Tag>, u32, u32) {
    let data = std::fs::read(&src.annexb).unwrap();
    let nals = annexb_nals(&data);
    let find = |t: u8| nals.iter().find(|n| nal_type(n.1) == t).unwrap().1;
    let (vps, sps, pps) = (find(NAL_VPS), find(NAL_SPS), find(NAL_PPS));
    let fields = parse_sps(&unescape(sps));
    let mut seq = vec![0x80 | (1 << 4), b'h', b'v', b'c', b'1'];
    seq.extend_from_slice(&build_hvcc(vps, sps, pps));
    let mut video: Vec<Tag> = vec![(MediaKind::Video, 0, seq)];

    // Access units start at each delimiter; their byte sizes (start codes included) match ffmpeg's packets.
    let mut units: Vec<(usize, Vec<&[u8]>)> = Vec::new();
    for (offset, nal) in nals {
        if nal_type(nal) == NAL_AUD {
            units.push((offset, Vec::new()));
        }
        units.last_mut().expect("an AUD first").1.push(nal);
    }
    assert_eq!(units.len(), src.packets.len());
    let ends: Vec<usize> = units
        .iter()
        .skip(1)
        .map(|u| u.0)
        .chain([data.len()])
        .collect();
    let dts0 = src.packets[0].0;
    let ms = |t: i64| (t - dts0) * 1000 / i64::from(FPS);
    for (((offset, unit), end), &(dts, pts, size)) in units.iter().zip(ends).zip(&src.packets) {
        assert_eq!(end - offset, size, "access unit at byte {offset}");
        let key = unit.iter().any(|n| (16..=23).contains(&nal_type(n)));
        let cts = ms(pts) - ms(dts);
        assert!((0..1 << 23).contains(&cts));
        let frame_type: u8 = if key { 1 } else { 2 };
        // CodedFramesX (no composition time) where it is 0, CodedFrames otherwise.
        let packet_type: u8 = if cts == 0 { 3 } else { 1 };
        let mut body = vec![
            0x80 | (frame_type << 4) | packet_type,
            b'h',
            b'v',
            b'c',
            b'1',
        ];
        if packet_type == 1 {
            body.extend_from_slice(&(cts as u32).to_be_bytes()[1..]);
        }
        for nal in unit {
            if matches!(nal_type(nal), NAL_AUD | NAL_VPS | NAL_SPS | NAL_PPS) {
                continue;
            }
            body.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            body.extend_from_slice(nal);
        }
        video.push((MediaKind::Video, ms(dts) as u32, body));
    }

    // AAC from the regular FLV path (ffmpeg's own FLV muxer), sequence header first.
    let audio: Vec<Tag> = read_flv(&fixture_audio())
        .into_iter()
        .filter(|t| t.0 == flv::MediaKind::Audio)
        .map(|(_, ts, body)| (MediaKind::Audio, ts, body.to_vec()))
        .collect();
    assert!(audio.len() > 100 && audio[0].2[1] == 0, "AAC fixture");
    // Both sequence headers before the first frame, as encoders send them. (An AAC header that comes after the
    // first picture is not handled well yet: mp4::fmp4::Mp4Writer restarts with new tracks, and the recording's
    // first file holds one picture and the second starts with pictures that reference it.)
    let mut tags = Vec::with_capacity(video.len() + audio.len());
    let (mut v, mut a) = (video.into_iter(), audio.into_iter());
    tags.extend(v.next());
    tags.extend(a.next());
    let (mut v, mut a) = (v.peekable(), a.peekable());
    loop {
        let take_video = match (v.peek(), a.peek()) {
            (Some(x), Some(y)) => x.1 <= y.1,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        tags.push(if take_video { v.next() } else { a.next() }.unwrap());
    }
    (tags, fields.width, fields.height)
}

/// Publishes `tags` to `rtmp://{addr}/{app}/{name}` in real time with `rtmp::ClientSession` over a blocking socket.
fn publish_tags(addr: &str, app: &str, name: &str, tags: &[Tag]) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut session = ClientSession::new(SessionConfig::default(), std::time::Instant::now());
    session.connect(app, &format!("rtmp://{addr}/{app}"));
    session.publish(name);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 64 * 1024];
    'handshake: loop {
        assert!(Instant::now() < deadline, "not publishing after 10 s");
        if let Some(out) = session.take_transmit() {
            stream.write_all(&out).unwrap();
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!("the server closed the publishing connection"),
            Ok(n) => session
                .handle_input(&buf[..n], std::time::Instant::now())
                .unwrap(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
        while let Some(event) = session.poll_output() {
            match event {
                ClientEvent::Publishing { .. } => break 'handshake,
                ClientEvent::ConnectRejected { code, .. }
                | ClientEvent::PublishRejected { code, .. } => panic!("refused: {code}"),
                _ => {}
            }
        }
    }
    // The server has little more to say to a publisher: drain it on a thread so its window never fills.
    let mut reader = stream.try_clone().unwrap();
    reader.set_read_timeout(None).unwrap();
    std::thread::spawn(move || while matches!(reader.read(&mut buf), Ok(n) if n > 0) {});
    session.set_chunk_size(4096);
    let start = Instant::now();
    for (kind, ts, body) in tags {
        let due = start + Duration::from_millis(u64::from(*ts));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        session.send_media(*kind, *ts, body);
        if let Some(out) = session.take_transmit() {
            stream.write_all(&out).unwrap();
        }
    }
    session.close();
    if let Some(out) = session.take_transmit() {
        stream.write_all(&out).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// The MD5 of every decoded video picture, in output order, with `-xerror` (any decode error fails); their
/// presentation times must grow.
/// `extra` goes before the output (e.g. `-frames:v N`).
fn decoded_md5s(input: &str, extra: &[&str], limit: Duration) -> Vec<String> {
    let (out, timed_out) = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-xerror", "-i", input, "-map", "0"])
            .args(extra)
            .args(["-fps_mode", "passthrough", "-f", "framemd5", "-"]),
        limit,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!timed_out, "ffmpeg decoding {input} hung: {stderr}");
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg decoding {input} failed: {stderr}"
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let video = text
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("#media_type ")?;
            let (index, kind) = rest.split_once(": ")?;
            (kind == "video").then(|| index.to_string())
        })
        .unwrap_or_else(|| panic!("no video stream decoded from {input}: {text}"));
    let mut last_pts = i64::MIN;
    let mut md5s = Vec::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f[0] != video {
            continue;
        }
        // Pictures come out in presentation order: their times (the container's, composition offsets
        // included) must grow.
        let pts: i64 = f[2].parse().unwrap();
        assert!(
            pts > last_pts,
            "{input}: picture {} has pts {pts} after {last_pts}",
            md5s.len()
        );
        last_pts = pts;
        md5s.push(f[5].to_string());
    }
    md5s
}

/// ffprobe's view of the first video stream: (codec name, width, height).
fn probe_video(input: &str) -> (String, u32, u32) {
    let (out, timed_out) = run_with_timeout(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            input,
        ]),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !timed_out && out.status.success(),
        "ffprobe {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // HLS inputs list the stream once more under their program.
    let f: Vec<&str> = text.lines().next().unwrap_or_default().split(',').collect();
    assert_eq!(f.len(), 3, "ffprobe {input}: {text}");
    (
        f[0].to_string(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
    )
}

/// Where `got` sits in `source`: it must be a contiguous run of it. Returns the index of its first picture.
fn position_in(source: &[String], got: &[String], what: &str) -> usize {
    assert!(!got.is_empty(), "{what}: no picture decoded");
    let at = source
        .iter()
        .position(|h| *h == got[0])
        .unwrap_or_else(|| panic!("{what}: the first decoded picture is not one of the source's"));
    let matching = source[at..]
        .iter()
        .zip(got)
        .take_while(|(a, b)| a == b)
        .count();
    assert_eq!(
        matching,
        got.len(),
        "{what}: pictures {at}.. of the source decode the same only for {matching} of {} pictures",
        got.len()
    );
    at
}

#[test]
fn hevc_from_ll_hls_and_mp4_recording_decodes_like_the_source() {
    require("ffmpeg");
    require("ffprobe");
    let src = hevc_source();
    let (tags, width, height) = hevc_flv_tags(src);
    assert_eq!((width, height), (WIDTH, HEIGHT), "SPS conformance window");
    let source_md5 = decoded_md5s(src.annexb.to_str().unwrap(), &[], Duration::from_secs(30));
    assert_eq!(source_md5.len(), FRAMES);

    let server = Server::start("");
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--record",
        "mp4",
        "--republish-grace-ms",
        "300",
    ]);
    // The server reads the policy at its next catalog refresh (200 ms in tests).
    std::thread::sleep(Duration::from_millis(800));

    let publisher = {
        let addr = server.rtmp.clone();
        std::thread::spawn(move || publish_tags(&addr, "live", "h", &tags))
    };

    // (a) LL-HLS, read live while the publisher runs: codec and size, then 60 pictures (more than one segment)
    // that decode without error and are the source's pictures from a keyframe on.
    let url = server.http_url("live/h/ll.m3u8");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(probe_video(&url), ("hevc".to_string(), WIDTH, HEIGHT));
    let live = decoded_md5s(&url, &["-frames:v", "60"], Duration::from_secs(20));
    assert_eq!(live.len(), 60, "pictures decoded from LL-HLS");
    let at = position_in(&source_md5, &live, "LL-HLS");
    assert_eq!(at % FPS as usize, 0, "LL-HLS playback starts at a keyframe");
    publisher.join().expect("publisher");

    // (b) The recording, once closed: every picture pushed, decoded end to end.
    let deadline = Instant::now() + Duration::from_secs(15);
    let path = loop {
        let (status, body) = server.api("GET", "/v1/recordings?app=live&stream=h", None);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let files = v["recordings"].as_array().unwrap();
        if let Some(r) = files
            .iter()
            .find(|r| r["format"] == "mp4" && r["duration"].is_number())
        {
            assert_eq!(files.len(), 1, "one recording file: {body}");
            break server
                .dir
                .path()
                .join("data")
                .join("recordings")
                .join(r["path"].as_str().unwrap());
        }
        assert!(Instant::now() < deadline, "no closed mp4 recording: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let file = path.to_str().unwrap();
    assert_eq!(probe_video(file), ("hevc".to_string(), WIDTH, HEIGHT));
    let recorded = decoded_md5s(file, &[], Duration::from_secs(30));
    eprintln!(
        "LL-HLS: {} pictures from picture {at}; recording: {} of {FRAMES} pictures",
        live.len(),
        recorded.len()
    );
    let at = position_in(&source_md5, &recorded, "recording");
    assert_eq!(at, 0, "the recording starts with the first picture");
    assert!(
        recorded.len() + 2 >= FRAMES,
        "the recording decodes {} of {FRAMES} pictures",
        recorded.len()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// `mplive bench` against ffmpeg
// ---------------------------------------------------------------------------------------------------------------

/// What ffmpeg received (`-c copy -f framemd5`): packets and payload bytes over all streams, the video packets,
/// and the seconds of media they span.
struct Received {
    packets: u64,
    bytes: u64,
    video_packets: u64,
    seconds: f64,
}

fn count_packets(framemd5: &str) -> Received {
    let video = framemd5
        .lines()
        .find_map(|l| {
            let (index, kind) = l.strip_prefix("#media_type ")?.split_once(": ")?;
            (kind == "video").then(|| index.to_string())
        })
        .unwrap_or_default();
    // The video stream's time base, `#tb N: 1/D`.
    let tb = framemd5
        .lines()
        .find_map(|l| {
            let (index, base) = l.strip_prefix("#tb ")?.split_once(": ")?;
            let (n, d) = base.split_once('/')?;
            if index != video {
                return None;
            }
            Some(n.parse::<f64>().ok()? / d.parse::<f64>().ok()?)
        })
        .unwrap_or_else(|| panic!("no video time base: {framemd5}"));
    let mut r = Received {
        packets: 0,
        bytes: 0,
        video_packets: 0,
        seconds: 0.0,
    };
    let (mut first, mut last) = (None, 0i64);
    for l in framemd5.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        r.packets += 1;
        r.bytes += f[4].parse::<u64>().unwrap();
        if f[0] == video {
            r.video_packets += 1;
            let dts: i64 = f[1].parse().unwrap();
            first.get_or_insert(dts);
            last = dts;
        }
    }
    // From the first picture to the end of the last (25 fps).
    r.seconds = (last - first.unwrap_or(last)) as f64 * tb + 0.04;
    r
}

#[test]
fn bench_counts_agree_with_ffmpeg_reading_the_same_stream() {
    require("ffmpeg");
    const PLAYERS: u64 = 3;
    /// The bench's window; ffmpeg reads `WINDOW_S - 1` seconds of media from the same start, so the bench's
    /// publisher still runs when ffmpeg ends even if ffmpeg started late on a loaded machine.
    const WINDOW_S: u64 = 6;
    const WARMUP_MS: u64 = 1500;
    // 25 fps with a keyframe every 5 pictures: a player's start burst (the GOP cache) is at most 0.2 s of media,
    // so it hardly moves the counts. 44.1 kHz AAC: about 43 frames/s.
    let fixture = make_av_fixture(
        "bench-gop5.flv",
        "320x240",
        10,
        5,
        &[],
        &["-preset", "veryfast", "-b:v", "500k"],
    );
    let server = Server::start("");
    // A stream ends soon after its publisher leaves, so a reader still waiting for media gets the end of it.
    server.cli_ok(&["app", "set", "live", "--republish-grace-ms", "300"]);
    std::thread::sleep(Duration::from_millis(800));
    // Another stream on the same server, audio only: a bench that played the wrong stream counts far fewer bytes.
    let _decoy = ffmpeg_push(&fixture_audio(), &server.rtmp_url("live/decoy"));

    let bench = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mplive"));
        cmd.arg("bench")
            .arg("--url")
            .arg(server.rtmp_url("live/bench"))
            .arg("--fixture")
            .arg(&fixture)
            .args(["--players", &PLAYERS.to_string()])
            .args(["--seconds", &WINDOW_S.to_string()])
            .args(["--warmup-ms", &WARMUP_MS.to_string()])
            .args(["--server-pid", &server.pid().to_string(), "--json"]);
        std::thread::spawn(move || run_with_timeout(&mut cmd, Duration::from_secs(30)))
    };

    // The bench's publisher is up when the stream is; its players start WARMUP_MS later, and so does ffmpeg.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = server.get("/v1/streams/live/bench");
        if status == 200 && body.contains("\"live\"") {
            break;
        }
        assert!(Instant::now() < deadline, "the bench never published");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(WARMUP_MS));
    let (out, timed_out) = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(server.rtmp_url("live/bench"))
            .args(["-t", &(WINDOW_S - 1).to_string()])
            .args(["-map", "0", "-c", "copy", "-f", "framemd5", "-"]),
        Duration::from_secs(20),
    );
    assert!(
        !timed_out && out.status.success(),
        "ffmpeg reading the bench's stream: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ffmpeg = count_packets(&String::from_utf8_lossy(&out.stdout));

    let (out, timed_out) = bench.join().unwrap();
    assert!(
        !timed_out && out.status.success(),
        "mplive bench: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let players = &report["players"];
    assert_eq!(players["requested"], PLAYERS, "{report}");
    assert_eq!(players["ever_playing"], PLAYERS, "{report}");
    assert_eq!(players["playing_at_end"], PLAYERS, "{report}");
    assert_eq!(players["failed"], 0, "{report}");
    assert!(report["publisher"]["error"].is_null(), "{report}");
    let window = report["seconds"].as_f64().unwrap();
    assert!((window - WINDOW_S as f64).abs() < 0.5, "{report}");

    // Per player and second: the bench counts what arrived in its window (the start burst, then live media; the
    // two sequence headers as frames, RTMP chunk headers as bytes), ffmpeg the media it read (no headers), over
    // the seconds of media it spans. The burst (at most 0.2 s of media) and the framing (a few %) keep the two
    // within 15%; counting nothing (0), every frame twice (+100%), or the audio-only decoy (about -30% of the
    // frames, -90% of the bytes) cannot pass.
    assert!(
        (ffmpeg.seconds - (WINDOW_S - 1) as f64).abs() < 0.5,
        "ffmpeg read {:.2} s of media",
        ffmpeg.seconds
    );
    let frames = report["delivered"]["frames"].as_u64().unwrap() as f64 / PLAYERS as f64;
    let bytes = report["delivered"]["bytes"].as_u64().unwrap() as f64 / PLAYERS as f64;
    eprintln!(
        "per player: bench {frames:.0} frames, {bytes:.0} bytes in {window:.2} s; ffmpeg {} packets ({} video), \
         {} bytes in {:.2} s",
        ffmpeg.packets, ffmpeg.video_packets, ffmpeg.bytes, ffmpeg.seconds
    );
    // ffmpeg itself saw the fixture's 25 pictures per second.
    let video_rate = ffmpeg.video_packets as f64 / ffmpeg.seconds;
    assert!(
        (video_rate - 25.0).abs() < 1.5,
        "ffmpeg: {video_rate:.1} pictures/s"
    );
    let frame_ratio = (frames / window) / (ffmpeg.packets as f64 / ffmpeg.seconds);
    let byte_ratio = (bytes / window) / (ffmpeg.bytes as f64 / ffmpeg.seconds);
    assert!(
        (0.85..=1.15).contains(&frame_ratio),
        "bench {frames:.0} frames per player in {window:.2} s, ffmpeg {} in {:.2} s ({frame_ratio:.2}x): {report}",
        ffmpeg.packets,
        ffmpeg.seconds
    );
    assert!(
        (0.85..=1.15).contains(&byte_ratio),
        "bench {bytes:.0} bytes per player in {window:.2} s, ffmpeg {} in {:.2} s ({byte_ratio:.2}x): {report}",
        ffmpeg.bytes,
        ffmpeg.seconds
    );
    // The publisher's own count covers the warmup, the window and the players' stop: more than one player got.
    let published = report["publisher"]["frames"].as_u64().unwrap() as f64;
    assert!(published >= frames, "{report}");
}
