//! What a source tag is to the pusher (header, keyframe, ...), and the payload rewrite it needs: an SEI message
//! inserted into an H.264 access unit (metadata goes out as `@setDataFrame` with `flv::script`).

use bytes::{BufMut, Bytes, BytesMut};
use flv::avc::{nal_units, AvcDecoderConfig};
use flv::hevc::HevcDecoderConfig;
use flv::video::{VideoCodec, VideoTagInfo};
use flv::{script, FrameClass, MediaKind};

/// The UUID of the user_data_unregistered SEI messages that carry
/// [`PublisherHandle::send_message`](super::PublisherHandle::send_message) text; a player looks for it.
pub const MESSAGE_SEI_UUID: [u8; 16] = [
    0x6d, 0x70, 0x6c, 0x69, 0x76, 0x65, 0x4d, 0x53, 0xa1, 0x3c, 0x4e, 0x0b, 0x9d, 0x52, 0x7f, 0x18,
];

/// What a tag is to the pusher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// onMetaData.
    Metadata,
    /// Another script tag: sent as it is.
    Data,
    AudioHeader,
    Audio,
    VideoHeader,
    /// A video keyframe (a decoder can start here).
    VideoKey,
    /// Any other video frame.
    VideoInter,
}

impl Class {
    /// Reads the first bytes of a tag body ([`FrameClass::of`]). Bodies the parsers refuse are sent as plain
    /// frames; a video packet without a picture (end of sequence) is not a keyframe.
    pub(crate) fn of(kind: MediaKind, body: &[u8]) -> Class {
        match (kind, FrameClass::of(kind, body)) {
            (MediaKind::Script, _) if script::is_metadata(body) => Class::Metadata,
            (MediaKind::Script, _) => Class::Data,
            (MediaKind::Audio, FrameClass::SequenceHeader) => Class::AudioHeader,
            (MediaKind::Audio, _) => Class::Audio,
            (MediaKind::Video, FrameClass::SequenceHeader) => Class::VideoHeader,
            (MediaKind::Video, FrameClass::Keyframe) => Class::VideoKey,
            (MediaKind::Video, _) => Class::VideoInter,
        }
    }

    /// A frame of video the decoder needs in order: losing one breaks the pictures up to the next keyframe.
    pub(crate) fn is_video_frame(self) -> bool {
        matches!(self, Class::VideoKey | Class::VideoInter)
    }
}

/// An `onMetaData` with an empty ECMA array: what a paused push re-sends when its source had no metadata.
pub(crate) fn empty_metadata() -> Bytes {
    Bytes::from_static(b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09")
}

/// Picture size and NAL length size from a video sequence header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct VideoConfig {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// NAL length size of H.264 frames; `None` for other codecs (no SEI messages then).
    pub(crate) avc_nalu_length_size: Option<u8>,
}

impl VideoConfig {
    /// Reads an H.264 or H.265 sequence header; `None` for what cannot be read.
    pub(crate) fn from_header(body: &[u8]) -> Option<VideoConfig> {
        let info = VideoTagInfo::parse(body).ok()?;
        let record = body.get(info.header_len..)?;
        match info.codec {
            VideoCodec::Avc => {
                let config = AvcDecoderConfig::parse(record).ok()?;
                let sps = config.sps_info().ok();
                Some(VideoConfig {
                    width: sps.map_or(0, |s| s.width),
                    height: sps.map_or(0, |s| s.height),
                    // SEI insertion rewrites legacy (codec id 7) frames only: a 5-byte header, then NAL units.
                    avc_nalu_length_size: (info.header_len == 5).then_some(config.nalu_length_size),
                })
            }
            VideoCodec::Hevc => {
                let sps = HevcDecoderConfig::parse(record).ok()?.sps_info().ok()?;
                Some(VideoConfig {
                    width: sps.width,
                    height: sps.height,
                    avc_nalu_length_size: None,
                })
            }
            _ => None,
        }
    }
}

