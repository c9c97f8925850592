//! What a stream's WebRTC viewers share, kept in the stream's entry: each video frame converted to Annex B once
//! for all of them, and (when the `audio` crate lands) one AAC -> Opus transcoder per stream.
//!
//! The audio plug: `StreamSource::opus` is where the per-stream `audio::AacToOpus` goes. It takes the stream's
//! AAC frames (sequence header: `AacToOpus::new(audio_specific_config)`, then `push(raw_frame, timestamp_ms)`),
//! caches the Opus packets by the frame's hub sequence number like the video cache below, and every viewer's
//! feeder ([`super::feeder`]) writes them to its audio m-line (already negotiated as Opus: [`super::offer`]).
//! Until then the Opus track is negotiated and fed nothing; browsers play the video alone.

use std::collections::VecDeque;
use std::sync::Arc;

use media::MediaFrame;
use parking_lot::Mutex;

use super::h264::{AccessUnit, Annexb, Video, VideoError};

/// Converted frames remembered per stream: enough for viewers a few frames apart to share them.
const CACHED_FRAMES: usize = 64;

/// One Opus packet for the audio m-line.
#[derive(Debug, Clone)]
pub(crate) struct OpusOut {
    /// The packet.
    pub(crate) data: Arc<[u8]>,
    /// Its timestamp at 48 kHz.
    pub(crate) pts_48k: u64,
}

/// The WebRTC side of one live stream (a field of its `StreamEntry`).
#[derive(Default)]
pub(crate) struct StreamSource {
    /// Recently converted video frames by hub sequence number.
    video: Mutex<VecDeque<(u64, AccessUnit)>>,
}

impl StreamSource {
    /// `frame` (a video picture) in Annex B: converted by the first viewer that reads it, shared by the others.
    /// `annexb` is the viewer's own parameter-set state (a viewer that joined later has read the same sequence
    /// header first), so a cache miss gives the same bytes a hit would.
    pub(crate) fn video(
        &self,
        annexb: &mut Annexb,
        frame: &MediaFrame,
    ) -> Result<Video, VideoError> {
        let f = frame.frame();
        if f.sequence_header {
            return annexb.push(&f.payload);
        }
        if let Some(au) = self
            .video
            .lock()
            .iter()
            .rev()
            .find(|(seq, _)| *seq == frame.seq())
            .map(|(_, au)| au.clone())
        {
            return Ok(Video::Picture(au));
        }
        let converted = annexb.push(&f.payload)?;
        if let Video::Picture(au) = &converted {
            let mut cache = self.video.lock();
            if cache.len() == CACHED_FRAMES {
                cache.pop_front();
            }
            cache.push_back((frame.seq(), au.clone()));
        }
        Ok(converted)
    }

    /// The Opus packets of an AAC frame: none until the `audio` crate's transcoder is plugged in here (see the
    /// module comment).
    pub(crate) fn opus(&self, _frame: &MediaFrame) -> Vec<OpusOut> {
        Vec::new()
    }
}
