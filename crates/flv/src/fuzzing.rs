//! The checks the fuzz targets run, shared with the corpus replay in `tests/corpus.rs` so that CI replays the
//! corpus on stable through exactly the same code. Not part of the API: they panic when an invariant breaks,
//! which is what a fuzzer looks for.

use crate::aac::{adts_header, AudioSpecificConfig};
use crate::audio::{AudioTagInfo, SoundFormat};
use crate::avc::{nal_units, parse_sps, AvcDecoderConfig};
use crate::hevc::{parse_hevc_sps, HevcDecoderConfig};
use crate::sei::{extract_sei, extract_sei_for, SeiCodec};
use crate::video::{VideoCodec, VideoTagInfo};
use crate::{FlvDemuxer, MediaKind, Tag};

const MAX_TAG: usize = 1 << 20;

fn check_tag(tag: &Tag) {
    assert!(tag.body.len() <= MAX_TAG);
    match tag.tag_type {
        MediaKind::Video => {
            if let Ok(v) = VideoTagInfo::parse(&tag.body) {
                let payload = tag.body.get(v.header_len..).unwrap_or_default();
                if v.codec == VideoCodec::Avc && v.is_sequence_header {
                    if let Ok(c) = AvcDecoderConfig::parse(payload) {
                        let _ = c.sps_info();
                    }
                } else if v.codec == VideoCodec::Avc {
                    let _ = extract_sei(payload, 4);
                }
            }
        }
        MediaKind::Audio => {
            if let Ok(a) = AudioTagInfo::parse(&tag.body) {
                if a.format == SoundFormat::Aac && a.is_sequence_header {
                    let _ = AudioSpecificConfig::parse(
                        tag.body.get(a.header_len..).unwrap_or_default(),
                    );
                }
            }
        }
        MediaKind::Script => {}
    }
}

/// The demuxer (whole, in two halves, without file header) and every tag's parsers. Returns the number of tags
/// the plain demuxer yielded.
pub fn tag(data: &[u8]) -> usize {
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

/// Codec configuration, SPS and SEI parsers over arbitrary bytes.
pub fn avc(data: &[u8]) {
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

/// AudioSpecificConfig, ADTS header and audio tag header over arbitrary bytes.
pub fn aac(data: &[u8]) {
    if let Ok(c) = AudioSpecificConfig::parse(data) {
        let h = adts_header(&c, data.len());
        assert_eq!(&h[..2], &[0xFF, 0xF1]);
    }
    if let Ok(a) = AudioTagInfo::parse(data) {
        assert!(a.header_len <= data.len());
        let _ = AudioSpecificConfig::parse(data.get(a.header_len..).unwrap_or_default());
    }
}
