//! Stream health rules: a sans-IO evaluator of one publish that turns its frames into anomaly *episodes*.
//!
//! ```text
//! handle_frame(now, frame) ─┐                      ┌─▶ poll_episode(): Episode { rule, Started, detail }
//! handle_tick(now)  ────────┼─▶ Health (6 rules) ──┤                    Episode { rule, Ended, worst, duration }
//! finish(now)  ─────────────┘                      └─▶ active(): the episodes open now
//! ```
//!
//! An episode starts when a rule's condition appears and ends when it is gone (or the publish ends: [`Health::finish`]
//! closes what is open), so a rule reports once per episode, not once per frame. The rules (names as
//! [`Rule::as_str`] gives them) and their thresholds ([`HealthConfig`]):
//!
//! | rule | starts when | ends when |
//! |------|-------------|-----------|
//! | `video_gap` | no video frame arrived for `video_gap_ms` (wall clock) | a video frame arrives |
//! | `low_fps` | the video frame rate of the last 2 s (timestamps) < `low_fps_ratio` × the recent rate | the rate is back to halfway |
//! | `long_gop` | more than `gop_max_ms` of video timestamps without a keyframe | a keyframe closes a GOP within it |
//! | `av_drift` | audio and video timestamps disagree by more than `av_drift_ms` against their arrival | they agree within half of it |
//! | `bitrate_drop` | the payload bitrate of the last 2 s < `bitrate_drop_ratio` × the recent bitrate | the bitrate is back to halfway |
//! | `timestamp_backwards` | a timestamp below the previous one of its kind | none for `backwards_clear_ms` |
//!
//! A rate of zero is not a low rate but a gap: `low_fps` and `bitrate_drop` only judge seconds with frames.
//!
//! # I/O, clock, cost
//!
//! No I/O; time is an argument (`now`). Per frame: a few comparisons and additions on fixed-size state, no
//! allocation. The caller calls [`Health::poll_episode`] until `None` after each input ([`Health::has_output`]
//! says whether there is anything), and [`Health::handle_tick`] a few times a second: a gap is only seen by a
//! tick while it lasts.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use media::health::{Health, HealthConfig, Phase, Rule};
//! use media::{Frame, MediaKind};
//!
//! let t0 = Instant::now();
//! let mut health = Health::new(HealthConfig::default(), t0);
//! let picture = Frame::new(MediaKind::Video, 0, Bytes::from_static(&[0x27, 1, 0, 0, 0]));
//! health.handle_frame(t0, &picture);
//! health.handle_tick(t0 + Duration::from_secs(4));
//! let episode = health.poll_episode().unwrap();
//! assert_eq!((episode.rule, episode.phase), (Rule::VideoGap, Phase::Started));
//! ```

mod config;
mod episode;
mod rates;

use std::time::{Duration, Instant};

use crate::frame::{Frame, MediaKind};
pub use config::HealthConfig;
pub use episode::{Detail, Episode, OpenEpisode, Phase};
use episode::{Episodes, Outbox};
use rates::{Baseline, Seconds, Window};

/// Number of rules.
pub const RULES: usize = 6;

/// A health rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// No video frame arrived for `video_gap_ms`.
    VideoGap,
    /// The frame rate fell under a fraction of the stream's recent rate.
    LowFps,
    /// A GOP longer than `gop_max_ms`.
    LongGop,
    /// Audio and video timestamps drift apart.
    AvDrift,
    /// The bitrate fell under a fraction of the stream's recent bitrate.
    BitrateDrop,
    /// Timestamps went backwards.
    TimestampBackwards,
}

impl Rule {
    /// Every rule, in the order of their index.
    pub const ALL: [Rule; RULES] = [
        Rule::VideoGap,
        Rule::LowFps,
        Rule::LongGop,
        Rule::AvDrift,
        Rule::BitrateDrop,
        Rule::TimestampBackwards,
    ];

    /// `video_gap`, `low_fps`, `long_gop`, `av_drift`, `bitrate_drop`, `timestamp_backwards`: the name in
    /// webhooks, metrics and statistics.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::VideoGap => "video_gap",
            Rule::LowFps => "low_fps",
            Rule::LongGop => "long_gop",
            Rule::AvDrift => "av_drift",
            Rule::BitrateDrop => "bitrate_drop",
            Rule::TimestampBackwards => "timestamp_backwards",
        }
    }

    /// Its place in [`Rule::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The health rules of one publish (see the module documentation).