/// A legacy H.264 video frame with an SEI NAL unit carrying `message` placed before its first slice (after any
/// access unit delimiter, SPS and PPS, as H.264 orders an access unit). `None` when the frame's NAL units cannot be
/// read or the SEI does not fit the NAL length size.
pub(crate) fn with_sei(frame: &[u8], nalu_length_size: u8, message: &[u8]) -> Option<Bytes> {
    let nalus = frame.get(5..)?;
    let sei = flv::sei::build_sei_nalu(MESSAGE_SEI_UUID, message);
    // build_sei_nalu prefixes 4 length bytes; re-prefix for the stream's size.
    let sei_nal = sei.get(4..)?;
    let size = usize::from(nalu_length_size);
    if size < 4 && sei_nal.len() >= 1 << (8 * size) {
        return None;
    }
    let mut at = 0;
    for nal in nal_units(nalus, nalu_length_size) {
        let nal = nal.ok()?;
        // Types 1..=5 are slices: the SEI goes before the first one.
        if nal.first().is_some_and(|b| (1..=5).contains(&(b & 0x1F))) {
            break;
        }
        at += size + nal.len();
    }
    let (before, after) = (frame.get(..5 + at)?, frame.get(5 + at..)?);
    let mut out = BytesMut::with_capacity(frame.len() + size + sei_nal.len());
    out.put_slice(before);
    out.put_slice(&(sei_nal.len() as u32).to_be_bytes()[4 - size..]);
    out.put_slice(sei_nal);
    out.put_slice(after);
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use flv::sei::extract_sei;

    use super::*;

    fn frame(nals: &[&[u8]], len_size: usize) -> Vec<u8> {
        let mut f = vec![0x27, 0x01, 0, 0, 0];
        for n in nals {
            f.extend_from_slice(&(n.len() as u32).to_be_bytes()[4 - len_size..]);
            f.extend_from_slice(n);
        }
        f
    }

    #[test]
    fn sei_goes_after_the_delimiter_and_before_the_first_slice() {
        for len_size in [4usize, 2, 1] {
            let f = frame(&[&[0x09, 0xf0], &[0x65, 1, 2, 3], &[0x41, 4]], len_size);
            let out = with_sei(&f, len_size as u8, b"hello").unwrap();
            let nals: Vec<u8> = nal_units(&out[5..], len_size as u8)
                .map(|n| n.unwrap()[0] & 0x1F)
                .collect();
            assert_eq!(nals, [9, 6, 5, 1], "length size {len_size}");
            let msgs = extract_sei(&out[5..], len_size as u8).unwrap();
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].uuid, Some(MESSAGE_SEI_UUID));
            assert_eq!(&msgs[0].data[..], b"hello");
        }
        let long = vec![b'x'; 300];
        assert!(
            with_sei(&frame(&[&[0x65]], 1), 1, &long).is_none(),
            "too long for 1-byte lengths"
        );
        assert!(
            with_sei(&[0x27, 1, 0, 0, 0, 0, 0, 0, 9], 4, b"x").is_none(),
            "truncated"
        );
    }

    #[test]
    fn classes_and_metadata() {
        let meta = b"\x02\x00\x0aonMetaData\x08\0\0\0\0\0\0\x09";
        assert_eq!(Class::of(MediaKind::Script, meta), Class::Metadata);
        assert_eq!(Class::of(MediaKind::Script, b"\x02\x00\x02hi"), Class::Data);
        assert_eq!(
            Class::of(MediaKind::Video, &[0x17, 0, 0, 0, 0, 1]),
            Class::VideoHeader
        );
        assert_eq!(
            Class::of(MediaKind::Video, &[0x17, 1, 0, 0, 0]),
            Class::VideoKey
        );
        assert_eq!(
            Class::of(MediaKind::Video, &[0x27, 1, 0, 0, 0]),
            Class::VideoInter
        );
        assert_eq!(
            Class::of(MediaKind::Video, &[0x17, 2, 0, 0, 0]),
            Class::VideoInter,
            "an end of sequence is no keyframe"
        );
        assert_eq!(
            Class::of(MediaKind::Audio, &[0xaf, 0, 0x12, 0x10]),
            Class::AudioHeader
        );
        assert_eq!(Class::of(MediaKind::Audio, &[0xaf, 1, 9]), Class::Audio);
        let wrapped = script::add_set_data_frame(meta);
        assert_eq!(Class::of(MediaKind::Script, &wrapped), Class::Metadata);
        assert_eq!(
            Class::of(MediaKind::Script, &empty_metadata()),
            Class::Metadata
        );
    }
}
