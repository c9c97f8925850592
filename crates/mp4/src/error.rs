//! The crate's error types: [`Mp4Error`] for the muxer, [`RecordError`] for the recorders that also write.

use std::io;

use flv::FlvError;
use thiserror::Error;

/// Everything the muxer can refuse.
///
/// Bad input (a malformed sequence header, a codec fMP4 cannot carry here, a sample for an unknown track) is an
/// error, never a panic; the muxer stays usable after any of them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Mp4Error {
    /// A tag header or codec configuration did not parse.
    #[error("bad {what}: {source}")]
    Flv {
        /// What was being read (video tag, avcC, AudioSpecificConfig, ...).
        what: &'static str,
        /// The parser's error.
        source: FlvError,
    },
    /// A codec this muxer does not write.
    #[error("unsupported {what} codec {codec}")]
    UnsupportedCodec {
        /// Audio or video.
        what: &'static str,
        /// The codec, as the FLV header names it.
        codec: String,
    },
    /// A sample for a track the fragmenter was not built with.
    #[error("sample for unknown track {track_id}")]
    UnknownTrack {
        /// The track id of the sample.
        track_id: u32,
    },
    /// Adding a sample would make the pending fragment larger than an MP4 box can say (4 GiB).
    #[error("fragment would reach {size} bytes, over the limit of {max}: flush more often")]
    FragmentTooLarge {
        /// Pending bytes with the refused sample.
        size: u64,
        /// The limit.
        max: u64,
    },
}

/// What a recorder can fail with: the muxer's refusals and the sink's I/O errors.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The muxer refused a frame.
    #[error(transparent)]
    Mp4(#[from] Mp4Error),
    /// A frame header did not parse (FLV recorder).
    #[error("bad {what}: {source}")]
    Flv {
        /// What was being read.
        what: &'static str,
        /// The parser's error.
        source: FlvError,
    },
    /// A tag body too large for FLV's 24-bit size field.
    #[error("FLV tag body of {size} bytes exceeds the 24-bit size field")]
    TagTooLarge {
        /// The body size.
        size: usize,
    },
    /// Writing to the sink failed; the file holds everything written before the failing call.
    #[error("writing the recording failed: {0}")]
    Io(#[from] io::Error),
}

/// A file-name template that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{` without its `}`, or a lone `}`.
    #[error("unmatched brace at byte {at} of the template")]
    UnmatchedBrace {
        /// Byte offset of the brace.
        at: usize,
    },
    /// A field other than `app`, `stream`, `start` and `start:FORMAT`.
    #[error("unknown template field {{{field}}}")]
    UnknownField {
        /// The text between the braces.
        field: String,
    },
    /// A `%` conversion the start-time format does not know.
    #[error("unknown time conversion %{conversion} (known: %Y %m %d %H %M %S %s %%)")]
    UnknownConversion {
        /// The character after `%` (empty at the end of the format).
        conversion: String,
    },
}
