//! The per-stream ring shared by all subscribers (Monibuca's idea: one ring, one cursor per reader).
//!
//! The publisher appends under the stream's write lock; each subscriber keeps its own cursor (a sequence
//! number) and reads under the read lock. Frames leave the ring when it is full or when they are so old that any
//! reader still at them would be over the lag bounds anyway, so an idle stream holds a few seconds of media, not
//! `ring_capacity` frames.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::frame::{MediaFrame, MediaKind};

/// How far behind the live edge a reader may be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LagBounds {
    pub(crate) max_ms: u64,
    pub(crate) max_bytes: u64,
}

/// The frames of a stream, its current headers and its live edge.
#[derive(Debug)]
pub(crate) struct Ring {
    frames: VecDeque<Arc<MediaFrame>>,
    capacity: usize,
    /// Sequence number the next pushed frame gets.
    next_seq: u64,
    /// Latest script, video and audio sequence header (indexed by [`kind_index`](crate::frame::kind_index)).
    pub(crate) headers: [Option<Arc<MediaFrame>>; 3],
    /// The current publishing session has sent video: only video keyframes are resume points.
    pub(crate) has_video: bool,
    /// Highest timestamp published (the live edge).
    pub(crate) last_ts: u32,
    /// Payload bytes published so far.
    pub(crate) end_offset: u64,
    /// No more frames will come.
    pub(crate) closed: bool,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        Ring {
            frames: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
            headers: [None, None, None],
            has_video: false,
            last_ts: 0,
            end_offset: 0,
            closed: false,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Sequence number of the oldest frame still held (== `next_seq` when empty).
    pub(crate) fn oldest_seq(&self) -> u64 {
        self.next_seq - self.frames.len() as u64
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&Arc<MediaFrame>> {
        let index = seq.checked_sub(self.oldest_seq())?;
        self.frames.get(usize::try_from(index).ok()?)
    }

    /// Appends a frame whose `seq` is `next_seq`, then releases what no reader may use any more.
    pub(crate) fn push(&mut self, frame: Arc<MediaFrame>, lag: LagBounds) {
        debug_assert_eq!(frame.seq(), self.next_seq);
        self.next_seq = frame.seq() + 1;
        self.last_ts = self.last_ts.max(frame.frame().timestamp);
        self.end_offset = frame.end_offset();
        if frame.frame().kind == MediaKind::Video {
            self.has_video = true;
        }
        if self.frames.len() == self.capacity {
            self.frames.pop_front();
        }
        self.frames.push_back(frame);
        while self.frames.len() > 1 && self.frames.front().is_some_and(|f| self.is_lagging(f, lag))
        {
            self.frames.pop_front();
        }
    }

    /// A reader whose next frame is `frame` is past the lag bounds. The newest frame never is.
    pub(crate) fn is_lagging(&self, frame: &MediaFrame, lag: LagBounds) -> bool {
        let behind_ms = u64::from(self.last_ts.saturating_sub(frame.frame().timestamp));
        let behind_bytes = self.end_offset.saturating_sub(frame.end_offset());
        behind_ms > lag.max_ms || behind_bytes > lag.max_bytes
    }

    /// A frame a reader may start or resume at: a video keyframe, a video frame the hub cannot classify, or any
    /// audio frame of a stream without video.
    pub(crate) fn is_sync_point(&self, frame: &MediaFrame) -> bool {
        let f = frame.frame();
        f.is_video_keyframe()
            || frame.is_unclassified()
            || (f.kind == MediaKind::Audio && !self.has_video && !f.sequence_header)
    }

    /// The oldest sync point at or after `from` that is within the lag bounds, if the ring holds one.
    pub(crate) fn resume_point(&self, from: u64, lag: LagBounds) -> Option<u64> {
        let from = from.max(self.oldest_seq());
        let mut found = None;
        // Walk back from the live edge: the lag only grows that way, so stop at the first lagging frame.
        for (seq, frame) in (from..self.next_seq).rev().zip(self.frames.iter().rev()) {
            if self.is_lagging(frame, lag) {
                break;
            }
            if self.is_sync_point(frame) {
                found = Some(seq);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::frame::Frame;

    const NO_LAG_BOUND: LagBounds = LagBounds {
        max_ms: u64::MAX,
        max_bytes: u64::MAX,
    };

    /// Pushes `payload` as the next frame, its byte offset right after the previous one.
    fn push(ring: &mut Ring, kind: MediaKind, ts: u32, payload: &[u8], lag: LagBounds) {
        let frame = MediaFrame::new(
            Frame::new(kind, ts, Bytes::copy_from_slice(payload)),
            ring.next_seq(),
            ring.end_offset,
            Instant::now(),
        );
        ring.push(Arc::new(frame), lag);
    }

    fn key(size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size];
        p[..2].copy_from_slice(&[0x17, 1]);
        p
    }

    fn inter(size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size];
        p[..2].copy_from_slice(&[0x27, 1]);
        p
    }

    const AAC_RAW: [u8; 4] = [0xaf, 1, 0x21, 0x10];
    const AAC_HEADER: [u8; 4] = [0xaf, 0, 0x12, 0x10];

    /// A frame exactly at a lag bound stays in the ring; one past it is released.
    #[test]
    fn frames_are_released_just_past_the_lag_bounds() {
        let by_time = LagBounds {
            max_ms: 100,
            max_bytes: u64::MAX,
        };
        let mut ring = Ring::new(64);
        for ts in [0, 50, 100] {
            push(&mut ring, MediaKind::Video, ts, &inter(10), by_time);
        }
        assert_eq!(ring.oldest_seq(), 0, "100 ms behind is within the bound");
        push(&mut ring, MediaKind::Video, 101, &inter(10), by_time);
        assert_eq!(ring.oldest_seq(), 1);

        let by_bytes = LagBounds {
            max_ms: u64::MAX,
            max_bytes: 300,
        };
        let mut ring = Ring::new(64);
        for _ in 0..4 {
            push(&mut ring, MediaKind::Video, 0, &inter(100), by_bytes);
        }
        assert_eq!(ring.oldest_seq(), 0, "300 bytes behind is within the bound");
        push(&mut ring, MediaKind::Video, 0, &inter(100), by_bytes);
        assert_eq!(ring.oldest_seq(), 1);
    }

    /// The newest frame always stays, even when a timestamp jump back makes it look far behind.
    #[test]
    fn the_newest_frame_is_never_released() {
        let lag = LagBounds {
            max_ms: 100,
            max_bytes: u64::MAX,
        };
        for capacity in [1, 2] {
            let mut ring = Ring::new(capacity);
            push(&mut ring, MediaKind::Video, 5_000, &key(10), lag);
            push(&mut ring, MediaKind::Video, 0, &inter(10), lag);
            push(&mut ring, MediaKind::Video, 0, &inter(10), lag);
            assert_eq!((ring.oldest_seq(), ring.next_seq()), (2, 3), "{capacity}");
            assert!(ring.get(2).is_some());
        }
    }

    /// Audio frames are sync points while the stream has no video; a sequence header never is, and neither is a
    /// video frame that is not a keyframe.
    #[test]
    fn sync_points_follow_the_kind_and_the_video_seen() {
        let mut ring = Ring::new(64);
        let frame = |kind, payload: &[u8]| {
            MediaFrame::new(
                Frame::new(kind, 0, Bytes::copy_from_slice(payload)),
                0,
                0,
                Instant::now(),
            )
        };
        assert!(!ring.is_sync_point(&frame(MediaKind::Video, &inter(10))));
        assert!(ring.is_sync_point(&frame(MediaKind::Video, &key(10))));
        assert!(!ring.is_sync_point(&frame(MediaKind::Audio, &AAC_HEADER)));
        assert!(ring.is_sync_point(&frame(MediaKind::Audio, &AAC_RAW)));
        // An audio-only stream resumes at its audio.
        for ts in [0, 20, 40] {
            push(&mut ring, MediaKind::Audio, ts, &AAC_RAW, NO_LAG_BOUND);
        }
        assert!(!ring.has_video);
        assert_eq!(ring.resume_point(1, NO_LAG_BOUND), Some(1));
        // Once video is seen, only keyframes are.
        push(&mut ring, MediaKind::Video, 60, &inter(10), NO_LAG_BOUND);
        assert!(ring.has_video);
        assert!(!ring.is_sync_point(&frame(MediaKind::Audio, &AAC_RAW)));
        assert_eq!(ring.resume_point(1, NO_LAG_BOUND), None);
    }
}
