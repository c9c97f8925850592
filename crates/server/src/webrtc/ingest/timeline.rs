//! RTP times to one stream timeline: each track anchored by its first frame's arrival, the audio aligned to the
//! video once both have an RTCP sender report. Pure: times come with the input.

use std::time::{Instant, SystemTime};

use tracing::debug;

/// Sender reports whose alignment would move audio by more than this are not believed (a bogus report).
const MAX_SYNC_CORRECTION_US: i64 = 5_000_000;

/// An RTCP sender report of a track: the sender's wall clock at one RTP time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SenderReport {
    /// The NTP time of the report.
    pub(crate) ntp: SystemTime,
    /// The RTP time (extended, the track's clock) at that instant.
    pub(crate) rtp: u64,
}

/// One track's clock.
#[derive(Debug, Clone, Copy)]
struct Track {
    /// RTP ticks per second.
    rate: u64,
    /// The first RTP time seen and its place on the timeline, in µs.
    anchor: Option<(u64, i64)>,
    /// The last sender report.
    report: Option<SenderReport>,
}

impl Track {
    fn new(rate: u64) -> Track {
        Track {
            rate,
            anchor: None,
            report: None,
        }
    }

    /// `rtp` on the timeline, in µs.
    fn us(&self, rtp: u64) -> i64 {
        let Some((rtp0, base)) = self.anchor else {
            return 0;
        };
        let ticks = i128::from(rtp) - i128::from(rtp0);
        let us = ticks * 1_000_000 / i128::from(self.rate.max(1));
        i64::try_from(i128::from(base) + us).unwrap_or(if us > 0 { i64::MAX } else { 0 })
    }

    /// The sender's wall clock at `rtp` per its report, in µs since the Unix epoch.
    fn wallclock_us(&self, rtp: u64) -> Option<i64> {
        let report = self.report?;
        let ntp = report.ntp.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        let ntp = i64::try_from(ntp.as_micros()).ok()?;
        let ticks = i128::from(rtp) - i128::from(report.rtp);
        let us = i64::try_from(ticks * 1_000_000 / i128::from(self.rate.max(1))).ok()?;
        ntp.checked_add(us)
    }
}

/// Which track a media item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackKind {
    /// H.264, 90 kHz.
    Video,
    /// Opus, 48 kHz.
    Audio,
}

/// Maps each track's RTP times to one timeline in µs that starts at 0 with the first frame of either track.
///
/// Until both tracks have a sender report, each track is anchored by the arrival time of its first frame (its
/// RTP time then counts from there, so its own spacing is exact); when both have one, the audio is moved once so
/// that the two tracks keep the sender's capture clock, which is what makes lips match (RFC 3550 6.4.1). Video
/// is never moved: it is the reference, and its keyframes are what players start at.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    epoch: Option<Instant>,
    video: Track,
    audio: Track,
    synced: bool,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            epoch: None,
            video: Track::new(90_000),
            audio: Track::new(48_000),
            synced: false,
        }
    }
}

impl Timeline {
    /// The timeline position in µs of a frame of `kind` with RTP time `rtp` (extended), whose first packet
    /// arrived at `arrival`, with the track's latest sender report if there is one. Never negative.
    pub(crate) fn map(
        &mut self,
        kind: TrackKind,
        rtp: u64,
        arrival: Instant,
        report: Option<SenderReport>,
    ) -> i64 {
        let epoch = *self.epoch.get_or_insert(arrival);
        let since = arrival.saturating_duration_since(epoch);
        let track = match kind {
            TrackKind::Video => &mut self.video,
            TrackKind::Audio => &mut self.audio,
        };
        track
            .anchor
            .get_or_insert((rtp, i64::try_from(since.as_micros()).unwrap_or(i64::MAX)));
        if report.is_some() {
            track.report = report;
        }
        if !self.synced {
            self.sync();
        }
        let track = match kind {
            TrackKind::Video => &self.video,
            TrackKind::Audio => &self.audio,
        };
        track.us(rtp).max(0)
    }

    /// Whether the tracks have been aligned by their sender reports.
    pub(crate) fn synced(&self) -> bool {
        self.synced
    }

    /// Aligns the audio to the video by their sender reports, once both have one.
    fn sync(&mut self) {
        let (Some((v_rtp0, v_base)), Some((a_rtp0, a_base))) =
            (self.video.anchor, self.audio.anchor)
        else {
            return;
        };
        let (Some(v_wall), Some(a_wall)) = (
            self.video.wallclock_us(v_rtp0),
            self.audio.wallclock_us(a_rtp0),
        ) else {
            return;
        };
        self.synced = true;
        // The audio anchor's place is the video anchor's plus how much later the sender captured it.
        let base = v_base.saturating_add(a_wall.saturating_sub(v_wall));
        let correction = base.saturating_sub(a_base);
        if correction.abs() > MAX_SYNC_CORRECTION_US {
            debug!(
                correction_ms = correction / 1000,
                "WHIP: sender reports disagree with arrival times: not used"
            );
            return;
        }
        debug!(
            correction_ms = correction / 1000,
            "WHIP: audio aligned to video by the sender reports"
        );
        self.audio.anchor = Some((a_rtp0, base));
    }
}