#[derive(Debug)]
pub struct Health {
    config: HealthConfig,
    episodes: Episodes,
    /// Arrival times are counted from here (for the drift).
    origin: Instant,
    last_video_at: Option<Instant>,
    /// Timestamp of the keyframe that opened the current GOP (or of the first picture).
    gop_start: Option<u32>,
    /// The video's pictures cannot be classified (an unknown codec): no GOP to judge.
    gop_unknown: bool,
    /// The last timestamp of each kind (video, audio).
    last_ts: [Option<u32>; 2],
    last_backwards_at: Option<Instant>,
    /// Timestamp minus arrival, and arrival (ms since `origin`), of the last frame of each kind (video, audio).
    offsets: [Option<(i64, i64)>; 2],
    seconds: Seconds,
    fps: Baseline,
    kbps: Baseline,
    finished: bool,
}

impl Health {
    /// The rules of a publish that starts at `now`.
    pub fn new(config: HealthConfig, now: Instant) -> Health {
        Health {
            config,
            episodes: Episodes {
                open: [None; RULES],
                outbox: Outbox::new(),
            },
            origin: now,
            last_video_at: None,
            gop_start: None,
            gop_unknown: false,
            last_ts: [None; 2],
            last_backwards_at: None,
            offsets: [None; 2],
            seconds: Seconds::default(),
            fps: Baseline::default(),
            kbps: Baseline::default(),
            finished: false,
        }
    }

    /// A frame the publisher sent, with its timestamp as the publisher sent it, arrived at `now`. Script frames
    /// and sequence headers are not media and are ignored.
    pub fn handle_frame(&mut self, now: Instant, frame: &Frame) {
        if self.finished || frame.sequence_header || frame.kind == MediaKind::Script {
            return;
        }
        let video = frame.kind == MediaKind::Video;
        let ts = frame.timestamp;
        self.check_backwards(now, video, ts);
        if video {
            self.check_gap(now);
            self.check_gop(now, frame);
        }
        self.check_drift(now, video, ts);
        self.check_rates(now, video, ts, frame.payload.len());
        self.check_quiet(now);
    }

    /// Time passes: a gap that lasts is seen here, and quiet ends episodes.
    pub fn handle_tick(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        self.check_gap_lasting(now);
        self.check_quiet(now);
    }

    /// The publish ended at `now`: every open episode ends; later input is ignored.
    pub fn finish(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if let Some(last) = self.last_video_at {
            self.episodes.observe(Detail::VideoGap {
                gap_ms: millis(now.saturating_duration_since(last)),
            });
        }
        for rule in Rule::ALL {
            self.episodes.end(now, rule);
        }
        self.finished = true;
    }

    /// Whether [`Health::poll_episode`] has something.
    pub fn has_output(&self) -> bool {
        self.episodes.outbox.len > 0
    }

    /// The next start or end, oldest first.
    pub fn poll_episode(&mut self) -> Option<Episode> {
        self.episodes.outbox.pop()
    }

