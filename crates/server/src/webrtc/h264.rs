//! H.264 from FLV video tags to what str0m's RTP packetizer (RFC 6184) takes: one access unit in Annex B (start
//! codes), built once per frame and shared by every WebRTC viewer of the stream as an `Arc<[u8]>`.
//!
//! FLV carries length-prefixed NAL units (AVCC) and the SPS/PPS once, in the sequence header (avcC). A browser
//! joining mid-stream needs them before each keyframe, so every keyframe access unit is built as
//! SPS + PPS + the frame's own NAL units: the packetizer sends SPS and PPS as one STAP-A ahead of the IDR.

use std::sync::Arc;

use flv::avc::{nal_units, AvcDecoderConfig};
use flv::video::{VideoCodec, VideoTagInfo};

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// NAL unit types the packetizer drops anyway, left out here: access unit delimiter (9), filler data (12).
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// Why a video tag cannot be sent over WebRTC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum VideoError {
    /// The tag header or its NAL units do not parse.
    #[error("malformed H.264 tag: {0}")]
    Malformed(String),
    /// Not H.264: browsers' WebRTC stacks take H.264 (and VP8/VP9/AV1, which FLV publishers do not send).
    #[error("video codec {0:?} cannot be sent over WebRTC without transcoding (only H.264 is passed through)")]
    Codec(VideoCodec),
    /// A picture arrived before any sequence header.
    #[error("a picture before the AVC sequence header")]
    NoConfig,
}

/// One access unit ready for the packetizer.
#[derive(Debug, Clone)]
pub(crate) struct AccessUnit {
    /// Annex B NAL units.
    pub(crate) data: Arc<[u8]>,
    /// Starts a GOP (an IDR, with SPS and PPS in front).
    pub(crate) keyframe: bool,
    /// Composition time offset (PTS - DTS) in ms, non-zero with B-frames.
    pub(crate) composition_ms: i32,
}

/// The H.264 state of one stream: the parameter sets of its last sequence header.
#[derive(Debug, Default, Clone)]
pub(crate) struct Annexb {
    config: Option<AvcDecoderConfig>,
}

/// What one video tag turned into.
#[derive(Debug, Clone)]
pub(crate) enum Video {
    /// A new sequence header was taken; nothing to send.
    Config,
    /// A picture to send.
    Picture(AccessUnit),
    /// Nothing to send (end of sequence, a command frame, a tag with no picture NAL units).
    Nothing,
}

impl Annexb {
    /// Reads one FLV video tag body. Never panics on malformed input.
    pub(crate) fn push(&mut self, body: &[u8]) -> Result<Video, VideoError> {
        let info = VideoTagInfo::parse(body).map_err(|e| VideoError::Malformed(e.to_string()))?;
        if info.is_end_of_sequence {
            return Ok(Video::Nothing);
        }
        if info.codec != VideoCodec::Avc {
            return match info.codec {
                VideoCodec::Other(0) => Ok(Video::Nothing), // an Enhanced RTMP command frame
                codec => Err(VideoError::Codec(codec)),
            };
        }
        let payload = body.get(info.header_len..).unwrap_or_default();
        if info.is_sequence_header {
            let config = AvcDecoderConfig::parse(payload)
                .map_err(|e| VideoError::Malformed(e.to_string()))?;
            self.config = Some(config);
            return Ok(Video::Config);
        }
        let Some(config) = &self.config else {
            return Err(VideoError::NoConfig);
        };
        let mut keyframe = false;
        let mut has_picture = false;
        let mut out = Vec::with_capacity(payload.len() + 64);
        for nal in nal_units(payload, config.nalu_length_size) {
            let nal = nal.map_err(|e| VideoError::Malformed(e.to_string()))?;
            let Some(&head) = nal.first() else { continue };
            match head & 0x1F {
                NAL_AUD | NAL_FILLER => continue,
                // In-band parameter sets are dropped: the ones of the sequence header go in front of the IDR.
                NAL_SPS | NAL_PPS => continue,
                5 => keyframe = true,
                _ => {}
            }
            has_picture = true;
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        if !has_picture {
            return Ok(Video::Nothing);
        }
        if keyframe {
            let mut with_sets = Vec::with_capacity(out.len() + 128);
            for set in config.sps.iter().chain(config.pps.iter()) {
                with_sets.extend_from_slice(&START_CODE);
                with_sets.extend_from_slice(set);
            }
            with_sets.extend_from_slice(&out);
            out = with_sets;
        }
        Ok(Video::Picture(AccessUnit {
            data: out.into(),
            keyframe,
            composition_ms: info.composition_time,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_tag() -> Vec<u8> {
        let sps = [0x67, 0x42, 0xc0, 0x1e, 0xab];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut tag = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 5];
        tag.extend_from_slice(&sps);
        tag.extend_from_slice(&[1, 0, 4]);
        tag.extend_from_slice(&pps);
        tag
    }

    fn picture_tag(key: bool, cts: u8, nals: &[&[u8]]) -> Vec<u8> {
        let mut tag = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, cts];
        for nal in nals {
            tag.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            tag.extend_from_slice(nal);
        }
        tag
    }

    #[test]
    fn keyframes_carry_the_parameter_sets_in_front() {
        let mut h = Annexb::default();
        assert!(matches!(h.push(&config_tag()), Ok(Video::Config)));
        let Ok(Video::Picture(au)) =
            h.push(&picture_tag(true, 40, &[&[0x09, 0xf0], &[0x65, 1, 2]]))
        else {
            panic!("a picture");
        };
        assert!(au.keyframe);
        assert_eq!(au.composition_ms, 40);
        assert_eq!(
            &au.data[..],
            &[
                0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xab, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0,
                0, 1, 0x65, 1, 2
            ]
        );
        let Ok(Video::Picture(au)) = h.push(&picture_tag(false, 0, &[&[0x41, 7]])) else {
            panic!("a picture");
        };
        assert!(!au.keyframe);
        assert_eq!(&au.data[..], &[0, 0, 0, 1, 0x41, 7]);
    }

    #[test]
    fn malformed_and_unsupported_input_is_an_error() {
        let mut h = Annexb::default();
        assert_eq!(
            h.push(&picture_tag(false, 0, &[&[0x41]])).unwrap_err(),
            VideoError::NoConfig
        );
        assert!(matches!(h.push(&[]), Err(VideoError::Malformed(_))));
        assert!(matches!(
            h.push(&[0x1c, 0, 0, 0, 0]),
            Err(VideoError::Codec(VideoCodec::Hevc))
        ));
        h.push(&config_tag()).unwrap();
        // A length prefix running past the end.
        assert!(matches!(
            h.push(&[0x27, 1, 0, 0, 0, 0, 0, 0, 9, 0x41]),
            Err(VideoError::Malformed(_))
        ));
        // Only a delimiter: nothing to send.
        assert!(matches!(
            h.push(&picture_tag(false, 0, &[&[0x09, 0xf0]])),
            Ok(Video::Nothing)
        ));
    }

    #[test]
    fn never_panics_on_arbitrary_tags() {
        let mut h = Annexb::default();
        h.push(&config_tag()).unwrap();
        let mut x: u32 = 12345;
        for len in 0..400usize {
            let tag: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = h.push(&tag);
        }
    }
}
