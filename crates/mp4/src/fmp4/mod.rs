//! Fragmented MP4 (CMAF): the init segment, the fragmenter, and the FLV-frame front end.

mod bx;
mod fragment;
mod init;
mod writer;

pub use fragment::{Fragment, Fragmenter, Sample, MAX_FRAGMENT_BYTES};
pub use init::{
    init_segment, styp, AudioTrack, Tracks, VideoCodecConfig, VideoTrack, AAC_FRAME_SAMPLES,
    AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID,
};
pub use writer::{Mp4Output, Mp4Writer, WriterConfig, DEFAULT_FRAGMENT_MS};
