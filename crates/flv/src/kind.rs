//! The media vocabulary every crate shares: what a tag carries ([`MediaKind`]) and what its body is to a reader
//! ([`FrameClass`]: keyframe, sequence header, ...), read from the first bytes of the body.

use crate::audio::AudioTagInfo;
use crate::video::{VideoFrameType, VideoTagInfo};

/// What an FLV tag (or an RTMP media message, or a frame on the hub) carries: audio, video or script data.
///
/// The FLV tag type and the RTMP message type id of the same payload share the values 8, 9 and 18
/// ([`MediaKind::tag_type`]). With the `serde` feature it is written `"audio"`, `"video"`, `"script"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum MediaKind {
    /// Type 8: an audio packet (an FLV audio tag body).
    Audio,
    /// Type 9: a video packet (an FLV video tag body).
    Video,
    /// Type 18: AMF0 script data, in practice `"onMetaData", {...}`.
    Script,
}

impl MediaKind {
    /// Reads a tag type byte; the FLV filter and reserved bits must already be masked off. `None` for other
    /// values.
    pub fn from_tag_type(value: u8) -> Option<Self> {
        match value {
            8 => Some(MediaKind::Audio),
            9 => Some(MediaKind::Video),
            18 => Some(MediaKind::Script),
            _ => None,
        }
    }

    /// The wire value: 8, 9 or 18, the FLV tag type and the RTMP message type id (AMF0 data for script).
    pub fn tag_type(self) -> u8 {
        match self {
            MediaKind::Audio => 8,
            MediaKind::Video => 9,
            MediaKind::Script => 18,
        }
    }
}

impl From<MediaKind> for u8 {
    fn from(kind: MediaKind) -> u8 {
        kind.tag_type()
    }
}

impl TryFrom<u8> for MediaKind {
    /// The value that is not 8, 9 or 18.
    type Error = u8;

    fn try_from(value: u8) -> Result<Self, u8> {
        MediaKind::from_tag_type(value).ok_or(value)
    }
}

/// What a tag body is to a reader, from its header bytes: the one classification behind the hub's keyframe and
/// sequence-header flags, the pusher's queue, the players' first-keyframe and statistics, and the recorders.
///
/// Legacy and Enhanced RTMP headers are read with [`VideoTagInfo`] and [`AudioTagInfo`]: H.264 / H.265 (codec id
/// 7 / 12, or `avc1` / `hvc1`), AV1 and VP9 sequence starts, AAC (and Enhanced RTMP Opus, MP3) configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameClass {
    /// Script data (`onMetaData` and the like); every script body is this, whatever its bytes.
    Script,
    /// A codec configuration: a video decoder configuration record (avcC, hvcC, av1C, vpcC: legacy
    /// AVCPacketType 0 or Enhanced RTMP SequenceStart) or an audio one (AAC AudioSpecificConfig, Enhanced RTMP
    /// SequenceStart).
    SequenceHeader,
    /// A video picture a decoder can start at: frame type Key or GeneratedKey, and neither a sequence header nor
    /// an end of sequence.
    Keyframe,
    /// Another video picture, or an audio frame.
    Frame,
    /// A video packet without a picture: an end of sequence or a command (video info) frame.
    NoPicture,
    /// A header this crate cannot read (truncated, unknown packet type or FourCC, multitrack). A reader that
    /// cannot classify a stream's video should not wait for its keyframes.
    Unknown,
}

impl FrameClass {
    /// Classifies a tag body of `kind`. Never panics; what does not parse is [`FrameClass::Unknown`].
    pub fn of(kind: MediaKind, body: &[u8]) -> FrameClass {
        match kind {
            MediaKind::Script => FrameClass::Script,
            MediaKind::Video => VideoTagInfo::parse(body)
                .map_or(FrameClass::Unknown, |info| FrameClass::of_video(&info)),
            MediaKind::Audio => AudioTagInfo::parse(body)
                .map_or(FrameClass::Unknown, |info| FrameClass::of_audio(&info)),
        }
    }

    /// The class of a video body whose header was already read (for readers that need the header too).
    pub fn of_video(info: &VideoTagInfo) -> FrameClass {
        if info.is_sequence_header {
            FrameClass::SequenceHeader
        } else if info.is_end_of_sequence || info.frame_type == VideoFrameType::Command {
            FrameClass::NoPicture
        } else if info.is_keyframe() {
            FrameClass::Keyframe
        } else {
            FrameClass::Frame
        }
    }

