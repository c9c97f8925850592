//! Per-second video frames and payload bytes by timestamp, and the slow averages the rate rules compare them with.
//! Fixed-size state: nothing is allocated per frame.

/// One complete second of the stream's timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Second {
    /// Video pictures whose timestamp falls in it.
    pub(super) frames: u32,
    /// Payload bytes, audio and video.
    pub(super) bytes: u64,
}

/// Counts the current second and hands back each second as it completes (a frame of a later second arrives).
#[derive(Debug, Default)]
pub(super) struct Seconds {
    /// Timestamp of the first frame counted: seconds are counted from it.
    base: Option<u32>,
    /// Index (from `base`) of the second being counted.
    current: u64,
    counting: Second,
    /// The last two complete seconds, newest first; `None` until there are two.
    last: [Option<Second>; 2],
}

/// The rates of the last two complete seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Window {
    /// Video frames per second.
    pub(super) fps: f64,
    /// Payload kbit/s.
    pub(super) kbps: f64,
    /// The second that just completed, to feed the averages.
    pub(super) newest: Second,
}

impl Seconds {
    /// Moves to the second of a frame with timestamp `ts` and returns how many seconds completed before it: call
    /// [`Seconds::complete`] that many times, then [`Seconds::count`] the frame. A jump forward of more than
    /// `max_skip` seconds starts counting afresh (and returns 0); a frame a little behind the newest second (audio
    /// and video interleave) counts in the current one.
    pub(super) fn advance(&mut self, ts: u32, max_skip: u64) -> u64 {
        let base = *self.base.get_or_insert(ts);
        let index = u64::from(ts.saturating_sub(base)) / 1000;
        if index <= self.current {
            return 0;
        }
        let completed = index - self.current;
        if completed > max_skip + 1 {
            *self = Seconds {
                base: Some(ts),
                ..Seconds::default()
            };
            return 0;
        }
        self.current = index;
        completed
    }

    /// Closes the second being counted (an empty one for a second without frames). Returns the rates of the last
    /// two complete seconds once there are two.
    pub(super) fn complete(&mut self) -> Option<Window> {
        let done = std::mem::take(&mut self.counting);
        self.last = [Some(done), self.last[0]];
        let [Some(a), Some(b)] = self.last else {
            return None;
        };
        Some(Window {
            fps: f64::from(a.frames + b.frames) / 2.0,
            kbps: (a.bytes + b.bytes) as f64 * 8.0 / 1000.0 / 2.0,
            newest: a,
        })
    }

    /// Counts a frame in the current second.
    pub(super) fn count(&mut self, video: bool, bytes: usize) {
        self.counting.frames += u32::from(video);
        self.counting.bytes += bytes as u64;
    }

    /// Forgets the seconds (the timestamps went back: the seconds counted so far mean nothing for the new ones).
    pub(super) fn restart(&mut self) {
        *self = Seconds::default();
    }
}

/// A slow average of a per-second value: the plain mean of the first `window` values, then an exponential one
/// with the same time constant.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Baseline {
    mean: f64,
    n: u32,
}

impl Baseline {
    /// Adds a second's value.
    pub(super) fn update(&mut self, value: f64, window: u32) {
        self.n = (self.n + 1).min(window.max(1));
        self.mean += (value - self.mean) / f64::from(self.n);
    }

    /// The average, once at least half the window has been seen (at least two seconds).
    pub(super) fn ready(&self, window: u32) -> Option<f64> {
        (self.n >= (window / 2).max(2)).then_some(self.mean)
    }
}
