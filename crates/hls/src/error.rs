//! Why a frame could not be put into a segment.

use thiserror::Error;

/// A frame the segmenter skipped. The segmenter stays usable: later frames are handled as usual.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HlsError {
    /// A video tag or its AVC data could not be read.
    #[error("video frame skipped: {0}")]
    Video(#[source] flv::FlvError),
    /// An audio tag or its AudioSpecificConfig could not be read.
    #[error("audio frame skipped: {0}")]
    Audio(#[source] flv::FlvError),
    /// The codec cannot go into classic HLS (MPEG-TS with H.264 and AAC).
    #[error("{kind} codec {codec} is not supported by HLS (MPEG-TS carries H.264 and AAC here); frame skipped")]
    UnsupportedCodec {
        /// `video` or `audio`.
        kind: &'static str,
        /// The codec, as the FLV header names it.
        codec: String,
    },
    /// A picture or AAC frame arrived before its sequence header.
    #[error("{kind} frame before its sequence header; frame skipped")]
    NoSequenceHeader {
        /// `video` or `audio`.
        kind: &'static str,
    },
    /// The fMP4 muxer of low-latency HLS refused the frame.
    #[error("LL-HLS frame skipped: {0}")]
    Mp4(#[source] mp4::Mp4Error),
    /// An AAC frame longer than an ADTS header can describe.
    #[error("AAC frame of {len} bytes is too long for ADTS (at most 8184); frame skipped")]
    AacFrameTooLong {
        /// The raw frame's length.
        len: usize,
    },
}
