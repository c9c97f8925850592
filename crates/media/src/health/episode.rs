//! Episodes: what a rule measured, the starts and ends handed out, and the open episodes with their queue.

use std::time::{Duration, Instant};

use super::{Rule, RULES};
use crate::frame::MediaKind;

/// What a rule measured: at an episode's start the values that started it, at its end the worst values seen
/// during it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detail {
    /// Milliseconds without a video frame.
    VideoGap {
        /// The gap, ms.
        gap_ms: u64,
    },
    /// The frame rate against the recent one.
    LowFps {
        /// Video frames per second over the last two seconds.
        fps: f64,
        /// The recent rate it is compared with.
        baseline_fps: f64,
    },
    /// Video timestamps without a keyframe.
    LongGop {
        /// The GOP (so far), ms.
        gop_ms: u64,
    },
    /// Audio ahead of video (positive) or behind (negative), ms.
    AvDrift {
        /// The drift, ms.
        drift_ms: i64,
    },
    /// The bitrate against the recent one.
    BitrateDrop {
        /// Payload kbit/s over the last two seconds.
        kbps: f64,
        /// The recent bitrate it is compared with.
        baseline_kbps: f64,
    },
    /// A timestamp below the previous one of its kind.
    TimestampBackwards {
        /// The kind of the (first) frame that went back.
        kind: MediaKind,
        /// The previous timestamp of that kind, ms.
        from_ms: u32,
        /// The timestamp that went back, ms.
        to_ms: u32,
        /// How many frames went back during the episode.
        count: u32,
    },
}

impl Detail {
    /// The rule that measured it.
    pub fn rule(&self) -> Rule {
        match self {
            Detail::VideoGap { .. } => Rule::VideoGap,
            Detail::LowFps { .. } => Rule::LowFps,
            Detail::LongGop { .. } => Rule::LongGop,
            Detail::AvDrift { .. } => Rule::AvDrift,
            Detail::BitrateDrop { .. } => Rule::BitrateDrop,
            Detail::TimestampBackwards { .. } => Rule::TimestampBackwards,
        }
    }

    /// The worse of `self` and a later measurement of the same rule (the first backwards jump is kept, counted).
    fn worst(self, later: Detail) -> Detail {
        match (self, later) {
            (Detail::VideoGap { gap_ms: a }, Detail::VideoGap { gap_ms: b }) => {
                Detail::VideoGap { gap_ms: a.max(b) }
            }
            (Detail::LowFps { fps: a, .. }, Detail::LowFps { fps: b, .. }) if b < a => later,
            (Detail::LongGop { gop_ms: a }, Detail::LongGop { gop_ms: b }) => {
                Detail::LongGop { gop_ms: a.max(b) }
            }
            (Detail::AvDrift { drift_ms: a }, Detail::AvDrift { drift_ms: b })
                if b.unsigned_abs() > a.unsigned_abs() =>
            {
                later
            }
            (Detail::BitrateDrop { kbps: a, .. }, Detail::BitrateDrop { kbps: b, .. }) if b < a => {
                later
            }
            (
                Detail::TimestampBackwards {
                    kind,
                    from_ms,
                    to_ms,
                    count,
                },
                Detail::TimestampBackwards { count: more, .. },
            ) => Detail::TimestampBackwards {
                kind,
                from_ms,
                to_ms,
                count: count.saturating_add(more),
            },
            _ => self,
        }
    }
}

/// Whether an episode started or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The condition appeared.
    Started,
    /// The condition is gone, or the publish ended.
    Ended,
}

/// One start or end of an episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    /// The rule.
    pub rule: Rule,
    /// Start or end.
    pub phase: Phase,
    /// At the start, what started it; at the end, the worst seen during the episode.
    pub detail: Detail,
    /// When the episode started.
    pub started: Instant,
    /// How long it lasted: zero at the start.
    pub duration: Duration,
}

/// An episode that has not ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenEpisode {
    /// When it started.
    pub since: Instant,
    /// The worst seen so far.
    pub worst: Detail,
}

/// Starts and ends not yet polled: a fixed ring (each input yields at most one start and one end per rule).
#[derive(Debug)]
pub(super) struct Outbox {
    items: [Option<Episode>; 2 * RULES],
    head: usize,
    pub(super) len: usize,
}

impl Outbox {
    pub(super) fn new() -> Outbox {
        Outbox {
            items: [None; 2 * RULES],
            head: 0,
            len: 0,
        }
    }

    pub(super) fn push(&mut self, episode: Episode) {
        if self.len == self.items.len() {
            // Only when the caller stopped polling: the oldest goes.
            self.head = (self.head + 1) % self.items.len();
            self.len -= 1;
        }
        self.items[(self.head + self.len) % self.items.len()] = Some(episode);
        self.len += 1;
    }

    pub(super) fn pop(&mut self) -> Option<Episode> {
        if self.len == 0 {
            return None;
        }
        let episode = self.items[self.head].take();
        self.head = (self.head + 1) % self.items.len();
        self.len -= 1;
        episode
    }
}

/// The open episodes and the queue of starts and ends.
#[derive(Debug)]
pub(super) struct Episodes {
    pub(super) open: [Option<OpenEpisode>; RULES],
    pub(super) outbox: Outbox,
}

impl Episodes {
    pub(super) fn is_open(&self, rule: Rule) -> bool {
        self.open[rule.index()].is_some()
    }

    /// Starts an episode of `detail`'s rule, or makes its worst worse when one is open.
    pub(super) fn start(&mut self, now: Instant, detail: Detail) {
        let rule = detail.rule();
        match &mut self.open[rule.index()] {
            Some(open) => open.worst = open.worst.worst(detail),
            slot @ None => {
                *slot = Some(OpenEpisode {
                    since: now,
                    worst: detail,
                });
                self.outbox.push(Episode {
                    rule,
                    phase: Phase::Started,
                    detail,
                    started: now,
                    duration: Duration::ZERO,
                });
            }
        }
    }

    /// Makes the open episode of `detail`'s rule worse, if there is one.
    pub(super) fn observe(&mut self, detail: Detail) {
        if let Some(open) = &mut self.open[detail.rule().index()] {
            open.worst = open.worst.worst(detail);
        }
    }

    /// Ends the open episode of `rule`, if any.
    pub(super) fn end(&mut self, now: Instant, rule: Rule) {
        if let Some(open) = self.open[rule.index()].take() {
            self.outbox.push(Episode {
                rule,
                phase: Phase::Ended,
                detail: open.worst,
                started: open.since,
                duration: now.saturating_duration_since(open.since),
            });
        }
    }
}