    /// The episodes open now, by rule.
    pub fn active(&self) -> impl Iterator<Item = (Rule, OpenEpisode)> + '_ {
        Rule::ALL
            .into_iter()
            .filter_map(|rule| Some((rule, self.episodes.open[rule.index()]?)))
    }

    fn check_backwards(&mut self, now: Instant, video: bool, ts: u32) {
        let previous = self.last_ts[usize::from(!video)].replace(ts);
        let Some(from_ms) = previous.filter(|&p| ts < p) else {
            return;
        };
        self.last_backwards_at = Some(now);
        let kind = if video {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        let detail = Detail::TimestampBackwards {
            kind,
            from_ms,
            to_ms: ts,
            count: 1,
        };
        self.episodes.start(now, detail);
        // The timeline restarted: what was measured against the old one would raise false alarms.
        self.seconds.restart();
        self.gop_start = None;
        self.offsets = [None; 2];
    }

    /// Starts (or makes worse) the `video_gap` episode when no video has arrived for `video_gap_ms` by `now`; it is
    /// dated from when the gap passed the limit.
    fn check_gap_lasting(&mut self, now: Instant) {
        if let Some(last) = self.last_video_at {
            let limit = Duration::from_millis(self.config.video_gap_ms);
            let gap = now.saturating_duration_since(last);
            if gap > limit {
                let detail = Detail::VideoGap {
                    gap_ms: millis(gap),
                };
                self.episodes.start(last + limit, detail);
            }
        }
    }

    /// A video frame arrived: the gap before it is judged (also when no tick saw it: then the episode starts and
    /// ends with this frame), and any gap episode ends.
    fn check_gap(&mut self, now: Instant) {
        self.check_gap_lasting(now);
        self.episodes.end(now, Rule::VideoGap);
        self.last_video_at = Some(now);
    }

    fn check_gop(&mut self, now: Instant, frame: &Frame) {
        if self.gop_unknown {
            return;
        }
        let (ts, keyframe) = (frame.timestamp, frame.keyframe);
        let start = *self.gop_start.get_or_insert(ts);
        let gop_ms = u64::from(ts.saturating_sub(start));
        if gop_ms > self.config.gop_max_ms {
            // Looked at only here, once: a codec whose pictures cannot be read has no keyframes to count.
            if !self.episodes.is_open(Rule::LongGop)
                && flv::FrameClass::of(MediaKind::Video, &frame.payload) == flv::FrameClass::Unknown
            {
                self.gop_unknown = true;
                return;
            }
            self.episodes.start(now, Detail::LongGop { gop_ms });
        } else if keyframe {
            // A GOP within the limit is complete: a stream that keeps its long GOPs stays in one episode.
            self.episodes.end(now, Rule::LongGop);
        }
        if keyframe {
            self.gop_start = Some(ts);
        }
    }

    fn check_drift(&mut self, now: Instant, video: bool, ts: u32) {
        let arrival = i64::try_from(now.saturating_duration_since(self.origin).as_millis())
            .unwrap_or(i64::MAX);
        self.offsets[usize::from(!video)] = Some((i64::from(ts) - arrival, arrival));
        // Meaningless while the timestamps jump about: that episode says it.
        if self.episodes.is_open(Rule::TimestampBackwards) {
            return;
        }
        let [Some((video_offset, video_at)), Some((audio_offset, audio_at))] = self.offsets else {
            return;
        };
        let limit = self.config.av_drift_ms;
        // Compared only while both kinds flow: after a stall the first frames of one kind would be compared with
        // the other's last frame from before it.
        if (video_at - audio_at).unsigned_abs() > limit {
            return;
        }
        let drift_ms = audio_offset - video_offset;
        if drift_ms.unsigned_abs() > limit {
            self.episodes.start(now, Detail::AvDrift { drift_ms });
        } else if drift_ms.unsigned_abs() <= limit / 2 {
            self.episodes.end(now, Rule::AvDrift);
        }
    }

    fn check_rates(&mut self, now: Instant, video: bool, ts: u32, bytes: usize) {
        let window = self.config.rate_baseline_secs;
        // Seconds follow the video's timestamps when there is video: audio running ahead of it (or jumping) must
        // not cut the video's seconds short.
        let advances = video || self.last_video_at.is_none();
        let completed = if advances {
            self.seconds.advance(ts, u64::from(window))
        } else {
            0
        };
        for _ in 0..completed {
            if let Some(w) = self.seconds.complete() {
                self.judge_rates(now, w);
            }
        }
        self.seconds.count(video, bytes);
    }

    /// Judges the last two seconds against the averages, then adds the newest second to the averages (unless its
    /// rule's episode is open: a lasting drop must not become the new normal).
    fn judge_rates(&mut self, now: Instant, w: Window) {
        let window = self.config.rate_baseline_secs;
        let rules = [
            (
                Rule::LowFps,
                w.fps,
                f64::from(w.newest.frames),
                self.config.low_fps_ratio,
                &mut self.fps,
            ),
            (
                Rule::BitrateDrop,
                w.kbps,
                w.newest.bytes as f64 * 8.0 / 1000.0,
                self.config.bitrate_drop_ratio,
                &mut self.kbps,
            ),
        ];
        for (rule, value, newest, ratio, baseline) in rules {
            if let Some(recent) = baseline.ready(window).filter(|&r| r > 0.0) {
                // Zero is a gap, not a low rate: video_gap tells it, and the episode neither starts nor ends.
                if value > 0.0 {
                    if value < ratio * recent {
                        let detail = match rule {
                            Rule::LowFps => Detail::LowFps {
                                fps: value,
                                baseline_fps: recent,
                            },
                            _ => Detail::BitrateDrop {
                                kbps: value,
                                baseline_kbps: recent,
                            },
                        };
                        self.episodes.start(now, detail);
                    } else if value >= (1.0 + ratio) / 2.0 * recent {
                        self.episodes.end(now, rule);
                    }
                }
            }
            if !self.episodes.is_open(rule) {
                baseline.update(newest, window);
            }
        }
    }

    /// Ends the backwards episode after `backwards_clear_ms` without another jump.
    fn check_quiet(&mut self, now: Instant) {
        if let Some(at) = self.last_backwards_at {
            if now.saturating_duration_since(at)
                >= Duration::from_millis(self.config.backwards_clear_ms)
            {
                self.episodes.end(now, Rule::TimestampBackwards);
                self.last_backwards_at = None;
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
