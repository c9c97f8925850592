//! The jitter buffer of `live` mode, measured in media time: what arrived and has not been played yet.
//!
//! Only timestamps are kept (no payloads): the machine models what a player would show, the driver keeps the
//! bytes it needs for its statistics.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use flv::MediaKind;

/// Most frames held. A stream whose timestamps do not advance never reaches min-cache; past this the oldest
/// frames are dropped (and counted) instead of growing without bound.
const MAX_FRAMES: usize = 4096;

/// A timestamp this far behind the newest one, or ahead of it, is a new timeline (a publisher that restarted
/// its clock) rather than a late or early frame.
const BACKWARD_JUMP_MS: i64 = 1_000;
const FORWARD_JUMP_MS: i64 = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    ts: i64,
}

/// Frames waiting to be played, and the play clock: media time `playhead` was shown at `anchor`, and media
/// time runs with wall time while `anchor` is set.
#[derive(Debug, Default)]
pub(super) struct JitterBuffer {
    frames: VecDeque<Entry>,
    /// Added to incoming (unwrapped) timestamps so a new timeline continues the old one.
    offset: i64,
    /// Last raw timestamp, to unwrap the 32-bit wrap-around.
    last_raw: Option<i64>,
    newest: Option<i64>,
    newest_video: Option<i64>,
    newest_audio: Option<i64>,
    playhead: Option<i64>,
    anchor: Option<Instant>,
}

/// What [`JitterBuffer::push`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pushed {
    /// Frames dropped: this one when it came too late to be played, or old ones over [`MAX_FRAMES`].
    pub(super) dropped: u64,
}

impl JitterBuffer {
    /// Forget everything (a new connection starts a new timeline).
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Adds a frame received at `now`.
    pub(super) fn push(&mut self, kind: MediaKind, timestamp_ms: u32, now: Instant) -> Pushed {
        if kind == MediaKind::Script {
            // Script data is not media on the timeline (the machine does not pass it here).
            return Pushed { dropped: 0 };
        }
        let ts = self.timeline(timestamp_ms);
        let mut dropped = 0;
        self.release(now);
        if self.anchor.is_some() && self.position(now).is_some_and(|p| ts < p) {
            // Behind the play clock: a player would skip it.
            return Pushed { dropped: 1 };
        }
        if self.frames.len() >= MAX_FRAMES {
            self.frames.pop_front();
            dropped += 1;
        }
        self.frames.push_back(Entry { ts });
        self.newest = Some(self.newest.map_or(ts, |n| n.max(ts)));
        let per_kind = match kind {
            MediaKind::Video => &mut self.newest_video,
            MediaKind::Audio => &mut self.newest_audio,
            MediaKind::Script => return Pushed { dropped },
        };
        *per_kind = Some(per_kind.map_or(ts, |n| n.max(ts)));
        Pushed { dropped }
    }

    /// Media time on the timeline of this buffer: unwraps 32-bit timestamps and folds jumps into `offset`.
    fn timeline(&mut self, raw: u32) -> i64 {
        let raw = i64::from(raw);
        let unwrapped = match self.last_raw {
            None => raw,
            Some(last) => {
                // The candidate nearest to the last timestamp, across the 2^32 wrap.
                let base = last - last.rem_euclid(1 << 32);
                [base - (1 << 32), base, base + (1 << 32)]
                    .into_iter()
                    .map(|b| b + raw)
                    .min_by_key(|c| (c - last).abs())
                    .unwrap_or(raw)
            }
        };
        self.last_raw = Some(unwrapped);
        let ts = unwrapped + self.offset;
        if let Some(newest) = self.newest {
            if ts < newest - BACKWARD_JUMP_MS || ts > newest + FORWARD_JUMP_MS {
                // Continue right after the newest frame instead of stalling or skipping for the jump.
                self.offset += newest - ts;
                return newest;
            }
        }
        ts
    }

    /// Media time being shown at `now`: the play clock while it runs, else where it stopped, else the oldest
    /// buffered frame.
    fn position(&self, now: Instant) -> Option<i64> {
        match (self.playhead, self.anchor) {
            (Some(p), Some(a)) => Some(p + millis(now.saturating_duration_since(a))),
            (Some(p), None) => Some(p),
            (None, _) => self.frames.iter().map(|e| e.ts).min(),
        }
    }

    /// Buffered media time at `now` (newest frame minus play position), any kind.
    pub(super) fn level(&self, now: Instant) -> Duration {
        self.level_of(self.newest, now)
    }

    /// Buffered media time of one kind at `now`.
    pub(super) fn level_kind(&self, kind: MediaKind, now: Instant) -> Duration {
        match kind {
            MediaKind::Video => self.level_of(self.newest_video, now),
            MediaKind::Audio => self.level_of(self.newest_audio, now),
            MediaKind::Script => Duration::ZERO,
        }
    }

