//! The crate's error type.

use std::fmt;

/// Why an AMF0 value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Amf0ErrorKind {
    /// The input ended in the middle of a value.
    Truncated,
    /// A type marker this decoder does not know.
    UnknownMarker(u8),
    /// A known marker that is not supported here (reference, movie clip, record set, AMF3 switch).
    Unsupported(u8),
    /// Objects or arrays nested deeper than [`crate::amf0::MAX_DEPTH`].
    DepthLimit,
    /// More values than [`crate::amf0::MAX_VALUES`] in one decode call.
    TooManyValues,
    /// A string that is not valid UTF-8.
    InvalidUtf8,
}

impl fmt::Display for Amf0ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated value"),
            Self::UnknownMarker(m) => write!(f, "unknown type marker 0x{m:02x}"),
            Self::Unsupported(m) => write!(f, "unsupported type marker 0x{m:02x}"),
            Self::DepthLimit => f.write_str("nesting depth limit exceeded"),
            Self::TooManyValues => f.write_str("value count limit exceeded"),
            Self::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
        }
    }
}

/// Everything that can go wrong in this crate. All of these come from peer input or a configured limit;
/// a session that returned one is dead and returns the same error from every later call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// C0/S0 carried a version other than 3 (6, RTMPE, is reported as [`Error::EncryptedHandshake`]).
    #[error("unsupported RTMP version {got} in the handshake (expected 3)")]
    BadVersion {
        /// The version byte received.
        got: u8,
    },
    /// The peer asked for an RTMPE (encrypted, version 6) handshake, which is refused.
    #[error("encrypted RTMP (RTMPE, version 6) is not supported")]
    EncryptedHandshake,
    /// The handshake did not complete within [`crate::SessionConfig::handshake_timeout`].
    #[error("handshake not completed within the configured timeout")]
    HandshakeTimeout,
    /// The server's S1 carried a valid digest but S2 was neither a valid digest reply nor an echo of C1.
    #[error("server handshake S2 signature does not match our C1")]
    HandshakeSignatureMismatch,
    /// A Set Chunk Size of 0, with the top bit set, or above the configured maximum.
    #[error("invalid chunk size {size} (allowed 1..={max})")]
    ChunkSizeInvalid {
        /// The requested chunk size.
        size: u32,
        /// The largest chunk size accepted ([`crate::SessionConfig::max_chunk_size`]).
        max: u32,
    },
    /// A message header announced a length above the bound of its type ([`crate::MessageLimits`], or
    /// [`crate::MAX_CONTROL_MESSAGE_SIZE`] for protocol control): refused at the header, before any payload.
    #[error("{} message (type {type_id}) of {size} bytes on chunk stream {csid} exceeds the limit of {max} bytes ({setting})", type_name(*type_id))]
    MessageTooLarge {
        /// The announced message length.
        size: u32,
        /// The configured maximum for its type.
        max: u32,
        /// The chunk stream id that carried the header.
        csid: u32,
        /// The message type id.
        type_id: u8,
        /// The setting that bounds this type, e.g. `[rtmp] max_video_message_size`.
        setting: &'static str,
    },
    /// A message header carried a type id RTMP does not define (anything but 1-6, 8, 9, 15-20 and 22): the
    /// bytes are not RTMP, so they are refused at the header instead of being read as a message still to come.
    #[error("message type {type_id} on chunk stream {csid} is not an RTMP message type (1-6, 8, 9, 15-20, 22)")]
    UnknownMessageType {
        /// The message type id received.
        type_id: u8,
        /// The chunk stream id that carried the header.
        csid: u32,
    },
    /// An audio, video or aggregate message header (types 8, 9, 22) arrived on a server session before the
    /// client sent `publish`: clients wait for NetStream.Publish.Start, so a peer that does this announces media
    /// no one asked for.
    #[error("media message (type {type_id}, {size} bytes) on chunk stream {csid} before publish")]
    MediaBeforePublish {
        /// The message type id.
        type_id: u8,
        /// The announced message length.
        size: u32,
        /// The chunk stream id that carried the header.
        csid: u32,
    },
    /// A string of `connect`, `publish` or `play` was longer than [`crate::SessionConfig::max_field_bytes`]; the
    /// command was answered with an error status first.
    #[error("{command} field {field} is {len} bytes; the limit is {max} ([rtmp] max_field_bytes)")]
    FieldTooLong {
        /// The command: `connect`, `publish` or `play`.
        command: &'static str,
        /// Which string: a property path of the command object (`tcUrl`, `args.user`) or an argument (`name`),
        /// cut to 64 characters.
        field: String,
        /// Its length in bytes.
        len: usize,
        /// The configured maximum.
        max: u32,
    },
    /// The peer used more distinct chunk stream ids than [`crate::SessionConfig::max_chunk_streams`].
    #[error("more than {max} chunk streams in use")]
    TooManyChunkStreams {
        /// The configured maximum.
        max: usize,
    },
    /// A chunk of format 1, 2 or 3 arrived on a chunk stream that never had a format 0 header.
    #[error("chunk of format 1-3 on chunk stream {csid} without a previous format 0 header")]
    MissingHeader {
        /// The chunk stream id.
        csid: u32,
    },
    /// A protocol control or user control message was too short for its type.
    #[error("control message type {message_type} has {got} bytes, needs {expected}")]
    ControlTooShort {
        /// The RTMP message type id.
        message_type: u8,
        /// Bytes needed.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// An AMF0 value could not be decoded.
    #[error("AMF0 decode error at byte {offset}: {kind}")]
    Amf0 {
        /// Offset into the decoded buffer.
        offset: usize,
        /// What went wrong.
        kind: Amf0ErrorKind,
    },
    /// A command message (type 20 or 17) was not `name, transaction id, ...`.
    #[error("malformed command message on stream {stream_id}: {reason}")]
    MalformedCommand {
        /// The message stream id.
        stream_id: u32,
        /// What was wrong.
        reason: &'static str,
    },
}

/// What a message type carries, for error messages.
fn type_name(type_id: u8) -> &'static str {
    match type_id {
        1..=6 => "protocol control",
        8 => "audio",
        9 => "video",
        22 => "aggregate",
        15 | 18 => "script data",
        17 | 20 => "command",
        16 | 19 => "shared object",
        _ => "unknown",
    }
}
