//! AAC <-> Opus transcoding for WebRTC, once per stream.
//!
//! Browsers take Opus and RTMP / FLV / HLS players take AAC, so a stream published over RTMP needs its AAC
//! transcoded to Opus for its WHEP viewers, and a stream published over WHIP needs its Opus transcoded to AAC
//! for everyone else. This crate does both, sans-IO like the protocol crates: no tokio, no sockets, no clock.
//!
//! ```text
//!  raw AAC frame + pts_ms  --> AacToOpus::push --> Vec<OpusPacket { data, pts_48k, samples: 960 }>
//!  Opus packet + pts_48k   --> OpusToAac::push --> Vec<AacFrame { data, pts_ms }>
//!                              OpusToAac::audio_specific_config() --> the FLV AAC sequence header payload
//! ```
//!
//! - Timestamps come from counting samples from the first input's timestamp (never from adding rounded frame
//!   durations), so they do not drift over hours; gaps, duplicates and restarted timelines are handled as each
//!   type's documentation says, and output timestamps always increase.
//! - Malformed input is answered with an [`Error`] and the transcoder stays usable. A panic is a bug.
//! - Buffering is bounded: after each `push` less than one output frame of audio is held, plus the
//!   resampler's half filter; each limit is a field of [`AacToOpusConfig`] / [`OpusToAacConfig`].
//!
//! The codecs are pure Rust with no build script (docs/webrtc.md#codecs): `rusty_aac` decodes AAC (LC and
//! HE-AAC), `syom` encodes AAC-LC frame by frame, `opus-pure` encodes and decodes Opus.

mod aac_to_opus;
mod config;
mod error;
mod opus_to_aac;
mod remix;
mod resample;

pub use aac_to_opus::{AacToOpus, OpusPacket, OPUS_FRAME, OPUS_RATE};
pub use config::{AacToOpusConfig, OpusToAacConfig};
pub use error::Error;
pub use opus_to_aac::{AacFrame, OpusToAac, AAC_FRAME};

#[cfg(test)]
mod guards {
    use super::*;

    fn is_send<T: Send>() {}

    /// The server moves a transcoder into the stream's task.
    #[test]
    fn transcoders_are_send() {
        is_send::<AacToOpus>();
        is_send::<OpusToAac>();
    }
}