    fn level_of(&self, newest: Option<i64>, now: Instant) -> Duration {
        match (newest, self.position(now)) {
            (Some(n), Some(p)) if n > p => Duration::from_millis(n.abs_diff(p)),
            _ => Duration::ZERO,
        }
    }

    /// Starts (or resumes) the play clock at `now`.
    pub(super) fn run(&mut self, now: Instant) {
        self.playhead = self.position(now);
        self.anchor = Some(now);
    }

    /// When the play clock reaches the newest frame, if it runs.
    pub(super) fn empty_at(&self) -> Option<Instant> {
        let (Some(p), Some(a), Some(n)) = (self.playhead, self.anchor, self.newest) else {
            return None;
        };
        Some(a + Duration::from_millis(u64::try_from(n - p).unwrap_or(0)))
    }

    /// The buffer ran empty: everything was played; the clock stops at the newest frame.
    pub(super) fn stop_at_end(&mut self) {
        self.playhead = self.newest.or(self.playhead);
        self.anchor = None;
        self.frames.clear();
    }

    /// Drops the oldest frames so that `keep` of media time is left, and restarts the clock at `now` from the
    /// first frame kept. Returns how many frames were dropped.
    pub(super) fn skip_to(&mut self, keep: Duration, now: Instant) -> u64 {
        self.release(now);
        let Some(newest) = self.newest else {
            return 0;
        };
        let target = newest - millis(keep);
        let before = self.frames.len();
        self.frames.retain(|e| e.ts >= target);
        self.playhead = Some(target.max(self.position(now).unwrap_or(target)));
        self.anchor = Some(now);
        (before - self.frames.len()) as u64
    }

    /// Forgets frames the clock has passed (they were played).
    fn release(&mut self, now: Instant) {
        if self.anchor.is_none() {
            return;
        }
        let Some(pos) = self.position(now) else {
            return;
        };
        while self.frames.front().is_some_and(|e| e.ts <= pos) {
            self.frames.pop_front();
        }
    }

    /// Frames held (played ones may linger until the next push).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn level_is_media_time_between_play_position_and_newest_frame() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::default();
        for ts in (0..=1000).step_by(100) {
            b.push(MediaKind::Video, ts, t0);
        }
        assert_eq!(b.level(t0), Duration::from_millis(1000));
        b.run(t0);
        assert_eq!(b.level(at(t0, 400)), Duration::from_millis(600));
        assert_eq!(b.empty_at(), Some(at(t0, 1000)));
    }

    #[test]
    fn skip_keeps_the_newest_media_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::default();
        for ts in (0..=4000).step_by(100) {
            b.push(MediaKind::Video, ts, t0);
        }
        b.run(t0);
        // 0 was played at t0; 100..2900 go; 3000..4000 stay.
        assert_eq!(b.skip_to(Duration::from_millis(1000), t0), 29);
        assert_eq!(b.level(t0), Duration::from_millis(1000));
        assert_eq!(b.len(), 11);
    }

    #[test]
    fn a_frame_behind_the_clock_is_dropped() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::default();
        b.push(MediaKind::Video, 1000, t0);
        b.push(MediaKind::Video, 2000, t0);
        b.run(t0);
        assert_eq!(b.push(MediaKind::Audio, 1100, at(t0, 500)).dropped, 1);
        assert_eq!(b.push(MediaKind::Audio, 1600, at(t0, 500)).dropped, 0);
    }

    #[test]
    fn timestamps_wrap_and_jumps_continue_the_timeline() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::default();
        b.push(MediaKind::Video, u32::MAX - 40, t0);
        b.push(MediaKind::Video, 9, t0);
        assert_eq!(b.level(t0), Duration::from_millis(50));
        // A publisher restarting at 0 continues after the newest frame instead of looking 4 million seconds old.
        let mut b = JitterBuffer::default();
        b.push(MediaKind::Video, 60_000, t0);
        b.push(MediaKind::Video, 0, t0);
        b.push(MediaKind::Video, 500, t0);
        assert_eq!(b.level(t0), Duration::from_millis(500));
    }

    #[test]
    fn frames_are_bounded() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::default();
        let dropped: u64 = (0..MAX_FRAMES + 10)
            .map(|_| b.push(MediaKind::Audio, 0, t0).dropped)
            .sum();
        assert_eq!((dropped, b.len()), (10, MAX_FRAMES));
    }

    #[test]
    fn script_data_is_not_buffered() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::default();
        b.push(MediaKind::Video, 0, t0);
        assert_eq!(b.push(MediaKind::Script, 5000, t0).dropped, 0);
        assert_eq!((b.len(), b.level(t0)), (1, Duration::ZERO));
        assert_eq!(b.level_kind(MediaKind::Script, t0), Duration::ZERO);
    }
}
