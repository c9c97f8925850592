//! The RTMP chunk stream: messages split into chunks of at most the negotiated chunk size, interleaved over
//! chunk stream ids (csid).

mod decoder;
mod encoder;

pub use decoder::ChunkDecoder;
pub use encoder::{encode_media_message, encode_message};

use bytes::Bytes;

/// Largest chunk stream id the 3-byte basic header can carry.
pub const MAX_CSID: u32 = 65599;
/// Chunk size in effect before any Set Chunk Size.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Timestamp field value that announces an extended (32-bit) timestamp.
pub(crate) const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;

/// One reassembled message from the chunk stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkMessage {
    /// Chunk stream id it arrived on.
    pub csid: u32,
    /// Absolute timestamp in milliseconds (deltas already applied, wrapping at 2^32).
    pub timestamp: u32,
    /// RTMP message type id (1 Set Chunk Size ... 20 AMF0 command).
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// The message body, frozen once from its reassembly buffer.
    pub payload: Bytes,
}
