//! FlvDemuxer over arbitrary bytes (whole, then in two halves; with and without the file header), then the
//! audio/video tag header parsers and the codec parsers on every tag it yields.
//! Mirrored by crates/flv/tests/corpus.rs, which replays fuzz/corpus/flv_tag/ on stable.
#![no_main]

use flv::aac::AudioSpecificConfig;
use flv::audio::{AudioTagInfo, SoundFormat};
use flv::avc::AvcDecoderConfig;
use flv::sei::extract_sei;
use flv::video::{VideoCodec, VideoTagInfo};
use flv::{FlvDemuxer, Tag, TagType};
use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|data: &[u8]| {
    let (a, b) = data.split_at(data.len() / 2);
    let mut whole = FlvDemuxer::new(MAX_TAG);
    let mut split = FlvDemuxer::new(MAX_TAG);
    let r_whole = whole.handle_input(data);
    let r_split = split.handle_input(a).and_then(|()| split.handle_input(b));
    // Splitting the input never changes the outcome.
    assert_eq!(r_whole.is_ok(), r_split.is_ok());
    while let Some(tag) = whole.poll_tag() {
        assert_eq!(Some(&tag), split.poll_tag().as_ref());
        check_tag(&tag);
    }
    assert!(split.poll_tag().is_none());

    let mut bare = FlvDemuxer::without_file_header(MAX_TAG).skip_unknown(true);
    let _ = bare.handle_input(data);
    while let Some(tag) = bare.poll_tag() {
        check_tag(&tag);
    }
});
