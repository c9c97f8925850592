//! The transcoders' settings, each a named bound or target with a default.

/// Settings of [`AacToOpus`](crate::AacToOpus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacToOpusConfig {
    /// Opus bitrate for a stereo stream in bits/s; a mono stream gets half. Default 64 000.
    pub bitrate_bps: u32,
    /// Opus encoder complexity 0..=10 (CPU against quality). Default 9 (libopus's default for this build).
    pub complexity: u8,
    /// Largest raw AAC frame accepted, in bytes. Default 8192 (an AAC frame is at most 768 bytes per channel).
    pub max_frame_bytes: usize,
    /// How far a frame's timestamp may stray from the sample count before the transcoder resynchronizes, in
    /// ms. Default 100: larger than the jitter of pushers that stamp audio by the wall clock.
    pub resync_tolerance_ms: u32,
    /// The largest gap in the input (lost frames, a pause) filled with silence, in ms; a larger gap starts a new
    /// timeline at the new timestamp. Also the largest lead of the samples over the timestamps that is
    /// corrected by dropping frames. Default 1000.
    pub max_fill_ms: u32,
}

impl Default for AacToOpusConfig {
    fn default() -> Self {
        Self {
            bitrate_bps: 64_000,
            complexity: 9,
            max_frame_bytes: 8192,
            resync_tolerance_ms: 100,
            max_fill_ms: 1000,
        }
    }
}

/// Settings of [`OpusToAac`](crate::OpusToAac).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusToAacConfig {
    /// AAC-LC bitrate for a stereo stream in bits/s; a mono stream gets half. Default 128 000.
    pub bitrate_bps: u32,
    /// Largest Opus packet accepted, in bytes. Default 4000 (a WebRTC packet fits one datagram).
    pub max_packet_bytes: usize,
    /// How far ahead of the sample count a packet's timestamp may be before the gap is concealed, in ms.
    /// Default 30: Opus timestamps count samples exactly, so any gap means lost packets or DTX.
    pub resync_tolerance_ms: u32,
    /// The largest gap (lost packets, DTX) concealed by the decoder; a larger gap starts a new timeline at the
    /// new timestamp, and a jump back by more than this is taken as a restarted timeline. Default 1000 ms.
    pub max_fill_ms: u32,
}

impl Default for OpusToAacConfig {
    fn default() -> Self {
        Self {
            bitrate_bps: 128_000,
            max_packet_bytes: 4000,
            resync_tolerance_ms: 30,
            max_fill_ms: 1000,
        }
    }
}
