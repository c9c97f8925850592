//! Session settings.

use std::time::Duration;

/// Which handshake a [`crate::ClientSession`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandshakeMode {
    /// Plain handshake: C1 is random bytes and the reply is not checked.
    Simple,
    /// Flash Player 9 digest ("complex") handshake, as ffmpeg and Flash send it.
    #[default]
    Digest,
}

/// Largest protocol control message (types 1-6) accepted, in bytes. Not a setting: the spec fixes their sizes (4
/// bytes for most, 5 for Set Peer Bandwidth, at most 10 for a User Control event; the longest event servers use,
/// the SWF verification reply, is 44), so anything longer is not a control message.
pub const MAX_CONTROL_MESSAGE_SIZE: u32 = 64;

/// The largest message the peer may send, per message type, checked at the chunk header before any payload is
/// waited for or allocated. Each bound is named after the `[rtmp]` server setting that sets it; errors name it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// Video (type 9) and aggregate (type 22) messages (default 16 MiB): a 4K keyframe can be several MiB.
    pub video: u32,
    /// Audio (type 8) messages (default 1 MiB): an audio frame is a few hundred bytes to a few KiB.
    pub audio: u32,
    /// Script data (types 15 and 18: `@setDataFrame`, `onMetaData`, cue points; default 64 KiB).
    pub script: u32,
    /// Commands (types 17 and 20: connect, publish, play...; default 64 KiB): names, URLs and a few numbers.
    pub command: u32,
    /// Shared-object messages (types 16 and 19; default 64 KiB): never used by live streaming clients.
    pub shared_object: u32,
}

impl MessageLimits {
    /// Every (non-control) type bounded by the same `max` bytes.
    pub fn uniform(max: u32) -> Self {
        Self {
            video: max,
            audio: max,
            script: max,
            command: max,
            shared_object: max,
        }
    }
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self {
            video: 16 * 1024 * 1024,
            audio: 1024 * 1024,
            script: 64 * 1024,
            command: 64 * 1024,
            shared_object: 64 * 1024,
        }
    }
}

/// Limits and settings of one RTMP session (server or client side). Every limit has a default.
///
/// Errors name a limit as the `[rtmp]` setting of `mplive serve` that sets it (`[rtmp] max_field_bytes`), as
/// that is what an operator can change; the fields here carry the same names.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// Largest chunk size accepted from the peer in Set Chunk Size (default 65536). Larger is an error.
    pub max_chunk_size: u32,
    /// Chunk size we send with (announced by Set Chunk Size after connect; default 4096).
    pub out_chunk_size: u32,
    /// Largest message accepted from the peer, per message type ([`MessageLimits`]), checked at the chunk header.
    pub message_limits: MessageLimits,
    /// Longest string a server session accepts in `connect` (every string of the command object, nested ones
    /// too, and of the optional arguments) and in the arguments of `publish` and `play` (default 4096 bytes, room
    /// for signed query strings). Longer: the command is answered with an error status and the session fails
    /// with [`crate::Error::FieldTooLong`].
    pub max_field_bytes: u32,
    /// Largest number of distinct chunk stream ids the peer may use (default 64).
    pub max_chunk_streams: usize,
    /// Time allowed to complete the handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// Window Acknowledgement Size we announce (default 2 500 000).
    pub window_ack_size: u32,
    /// Set Peer Bandwidth we announce (default 2 500 000, limit type dynamic).
    pub peer_bandwidth: u32,
    /// Handshake sent by a client session (default [`HandshakeMode::Digest`]).
    pub client_handshake: HandshakeMode,
    /// Seed of the generator that fills the handshake's random bytes (C1/C2, S1/S2). `None` (default): seeded
    /// from OS entropy, as a server or client must be. `Some(seed)`: a session given the same seed, input and
    /// times sends the same bytes, for deterministic tests; never set it in production.
    pub rng_seed: Option<u64>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_chunk_size: 65536,
            out_chunk_size: 4096,
            message_limits: MessageLimits::default(),
            max_field_bytes: 4096,
            max_chunk_streams: 64,
            handshake_timeout: Duration::from_secs(10),
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            client_handshake: HandshakeMode::Digest,
            rng_seed: None,
        }
    }
}
