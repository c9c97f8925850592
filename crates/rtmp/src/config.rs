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

/// Limits and settings of one RTMP session (server or client side). Every limit has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// Largest chunk size accepted from the peer in Set Chunk Size (default 65536). Larger is an error.
    pub max_chunk_size: u32,
    /// Chunk size we send with (announced by Set Chunk Size after connect; default 4096).
    pub out_chunk_size: u32,
    /// Largest message accepted from the peer, checked before allocating (default 16 MiB).
    pub max_message_size: u32,
    /// Largest command, data (script), shared-object or protocol control message accepted from the peer (default
    /// 64 KiB). Only audio, video and aggregate messages may use the rest of `max_message_size`: names and
    /// metadata are small, and a peer that sends megabytes of them is hostile.
    pub max_command_size: u32,
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
            max_message_size: 16 * 1024 * 1024,
            max_command_size: 64 * 1024,
            max_chunk_streams: 64,
            handshake_timeout: Duration::from_secs(10),
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            client_handshake: HandshakeMode::Digest,
            rng_seed: None,
        }
    }
}
