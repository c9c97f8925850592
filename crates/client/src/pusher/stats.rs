//! Net status: the live-pusher `bindnetstatus` fields, measured over each reporting interval.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::machine::PusherState;

/// One net-status report, with live-pusher's field names (seed 001, 网络状态数据).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct NetStatus {
    /// Video bitrate the source produced, kbit/s.
    #[serde(rename = "videoBitrate")]
    pub video_bitrate: u32,
    /// Audio bitrate the source produced, kbit/s.
    #[serde(rename = "audioBitrate")]
    pub audio_bitrate: u32,
    /// Video frames per second the source produced.
    #[serde(rename = "videoFPS")]
    pub video_fps: f64,
    /// Seconds between the last two keyframes.
    #[serde(rename = "videoGOP")]
    pub video_gop: f64,
    /// What was actually written to the socket, kbit/s.
    #[serde(rename = "netSpeed")]
    pub net_speed: u32,
    /// How much the time frames wait before they are sent varies, in ms (smoothed as RTP interarrival jitter,
    /// RFC 3550 6.4.1): 0 on a steady uplink.
    #[serde(rename = "netJitter")]
    pub net_jitter: u32,
    /// 0 unknown (not connected yet), 1 best .. 5 very bad (frames dropped), 6 unusable (disconnected).
    #[serde(rename = "netQualityLevel")]
    pub net_quality_level: u8,
    /// Picture width from the video sequence header.
    #[serde(rename = "videoWidth")]
    pub video_width: u32,
    /// Picture height from the video sequence header.
    #[serde(rename = "videoHeight")]
    pub video_height: u32,
    /// Video frames queued, not yet sent.
    #[serde(rename = "videoCache")]
    pub video_cache: u32,
    /// Audio frames queued, not yet sent.
    #[serde(rename = "audioCache")]
    pub audio_cache: u32,
}

/// Counts what happens between two reports.
#[derive(Debug)]
pub(crate) struct Meter {
    since: Instant,
    video_bytes: u64,
    audio_bytes: u64,
    video_frames: u64,
    sent_bytes: u64,
    /// Source timestamps of the last two keyframes.
    keyframes: (Option<u32>, Option<u32>),
    width: u32,
    height: u32,
    /// Smoothed jitter of the queue delay, in ms, and the previous frame's delay.
    jitter_ms: f64,
    last_delay: Option<Duration>,
    dropped_at_report: u64,
}

/// What the driver knows at report time besides the counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    pub(crate) state: PusherState,
    pub(crate) ever_connected: bool,
    pub(crate) queue_delay: Duration,
    pub(crate) congestion_threshold: Duration,
    pub(crate) dropped_total: u64,
    pub(crate) video_cache: usize,
    pub(crate) audio_cache: usize,
}

