//! FLV and the codec configurations it carries, as pure functions over bytes.
//!
//! This crate reads and writes the FLV container (file header, tags, PreviousTagSize) and parses what the
//! audio and video tags carry: the video/audio tag headers (legacy and Enhanced RTMP), the H.264
//! AVCDecoderConfigurationRecord and SPS (picture size, profile, level, frame rate), the H.265
//! HEVCDecoderConfigurationRecord and the picture size of its SPS, the AAC AudioSpecificConfig (and ADTS headers
//! for MPEG-TS), and SEI messages (extraction, and building a user_data_unregistered SEI for in-band messages).
//! RTMP audio/video message payloads are FLV tag bodies, so the same parsers serve RTMP.
//!
//! # I/O and clock
//!
//! None. Bytes in, values out; [`FlvDemuxer`] is sans-IO (feed it bytes with `handle_input`, take tags with
//! `poll_tag`). No clock is read: timestamps are the ones in the stream.
//!
//! # Entry types
//!
//! - [`MediaKind`]: audio, video or script data, the one media kind of the workspace (FLV tag type, RTMP
//!   message type, hub frame kind); [`FrameClass::of`]: keyframe, sequence header, ... from a body's header.
//! - [`tag`]: [`encode_header`], [`encode_tag`], [`FlvDemuxer`] and [`Tag`].
//! - [`script`]: `@setDataFrame` added and stripped, metadata recognised.
//! - [`video::VideoTagInfo`] and [`audio::AudioTagInfo`]: what a tag body's first bytes say.
//! - [`avc::AvcDecoderConfig`], [`avc::parse_sps`], [`avc::nal_units`]; [`hevc::HevcDecoderConfig`].
//! - [`aac::AudioSpecificConfig`], [`aac::adts_header`].
//! - [`sei::extract_sei`], [`sei::build_sei_nalu`].
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use flv::{encode_header, encode_tag, FlvDemuxer, FrameClass, MediaKind};
//! use flv::video::VideoTagInfo;
//!
//! let mut file = BytesMut::from(&encode_header(false, true)[..]);
//! encode_tag(&mut file, MediaKind::Video, 40, &[0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65]);
//!
//! let mut demuxer = FlvDemuxer::new(1 << 20);
//! demuxer.handle_input(&file)?;
//! let tag = demuxer.poll_tag().expect("one complete tag");
//! assert_eq!((tag.tag_type, tag.timestamp), (MediaKind::Video, 40));
//! let info = VideoTagInfo::parse(&tag.body)?;
//! assert!(info.is_keyframe() && !info.is_sequence_header);
//! assert_eq!(FrameClass::of(tag.tag_type, &tag.body), FrameClass::Keyframe);
//! # Ok::<(), flv::FlvError>(())
//! ```
//!
//! # Errors and panics
//!
//! Every parser returns [`FlvError`] on malformed, truncated or oversized input: it names what was being read
//! and carries the offending numbers. Parsers never panic on input and never allocate from a length field
//! before checking it against the bytes present or a configured bound ([`FlvDemuxer::new`]'s `max_tag_size`).
//! The only panics are documented misuse of the encoders with values peer input cannot produce (an FLV body
//! over 16 MiB, an SEI message over 64 KiB).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod aac;
pub mod audio;
pub mod avc;
mod bits;
mod error;
mod exheader;
#[doc(hidden)]
pub mod fuzzing;
pub mod hevc;
mod kind;
pub mod script;
pub mod sei;
pub mod sps_vui;
pub mod tag;
pub mod video;

pub use error::FlvError;
pub use kind::{FrameClass, MediaKind};
pub use tag::{
    encode_header, encode_tag, FlvDemuxer, FlvHeader, Tag, FILE_HEADER_LEN, MAX_TAG_BODY,
    TAG_HEADER_LEN, TAG_OVERHEAD,
};
