//! The send queue: frames waiting for the socket, bounded in time and bytes.
//!
//! Frames wait here while the socket takes the bytes before them. The queue never grows without limit:
//!
//! 1. When its oldest frame has waited longer than `max_delay`, every queued video frame that is not a keyframe
//!    is dropped, and video is held back until the source's next keyframe (a picture that lost its reference
//!    would decode as garbage). Keyframes, audio and data stay.
//! 2. When it still holds more than `2 * max_delay` of waiting or more than `max_bytes`, the oldest frames go
//!    until it is back under both; by then no inter frame is left, so nothing queued depends on what went.
//!
//! Sequence headers and metadata are sent apart (at publish), never through this queue's drop rules.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp::MediaKind;

use super::media::Class;

/// One frame waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) kind: MediaKind,
    pub(crate) class: Class,
    pub(crate) timestamp: u32,
    pub(crate) payload: Bytes,
    /// When the source produced it.
    pub(crate) arrived: Instant,
}

/// The frames waiting for the socket.
#[derive(Debug)]
pub(crate) struct SendQueue {
    frames: VecDeque<Queued>,
    bytes: usize,
    video: usize,
    audio: usize,
    /// Video waits for the next keyframe (at the start of a connection, after a drop, after resume).
    need_keyframe: bool,
    dropped: u64,
    max_delay: Duration,
    max_bytes: usize,
}

impl SendQueue {
    pub(crate) fn new(max_delay: Duration, max_bytes: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            video: 0,
            audio: 0,
            need_keyframe: true,
            dropped: 0,
            max_delay,
            max_bytes,
        }
    }

    /// Queues a frame (or drops it: video before a keyframe) and enforces the bounds.
    pub(crate) fn push(&mut self, frame: Queued, now: Instant) {
        match frame.class {
            Class::VideoKey => self.need_keyframe = false,
            Class::VideoInter if self.need_keyframe => {
                self.dropped += 1;
                return;
            }
            _ => {}
        }
        self.count(&frame, true);
        self.frames.push_back(frame);
        self.enforce(now);
    }

    /// The oldest frame.
    pub(crate) fn pop(&mut self) -> Option<Queued> {
        let f = self.frames.pop_front()?;
        self.count(&f, false);
        Some(f)
    }

    /// Empties the queue (the connection is gone); video waits for a keyframe again.
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
        self.video = 0;
        self.audio = 0;
        self.need_keyframe = true;
    }

    /// How long the oldest frame has waited.
    pub(crate) fn delay(&self, now: Instant) -> Duration {
        self.frames
            .front()
            .map_or(Duration::ZERO, |f| now.saturating_duration_since(f.arrived))
    }

    /// Queued video frames.
    pub(crate) fn video_frames(&self) -> usize {
        self.video
    }

    /// Queued audio frames.
    pub(crate) fn audio_frames(&self) -> usize {
        self.audio
    }

    /// Frames dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    fn count(&mut self, f: &Queued, add: bool) {
        let (bytes, video, audio) = (
            f.payload.len(),
            usize::from(f.class.is_video_frame()),
            usize::from(f.kind == MediaKind::Audio),
        );
        if add {
            self.bytes += bytes;
            self.video += video;
            self.audio += audio;
        } else {
            self.bytes -= bytes;
            self.video -= video;
            self.audio -= audio;
        }
    }

    fn enforce(&mut self, now: Instant) {
        if self.delay(now) > self.max_delay {
            let before = self.frames.len();
            let kept: VecDeque<Queued> = self
                .frames
                .drain(..)
                .filter(|f| f.class != Class::VideoInter)
                .collect();
            self.frames = kept;
            self.dropped += (before - self.frames.len()) as u64;
            self.recount();
            self.need_keyframe = true;
        }
        while self.bytes > self.max_bytes || self.delay(now) > self.max_delay * 2 {
            if self.pop().is_none() {
                break;
            }
            self.dropped += 1;
        }
    }

    fn recount(&mut self) {
        let frames = std::mem::take(&mut self.frames);
        (self.bytes, self.video, self.audio) = (0, 0, 0);
        for f in &frames {
            self.count(f, true);
        }
        self.frames = frames;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(class: Class, arrived: Instant, len: usize) -> Queued {
        let kind = match class {
            Class::Audio | Class::AudioHeader => MediaKind::Audio,
            Class::Metadata | Class::Data => MediaKind::Script,
            _ => MediaKind::Video,
        };
        Queued {
            kind,
            class,
            timestamp: 0,
            payload: Bytes::from(vec![0; len]),
            arrived,
        }
    }

    #[test]
    fn video_waits_for_a_keyframe() {
        let t = Instant::now();
        let mut q = SendQueue::new(Duration::from_secs(3), 1 << 20);
        q.push(frame(Class::VideoInter, t, 10), t);
        q.push(frame(Class::Audio, t, 10), t);
        assert_eq!((q.video_frames(), q.audio_frames(), q.dropped()), (0, 1, 1));
        q.push(frame(Class::VideoKey, t, 10), t);
        q.push(frame(Class::VideoInter, t, 10), t);
        assert_eq!(q.video_frames(), 2);
        q.clear();
        q.push(frame(Class::VideoInter, t, 10), t);
        assert_eq!((q.video_frames(), q.delay(t)), (0, Duration::ZERO));
    }

    #[test]
    fn a_backed_up_queue_drops_inter_frames_then_the_oldest() {
        let t = Instant::now();
        let s = Duration::from_secs(1);
        let mut q = SendQueue::new(3 * s, 1 << 20);
        q.push(frame(Class::VideoKey, t, 100), t);
        q.push(frame(Class::VideoInter, t, 100), t);
        q.push(frame(Class::Audio, t, 10), t);
        q.push(frame(Class::VideoInter, t + 2 * s, 100), t + 2 * s);
        assert_eq!(q.video_frames(), 3, "under the bound nothing goes");
        q.push(frame(Class::Audio, t + 4 * s, 10), t + 4 * s);
        assert_eq!((q.video_frames(), q.audio_frames(), q.dropped()), (1, 2, 2));
        q.push(frame(Class::VideoInter, t + 4 * s, 100), t + 4 * s);
        assert_eq!(q.video_frames(), 1, "video waits for the next keyframe");
        q.push(frame(Class::Audio, t + 7 * s, 10), t + 7 * s);
        assert_eq!(
            q.delay(t + 7 * s),
            3 * s,
            "the frames older than 2 x 3 s went"
        );
        assert_eq!((q.video_frames(), q.audio_frames()), (0, 2));
        assert_eq!(q.pop().map(|f| f.arrived), Some(t + 4 * s));
    }

    #[test]
    fn bytes_are_bounded() {
        let t = Instant::now();
        let mut q = SendQueue::new(Duration::from_secs(3), 1000);
        for _ in 0..5 {
            q.push(frame(Class::Audio, t, 300), t);
        }
        assert_eq!((q.audio_frames(), q.dropped()), (3, 2));
    }
}