    /// The class of an audio body whose header was already read.
    pub fn of_audio(info: &AudioTagInfo) -> FrameClass {
        if info.is_sequence_header {
            FrameClass::SequenceHeader
        } else {
            FrameClass::Frame
        }
    }

    /// A video picture that starts a GOP.
    pub fn is_keyframe(self) -> bool {
        self == FrameClass::Keyframe
    }

    /// A codec configuration (video or audio); script data is not one.
    pub fn is_sequence_header(self) -> bool {
        self == FrameClass::SequenceHeader
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_wire_values() {
        for k in [MediaKind::Audio, MediaKind::Video, MediaKind::Script] {
            assert_eq!(MediaKind::from_tag_type(k.tag_type()), Some(k));
            assert_eq!(MediaKind::try_from(u8::from(k)), Ok(k));
        }
        assert_eq!(MediaKind::from_tag_type(0), None);
        assert_eq!(MediaKind::from_tag_type(8 | 0x20), None);
        assert_eq!(MediaKind::try_from(15), Err(15));
    }

    #[test]
    fn video_classes() {
        let of = |b: &[u8]| FrameClass::of(MediaKind::Video, b);
        // Legacy AVC: sequence header, keyframe, inter frame, end of sequence (flagged key by ffmpeg).
        assert_eq!(of(&[0x17, 0, 0, 0, 0, 1]), FrameClass::SequenceHeader);
        assert_eq!(of(&[0x17, 1, 0, 0, 0]), FrameClass::Keyframe);
        assert_eq!(of(&[0x27, 1, 0, 0, 0]), FrameClass::Frame);
        assert_eq!(of(&[0x17, 2, 0, 0, 0]), FrameClass::NoPicture);
        // Legacy HEVC (codec id 12) and a generated keyframe.
        assert_eq!(of(&[0x1c, 0, 0, 0, 0]), FrameClass::SequenceHeader);
        assert_eq!(of(&[0x4c, 1, 0, 0, 0]), FrameClass::Keyframe);
        // A command frame carries no picture.
        assert_eq!(of(&[0x57, 0]), FrameClass::NoPicture);
        // Enhanced RTMP hvc1: SequenceStart, CodedFramesX key and inter.
        assert_eq!(of(b"\x90hvc1\x01"), FrameClass::SequenceHeader);
        assert_eq!(of(b"\x93hvc1"), FrameClass::Keyframe);
        assert_eq!(of(b"\xa3hvc1"), FrameClass::Frame);
        // Truncated, unknown FourCC, nothing.
        assert_eq!(of(&[0x17, 1]), FrameClass::Unknown);
        assert_eq!(of(b"\x90xxxx"), FrameClass::Unknown);
        assert_eq!(of(&[]), FrameClass::Unknown);
        // Other legacy codecs have keyframes too.
        assert_eq!(of(&[0x12, 0xaa]), FrameClass::Keyframe);
    }

    #[test]
    fn audio_and_script_classes() {
        let of = |b: &[u8]| FrameClass::of(MediaKind::Audio, b);
        assert_eq!(of(&[0xaf, 0, 0x12, 0x10]), FrameClass::SequenceHeader);
        assert_eq!(of(&[0xaf, 1, 0x21]), FrameClass::Frame);
        assert_eq!(of(b"\x90mp4a"), FrameClass::SequenceHeader);
        assert_eq!(of(b"\x91Opus\x00"), FrameClass::Frame);
        assert_eq!(of(&[0x2f, 1]), FrameClass::Frame);
        assert_eq!(of(&[0xaf]), FrameClass::Unknown);
        assert_eq!(of(&[]), FrameClass::Unknown);
        assert_eq!(
            FrameClass::of(MediaKind::Script, b"anything"),
            FrameClass::Script
        );
        assert!(FrameClass::Keyframe.is_keyframe() && !FrameClass::Frame.is_keyframe());
        assert!(FrameClass::SequenceHeader.is_sequence_header());
        assert!(!FrameClass::Script.is_sequence_header());
    }
}
