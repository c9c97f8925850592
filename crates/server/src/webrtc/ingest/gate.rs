//! Which video frames of a WHIP publish pass, and when to ask the browser for a keyframe. Pure: the clock is an
//! argument.

use std::time::{Duration, Instant};

/// Decides which video frames pass and when to ask for a keyframe (PLI).
///
/// A session starts waiting for a keyframe; a frame that is not contiguous with the previous one (str0m saw a
/// gap in the RTP sequence that NACK did not repair in time) or that could not be queued puts it back to waiting.
/// While waiting, frames are dropped (a decoder fed a picture whose references are missing shows garbage until
/// the next keyframe) and a keyframe is asked for at most once per `interval`. Browsers send a keyframe only
/// when asked (their GOP is endless), while new RTMP / FLV players start at one and HLS segments end at one: a
/// keyframe older than `every` is asked for as well.
#[derive(Debug, Clone)]
pub(crate) struct KeyframeGate {
    waiting: bool,
    interval: Duration,
    every: Option<Duration>,
    last_request: Option<Instant>,
    last_keyframe: Option<Instant>,
    /// Keyframe requests made, for the log.
    pub(crate) requests: u64,
    /// Frames dropped while waiting.
    pub(crate) dropped: u64,
}

impl KeyframeGate {
    /// A gate that waits for the first keyframe, asking at most once per `interval`, and for a new keyframe
    /// when the last one is `every` old.
    pub(crate) fn new(interval: Duration, every: Option<Duration>) -> KeyframeGate {
        KeyframeGate {
            waiting: true,
            interval,
            every,
            last_request: None,
            last_keyframe: None,
            requests: 0,
            dropped: 0,
        }
    }

    /// A video frame arrived at `now`: whether it passes, and whether to send a keyframe request now.
    pub(crate) fn frame(&mut self, keyframe: bool, contiguous: bool, now: Instant) -> (bool, bool) {
        if keyframe {
            self.waiting = false;
            self.last_keyframe = Some(now);
        } else if !contiguous {
            self.waiting = true;
        }
        if self.waiting {
            self.dropped += 1;
        }
        (!self.waiting, self.poll(now))
    }

    /// A frame that passed could not be delivered (the queue to the hub was full): what follows depends on it.
    pub(crate) fn lost(&mut self) {
        self.waiting = true;
    }

    /// Whether to send a keyframe request at `now`: while waiting, or when the last keyframe is `every` old; at
    /// most once per interval.
    pub(crate) fn poll(&mut self, now: Instant) -> bool {
        let due = self
            .last_request
            .is_none_or(|at| now.saturating_duration_since(at) >= self.interval);
        let stale = self.every.is_some_and(|every| {
            self.last_keyframe
                .is_some_and(|at| now.saturating_duration_since(at) >= every)
        });
        if (self.waiting || stale) && due {
            self.last_request = Some(now);
            self.requests += 1;
            return true;
        }
        false
    }
}
