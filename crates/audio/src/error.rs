//! The one error type of the crate.

/// Why a transcoder refused its configuration or an input.
///
/// Every error is about the input just given: the transcoder stays usable and the next `push` is handled
/// normally (a decoder error costs the audio of that one frame, which is replaced by silence so that the
/// timeline stays true).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The AudioSpecificConfig (or the requested channel count) cannot be transcoded.
    #[error("unsupported audio configuration: {0}")]
    Config(String),
    /// An AAC frame or Opus packet did not decode.
    #[error("malformed {codec} input: {detail}")]
    Decode {
        /// `"aac"` or `"opus"`.
        codec: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// An input is larger than the configured bound.
    #[error("{codec} input of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// `"aac"` or `"opus"`.
        codec: &'static str,
        /// The input's size.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The encoder refused its input; a bug here rather than bad input, reported instead of panicking.
    #[error("{codec} encoder failed: {detail}")]
    Encode {
        /// `"aac"` or `"opus"`.
        codec: &'static str,
        /// What the encoder said.
        detail: String,
    },
}
