//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong while reading FLV or the codec configurations it carries.
///
/// Every variant names what was being read and carries the numbers that made it fail, so a log line is enough
/// to tell a truncated tag from a hostile length field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FlvError {
    /// The input ended before a structure was complete.
    #[error("truncated {what}: need {need} bytes, got {got}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes the structure needs.
        need: usize,
        /// Bytes that were available.
        got: usize,
    },
    /// The stream does not start with the `FLV` signature, or its version is not 1.
    #[error("bad FLV signature or version: {got:02x?}")]
    BadSignature {
        /// The first four bytes of the stream.
        got: [u8; 4],
    },
    /// A tag's declared data size exceeds the configured bound.
    #[error("FLV tag of {size} bytes exceeds the limit of {max}")]
    TagTooLarge {
        /// Declared data size.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A tag type other than audio (8), video (9) or script (18).
    #[error("unknown FLV tag type {value}")]
    UnknownTagType {
        /// The tag type byte (filter bit masked off).
        value: u8,
    },
    /// The encrypted-content filter bit is set on a tag; we cannot read those.
    #[error("FLV tag type {value} has the filter (encryption) bit set")]
    FilteredTag {
        /// The raw tag type byte.
        value: u8,
    },
    /// The PreviousTagSize after a tag does not match that tag's size.
    #[error("PreviousTagSize mismatch: expected {expected}, got {got}")]
    PreviousTagSizeMismatch {
        /// 11 + data size of the tag just read.
        expected: u32,
        /// The value found in the stream.
        got: u32,
    },
    /// The demuxer already failed; it stays failed.
    #[error("FLV demuxer already failed: {0}")]
    Failed(Box<FlvError>),
    /// A codec configuration record or header field has a value we cannot accept.
    #[error("bad {what}: {detail}")]
    BadConfig {
        /// The structure or field being read.
        what: &'static str,
        /// Why it was refused, with the offending value.
        detail: String,
    },
    /// A packet type or codec id this crate does not read.
    #[error("unsupported {what}: {value}")]
    Unsupported {
        /// What was unsupported (codec id, packet type, ...).
        what: &'static str,
        /// The offending value.
        value: u32,
    },
    /// An Enhanced RTMP FourCC this crate does not know.
    #[error("unsupported {what} FourCC '{}'", .fourcc.escape_ascii())]
    UnsupportedFourCc {
        /// Audio or video.
        what: &'static str,
        /// The FourCC found.
        fourcc: [u8; 4],
    },
    /// An H.264 or H.265 SPS could not be parsed.
    #[error("bad SPS: {0}")]
    Sps(String),
}

/// Checks that `data` holds at least `need` bytes.
pub(crate) fn need(what: &'static str, data: &[u8], need: usize) -> Result<(), FlvError> {
    if data.len() < need {
        Err(FlvError::Truncated {
            what,
            need,
            got: data.len(),
        })
    } else {
        Ok(())
    }
}
