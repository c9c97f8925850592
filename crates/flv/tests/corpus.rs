//! Replays every file of fuzz/corpus/flv_*/ through the same checks as the fuzz targets in
//! fuzz/fuzz_targets/flv_*.rs, so CI exercises the corpus on stable without cargo-fuzz.
//! Keep the three `run_*` functions in step with the fuzz targets.

use std::path::PathBuf;

use flv::aac::{adts_header, AudioSpecificConfig};
use flv::audio::{AudioTagInfo, SoundFormat};
use flv::avc::{nal_units, parse_sps, AvcDecoderConfig};
use flv::hevc::{parse_hevc_sps, HevcDecoderConfig};
use flv::sei::{extract_sei, extract_sei_for, SeiCodec};
use flv::video::{VideoCodec, VideoTagInfo};
use flv::{FlvDemuxer, Tag, TagType};

const MAX_TAG: usize = 1 << 20;

fn check_tag(tag: &Tag) {
    assert!(tag.body.len() <= MAX_TAG);
    match tag.tag_type {
        TagType::Video => {
            if let Ok(v) = VideoTagInfo::parse(&tag.body) {
                let payload = &tag.body[v.header_len..];
                if v.codec == VideoCodec::Avc && v.is_sequence_header {
                    if let Ok(c) = AvcDecoderConfig::parse(payload) {
                        let _ = c.sps_info();
                    }
                } else if v.codec == VideoCodec::Avc {
                    let _ = extract_sei(payload, 4);
                }
            }
        }
        TagType::Audio => {
            if let Ok(a) = AudioTagInfo::parse(&tag.body) {
                if a.format == SoundFormat::Aac && a.is_sequence_header {
                    let _ = AudioSpecificConfig::parse(&tag.body[a.header_len..]);
                }
            }
        }
        TagType::Script => {}
    }
}

/// Returns the number of tags the plain demuxer yielded.
fn run_tag(data: &[u8]) -> usize {
    let (a, b) = data.split_at(data.len() / 2);
    let mut whole = FlvDemuxer::new(MAX_TAG);
    let mut split = FlvDemuxer::new(MAX_TAG);
    let r_whole = whole.handle_input(data);
    let r_split = split.handle_input(a).and_then(|()| split.handle_input(b));
    assert_eq!(r_whole.is_ok(), r_split.is_ok());
    let mut n = 0;
    while let Some(tag) = whole.poll_tag() {
        assert_eq!(Some(&tag), split.poll_tag().as_ref());
        check_tag(&tag);
        n += 1;
    }
    assert!(split.poll_tag().is_none());

    let mut bare = FlvDemuxer::without_file_header(MAX_TAG).skip_unknown(true);
    let _ = bare.handle_input(data);
    while let Some(tag) = bare.poll_tag() {
        check_tag(&tag);
    }
    n
}

fn run_avc(data: &[u8]) {
    if let Ok(c) = AvcDecoderConfig::parse(data) {
        let _ = c.sps_info();
        assert_eq!(AvcDecoderConfig::parse(&c.encode()).as_ref(), Ok(&c));
    }
    if let Ok(c) = HevcDecoderConfig::parse(data) {
        let _ = c.sps_info();
    }
    let _ = parse_sps(data);
    let _ = parse_hevc_sps(data);
    for nal in nal_units(data, 4).flatten() {
        let _ = parse_sps(nal);
        let _ = parse_hevc_sps(nal);
    }
    let _ = extract_sei(data, 4);
    let _ = extract_sei_for(SeiCodec::Hevc, data, 4);
}

fn run_aac(data: &[u8]) {
    if let Ok(c) = AudioSpecificConfig::parse(data) {
        let h = adts_header(&c, data.len());
        assert_eq!(&h[..2], &[0xFF, 0xF1]);
    }
    if let Ok(a) = AudioTagInfo::parse(data) {
        assert!(a.header_len <= data.len());
        let _ = AudioSpecificConfig::parse(&data[a.header_len..]);
    }
}

/// Every regular file of fuzz/corpus/<target>/ (and fuzz/artifacts/<target>/ if present), with its name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in [
        fuzz.join("corpus").join(target),
        fuzz.join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn replay_flv_tag() {
    let files = corpus("flv_tag");
    assert!(!files.is_empty(), "fuzz/corpus/flv_tag is empty");
    for (name, data) in &files {
        let n = run_tag(data);
        if name.ends_with("ffmpeg_540x960_head") {
            // Script, AVC sequence header, AAC sequence header, then frames.
            assert_eq!(n, 6, "{name}");
        }
    }
}

#[test]
fn replay_flv_avc() {
    let files = corpus("flv_avc");
    assert!(!files.is_empty(), "fuzz/corpus/flv_avc is empty");
    for (name, data) in &files {
        run_avc(data);
        if name.contains("avcc_540x960") {
            let i = AvcDecoderConfig::parse(data).unwrap().sps_info().unwrap();
            assert_eq!((i.width, i.height), (540, 960), "{name}");
        }
    }
}

#[test]
fn replay_flv_aac() {
    let files = corpus("flv_aac");
    assert!(!files.is_empty(), "fuzz/corpus/flv_aac is empty");
    for (_, data) in &files {
        run_aac(data);
    }
}
