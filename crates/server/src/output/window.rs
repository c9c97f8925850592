//! Frames read from the hub once per delivery round and written to every player that is caught up.
//!
//! A round (a `live` merge window's tick, an `rtc` push) writes the same frames to most of its players: those that
//! were caught up at the end of the previous round sit at the same place in the stream's ring. Reading the ring and
//! cloning each frame's encoding per player was a fifth of mplive's user-space CPU in a 500-player profile, work the
//! write floor (`bench/floor`) does not have. So the first caught-up player of each output encoding reads a
//! [`media::Window`] and its encodings; every other player at the same place takes it as is: one `writev` of the
//! shared buffers, no ring read, no reference count per frame. Players with anything of their own to send first
//! (a start burst, a blocked write, headers after a skip) keep the per-player path.

use bytes::Bytes;
use media::Subscriber;

use crate::output::encode::{flv_tag, rtmp_chunks, SHARED_RTMP_STREAM_ID};
use crate::output::fanout::OutputFormat;

/// Most frames in one shared window: the most buffers one `writev` takes here.
pub(crate) const MAX_FRAMES: usize = crate::output::batch::MAX_IOV;

/// Windows taken by players, for the tests to see that the shared path runs.
#[cfg(test)]
pub(crate) static TAKEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Tries at reading a window per encoding before a round gives up on sharing (every player is then at the live
/// edge, lagging, or has its own backlog: the per-player path is as cheap).
const MAX_MISSES: u8 = 2;

/// A window and its encoded buffers, in one encoding.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) window: media::Window,
    pub(crate) bufs: Vec<Bytes>,
}

#[derive(Debug)]
enum Slot {
    /// Not read yet; the misses so far.
    Untried(u8),
    Ready(Shared),
    GaveUp,
}

impl Default for Slot {
    fn default() -> Self {
        Slot::Untried(0)
    }
}

/// The shared windows of one delivery round: one per encoding that can be shared.
#[derive(Debug, Default)]
pub(crate) struct SharedWindows {
    flv: Slot,
    rtmp: Slot,
}

impl SharedWindows {
    /// The round's window for a player in `format`, read from `subscriber` if none was read yet. `None` when the
    /// player's encoding is its own (an RTMP play on an uncommon message stream) or nothing can be shared.
    pub(crate) fn get(&mut self, format: OutputFormat, subscriber: &Subscriber) -> Option<&Shared> {
        let slot = match format {
            OutputFormat::Flv => &mut self.flv,
            OutputFormat::Rtmp { stream_id, .. } if stream_id == SHARED_RTMP_STREAM_ID => {
                &mut self.rtmp
            }
            OutputFormat::Rtmp { .. } => return None,
        };
        if let Slot::Untried(misses) = *slot {
            *slot = match subscriber.window(MAX_FRAMES) {
                Some(window) => Slot::Ready(encode(window, format)),
                None if misses + 1 >= MAX_MISSES => Slot::GaveUp,
                None => Slot::Untried(misses + 1),
            };
        }
        match slot {
            Slot::Ready(shared) => Some(shared),
            _ => None,
        }
    }
}

fn encode(window: media::Window, format: OutputFormat) -> Shared {
    let bufs = window
        .frames()
        .iter()
        .map(|frame| match format {
            OutputFormat::Flv => flv_tag(frame),
            OutputFormat::Rtmp {
                stream_id,
                chunk_size,
            } => rtmp_chunks(frame, stream_id, chunk_size),
        })
        .collect();
    Shared { window, bufs }
}
