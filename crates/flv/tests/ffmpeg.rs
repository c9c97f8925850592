//! Interop with a real encoder: ffmpeg writes an FLV (x264 + AAC), we demux and parse it. Needs ffmpeg: without
//! it the test fails when peers are required (./scripts/test), else it is skipped and counted.

#[path = "../../../tests/peers.rs"]
mod peers;

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::BytesMut;
use flv::aac::{adts_header, AudioSpecificConfig};
use flv::audio::{AudioTagInfo, SoundFormat};
use flv::avc::AvcDecoderConfig;
use flv::sei::extract_sei;
use flv::video::{VideoCodec, VideoTagInfo};
use flv::{encode_header, encode_tag, FlvDemuxer, MediaKind, Tag};

const X264_SEI_UUID: [u8; 16] = [
    0xdc, 0x45, 0xe9, 0xbd, 0xe6, 0xd9, 0x48, 0xb7, 0x96, 0x2c, 0xd8, 0x20, 0xd9, 0x23, 0xee, 0xef,
];

fn ffmpeg_available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mplive-flv-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn demux_file(path: &Path) -> (Vec<Tag>, flv::FlvHeader) {
    let data = std::fs::read(path).unwrap();
    let mut d = FlvDemuxer::new(4 << 20);
    let mut tags = Vec::new();
    // Odd-sized reads, as from a socket.
    for chunk in data.chunks(1317) {
        d.handle_input(chunk).unwrap();
        tags.extend(std::iter::from_fn(|| d.poll_tag()));
    }
    assert_eq!(d.buffered_len(), 0);
    (tags, d.header().unwrap())
}

#[test]
fn ffmpeg_x264_aac_flv() {
    if !ffmpeg_available() {
        peers::skip_for_missing_peer("ffmpeg_x264_aac_flv", "ffmpeg", None);
        return;
    }
    let dir = TempDir::new("ffmpeg");
    let flv_path = dir.path("out.flv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=540x960:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-f",
        "flv",
        &flv_path,
    ]);
    let (tags, header) = demux_file(Path::new(&flv_path));
    assert!(header.has_audio && header.has_video);
    assert_eq!(tags[0].tag_type, MediaKind::Script);

    // Video: sequence header first, 540x960 at 25 fps, keyframes every 25 frames, x264's SEI in frame 0.
    let video: Vec<&Tag> = tags
        .iter()
        .filter(|t| t.tag_type == MediaKind::Video)
        .collect();
    let first = VideoTagInfo::parse(&video[0].body).unwrap();
    assert_eq!(first.codec, VideoCodec::Avc);
    assert!(first.is_sequence_header);
    let avcc = AvcDecoderConfig::parse(&video[0].body[first.header_len..]).unwrap();
    let sps = avcc.sps_info().unwrap();
    assert_eq!((sps.width, sps.height, sps.fps), (540, 960, Some(25.0)));

    let mut keyframes = Vec::new();
    let mut frames = 0;
    for (i, tag) in video[1..].iter().enumerate() {
        let v = VideoTagInfo::parse(&tag.body).unwrap();
        if v.is_end_of_sequence {
            continue;
        }
        assert!(!v.is_sequence_header);
        assert!(v.composition_time >= 0);
        assert_eq!(tag.timestamp, i as u32 * 40, "frame {i}");
        if v.is_keyframe() {
            keyframes.push(i);
        }
        if i == 0 {
            let sei = extract_sei(&tag.body[v.header_len..], avcc.nalu_length_size).unwrap();
            assert!(sei.iter().any(|m| m.uuid == Some(X264_SEI_UUID)), "{sei:?}");
        }
        frames += 1;
    }
    assert_eq!(frames, 50);
    assert_eq!(keyframes, [0, 25]);

    // Audio: AAC sequence header first, 44100 Hz mono (lavfi sine's default).
    let audio: Vec<&Tag> = tags
        .iter()
        .filter(|t| t.tag_type == MediaKind::Audio)
        .collect();
    let first = AudioTagInfo::parse(&audio[0].body).unwrap();
    assert_eq!(first.format, SoundFormat::Aac);
    assert!(first.is_sequence_header);
    let asc = AudioSpecificConfig::parse(&audio[0].body[first.header_len..]).unwrap();
    assert_eq!(
        (asc.object_type, asc.sample_rate, asc.channels),
        (2, 44100, 1)
    );

    // Our ADTS framing of the raw AAC tags is byte-identical to ffmpeg's ADTS muxer.
    let adts_path = dir.path("out.aac");
    ffmpeg(&[
        "-i", &flv_path, "-vn", "-c:a", "copy", "-f", "adts", &adts_path,
    ]);
    let mut ours = Vec::new();
    for tag in &audio[1..] {
        let a = AudioTagInfo::parse(&tag.body).unwrap();
        assert!(!a.is_sequence_header);
        let payload = &tag.body[a.header_len..];
        ours.extend_from_slice(&adts_header(&asc, payload.len()));
        ours.extend_from_slice(payload);
    }
    assert_eq!(ours, std::fs::read(&adts_path).unwrap());

    // Re-encoding every tag gives back ffmpeg's file byte for byte.
    let mut again = BytesMut::from(&encode_header(header.has_audio, header.has_video)[..]);
    for tag in &tags {
        encode_tag(&mut again, tag.tag_type, tag.timestamp, &tag.body);
    }
    assert_eq!(&again[..], &std::fs::read(&flv_path).unwrap()[..]);
}