impl Meter {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            since: now,
            video_bytes: 0,
            audio_bytes: 0,
            video_frames: 0,
            sent_bytes: 0,
            keyframes: (None, None),
            width: 0,
            height: 0,
            jitter_ms: 0.0,
            last_delay: None,
            dropped_at_report: 0,
        }
    }

    /// A video frame from the source.
    pub(crate) fn video(&mut self, bytes: usize, keyframe_at: Option<u32>) {
        self.video_bytes += bytes as u64;
        self.video_frames += 1;
        if let Some(ts) = keyframe_at {
            self.keyframes = (self.keyframes.1, Some(ts));
        }
    }

    /// An audio frame from the source.
    pub(crate) fn audio(&mut self, bytes: usize) {
        self.audio_bytes += bytes as u64;
    }

    /// The picture size changed.
    pub(crate) fn picture(&mut self, width: u32, height: u32) {
        (self.width, self.height) = (width, height);
    }

    /// Bytes written to the socket.
    pub(crate) fn sent(&mut self, bytes: usize) {
        self.sent_bytes += bytes as u64;
    }

    /// A frame left the queue after waiting `delay`.
    pub(crate) fn dequeued(&mut self, delay: Duration) {
        if let Some(last) = self.last_delay {
            let d = delay.abs_diff(last).as_secs_f64() * 1000.0;
            self.jitter_ms += (d - self.jitter_ms) / 16.0;
        }
        self.last_delay = Some(delay);
    }

    /// A new connection: the delay of its first frame is not compared with the last one's.
    pub(crate) fn reconnected(&mut self) {
        self.last_delay = None;
    }

    /// The report for the interval that ends at `now`; counters restart.
    pub(crate) fn report(&mut self, now: Instant, s: Snapshot) -> NetStatus {
        let secs = now
            .saturating_duration_since(self.since)
            .as_secs_f64()
            .max(0.001);
        let kbps = |bytes: u64| (bytes as f64 * 8.0 / 1000.0 / secs).round() as u32;
        let gop = match self.keyframes {
            (Some(a), Some(b)) if b > a => f64::from(b - a) / 1000.0,
            _ => 0.0,
        };
        let dropped = s.dropped_total > self.dropped_at_report;
        let quality = match s.state {
            PusherState::Publishing if dropped => 5,
            PusherState::Publishing if s.queue_delay >= s.congestion_threshold => 4,
            PusherState::Publishing if s.queue_delay >= s.congestion_threshold / 4 => 3,
            PusherState::Publishing if self.jitter_ms >= 50.0 => 2,
            PusherState::Publishing => 1,
            _ if s.ever_connected => 6,
            _ => 0,
        };
        let status = NetStatus {
            video_bitrate: kbps(self.video_bytes),
            audio_bitrate: kbps(self.audio_bytes),
            video_fps: (self.video_frames as f64 / secs * 10.0).round() / 10.0,
            video_gop: gop,
            net_speed: kbps(self.sent_bytes),
            net_jitter: self.jitter_ms.round() as u32,
            net_quality_level: quality,
            video_width: self.width,
            video_height: self.height,
            video_cache: u32::try_from(s.video_cache).unwrap_or(u32::MAX),
            audio_cache: u32::try_from(s.audio_cache).unwrap_or(u32::MAX),
        };
        self.since = now;
        (
            self.video_bytes,
            self.audio_bytes,
            self.video_frames,
            self.sent_bytes,
        ) = (0, 0, 0, 0);
        self.dropped_at_report = s.dropped_total;
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(state: PusherState) -> Snapshot {
        Snapshot {
            state,
            ever_connected: true,
            queue_delay: Duration::ZERO,
            congestion_threshold: Duration::from_secs(1),
            dropped_total: 0,
            video_cache: 2,
            audio_cache: 1,
        }
    }

    #[test]
    fn one_second_of_media() {
        let t = Instant::now();
        let mut m = Meter::new(t);
        m.picture(540, 960);
        for i in 0..25u32 {
            m.video(5000, (i % 25 == 0).then_some(i * 40));
            m.audio(250);
        }
        m.video(5000, Some(2000));
        m.sent(130_000);
        let s = m.report(
            t + Duration::from_secs(1),
            snapshot(PusherState::Publishing),
        );
        assert_eq!(
            (s.video_bitrate, s.audio_bitrate, s.net_speed),
            (1040, 50, 1040)
        );
        assert_eq!((s.video_fps, s.video_gop), (26.0, 2.0));
        assert_eq!(
            (s.video_width, s.video_height, s.video_cache, s.audio_cache),
            (540, 960, 2, 1)
        );
        assert_eq!(s.net_quality_level, 1);
        let next = m.report(t + Duration::from_secs(2), snapshot(PusherState::Waiting));
        assert_eq!((next.video_bitrate, next.net_quality_level), (0, 6));
    }

    #[test]
    fn jitter_follows_changes_of_the_queue_delay() {
        let mut m = Meter::new(Instant::now());
        for i in 0..100 {
            m.dequeued(Duration::from_millis(if i % 2 == 0 { 0 } else { 100 }));
        }
        assert!(m.jitter_ms > 90.0, "{}", m.jitter_ms);
        m.reconnected();
        m.dequeued(Duration::from_secs(5));
        assert!(m.jitter_ms < 100.0, "no jump across connections");
    }

    #[test]
    fn serialized_with_the_live_pusher_names() {
        let v = serde_json::to_value(NetStatus::default()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "audioBitrate",
                "audioCache",
                "netJitter",
                "netQualityLevel",
                "netSpeed",
                "videoBitrate",
                "videoCache",
                "videoFPS",
                "videoGOP",
                "videoHeight",
                "videoWidth"
            ]
        );
    }
}
