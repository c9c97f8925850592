//! Net status: live-player's `bindnetstatus` figures, computed over each reporting interval.

use std::time::{Duration, Instant};

use flv::MediaKind;
use serde::{Deserialize, Serialize};

use super::attempt::MediaInfo;
use super::machine::{PlayerMachine, PlayerState};

/// One net-status report. The first fields carry live-player's names and units; the last three are mplive's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetStatus {
    /// Video payload received, kbit/s over the interval.
    pub video_bitrate: u32,
    /// Audio payload received, kbit/s over the interval.
    pub audio_bitrate: u32,
    /// Video frames received per second over the interval.
    #[serde(rename = "videoFPS")]
    pub video_fps: f64,
    /// Seconds of media between the last two keyframes.
    #[serde(rename = "videoGOP")]
    pub video_gop: f64,
    /// Everything read from the socket (headers and framing included), kbit/s over the interval.
    pub net_speed: u32,
    /// Arrival jitter in milliseconds: the smoothed difference between how far apart frames arrived and how far
    /// apart their timestamps are (the RFC 3550 estimator, over video frames, or audio ones without video).
    /// 0 is perfectly steady.
    pub net_jitter: u32,
    /// Picture width from the last sequence header (0 before one).
    pub video_width: u32,
    /// Picture height from the last sequence header (0 before one).
    pub video_height: u32,
    /// Buffered video, milliseconds of media (0 in rtc mode).
    pub video_cache: u32,
    /// Buffered audio, milliseconds of media (0 in rtc mode).
    pub audio_cache: u32,
    /// mplive: where the player stands.
    pub state: PlayerState,
    /// mplive: stalls so far (2007 after playback had begun).
    pub stalls: u64,
    /// mplive: frames dropped so far.
    pub dropped_frames: u64,
}

/// RFC 3550-style interarrival jitter over one kind of frame.
#[derive(Debug, Default)]
struct Jitter {
    last: Option<(Instant, u32)>,
    /// Milliseconds.
    value: f64,
}

impl Jitter {
    fn add(&mut self, arrived: Instant, ts: u32) {
        if let Some((at, last_ts)) = self.last {
            let arrival = arrived.saturating_duration_since(at).as_secs_f64() * 1000.0;
            let media = f64::from(ts.wrapping_sub(last_ts) as i32);
            // The gain of 1/16 is RFC 3550's: it smooths single late frames without hiding a trend.
            self.value += ((arrival - media).abs() - self.value) / 16.0;
        }
        self.last = Some((arrived, ts));
    }
}

/// Accumulates one interval's figures.
#[derive(Debug)]
pub(crate) struct NetMeter {
    since: Instant,
    received_at_start: u64,
    video_bytes: u64,
    audio_bytes: u64,
    video_frames: u64,
    last_key_ts: Option<u32>,
    gop_ms: u32,
    video_jitter: Jitter,
    audio_jitter: Jitter,
    seen_video: bool,
}

impl NetMeter {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            since: now,
            received_at_start: 0,
            video_bytes: 0,
            audio_bytes: 0,
            video_frames: 0,
            last_key_ts: None,
            gop_ms: 0,
            video_jitter: Jitter::default(),
            audio_jitter: Jitter::default(),
            seen_video: false,
        }
    }

    /// A frame arrived at `now`.
    pub(crate) fn frame(&mut self, m: &MediaInfo, now: Instant) {
        let ts = m.frame.timestamp_ms;
        match m.frame.kind {
            MediaKind::Video => {
                self.seen_video = true;
                self.video_bytes += m.bytes as u64;
                self.video_frames += 1;
                self.video_jitter.add(now, ts);
                if m.frame.keyframe {
                    if let Some(last) = self.last_key_ts {
                        self.gop_ms = ts.wrapping_sub(last);
                    }
                    self.last_key_ts = Some(ts);
                }
            }
            MediaKind::Audio => {
                self.audio_bytes += m.bytes as u64;
                self.audio_jitter.add(now, ts);
            }
            MediaKind::Script => {}
        }
    }

    /// A new connection: its timestamps and arrivals are not comparable with the old one's.
    pub(crate) fn new_connection(&mut self) {
        self.last_key_ts = None;
        self.video_jitter.last = None;
        self.audio_jitter.last = None;
    }

    /// The report for the interval ending at `now` (`received`: bytes read so far); starts the next interval.
    pub(crate) fn report(
        &mut self,
        now: Instant,
        received: u64,
        machine: &PlayerMachine,
    ) -> NetStatus {
        let secs = now
            .saturating_duration_since(self.since)
            .max(Duration::from_millis(1))
            .as_secs_f64();
        let kbps = |bytes: u64| (bytes as f64 * 8.0 / 1000.0 / secs).round() as u32;
        let (w, h) = machine.resolution().unwrap_or((0, 0));
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        let jitter = if self.seen_video {
            &self.video_jitter
        } else {
            &self.audio_jitter
        };
        let status = NetStatus {
            video_bitrate: kbps(self.video_bytes),
            audio_bitrate: kbps(self.audio_bytes),
            video_fps: (self.video_frames as f64 / secs * 10.0).round() / 10.0,
            video_gop: (f64::from(self.gop_ms) / 100.0).round() / 10.0,
            net_speed: kbps(received.saturating_sub(self.received_at_start)),
            net_jitter: jitter.value.round() as u32,
            video_width: w,
            video_height: h,
            video_cache: ms(machine.buffered_kind(MediaKind::Video, now)),
            audio_cache: ms(machine.buffered_kind(MediaKind::Audio, now)),
            state: machine.state(),
            stalls: machine.stalls(),
            dropped_frames: machine.dropped_frames(),
        };
        self.since = now;
        self.received_at_start = received;
        self.video_bytes = 0;
        self.audio_bytes = 0;
        self.video_frames = 0;
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::machine::{Frame, PlayerConfig};

    fn video(ts: u32, keyframe: bool, bytes: usize) -> MediaInfo {
        MediaInfo {
            frame: Frame {
                kind: MediaKind::Video,
                keyframe,
                timestamp_ms: ts,
                width: None,
                height: None,
            },
            bytes,
            sei: Vec::new(),
        }
    }

    #[test]
    fn steady_frames_give_rates_gop_and_no_jitter() {
        let t0 = Instant::now();
        let mut m = NetMeter::new(t0);
        for i in 0..50u32 {
            let at = t0 + Duration::from_millis(u64::from(i) * 40);
            m.frame(&video(i * 40, i % 25 == 0, 5000), at);
        }
        let machine = PlayerMachine::new(PlayerConfig::default());
        let s = m.report(t0 + Duration::from_secs(2), 600_000, &machine);
        assert_eq!(s.video_bitrate, 1000);
        assert_eq!(s.video_fps, 25.0);
        assert_eq!(s.video_gop, 1.0);
        assert_eq!(s.net_speed, 2400);
        assert_eq!(s.net_jitter, 0);
        let json = serde_json::to_value(&s).unwrap();
        for key in [
            "videoBitrate",
            "videoFPS",
            "videoGOP",
            "netJitter",
            "videoCache",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
    }

    #[test]
    fn a_burst_shows_as_jitter() {
        let t0 = Instant::now();
        let mut m = NetMeter::new(t0);
        for i in 0..25u32 {
            m.frame(&video(i * 40, false, 100), t0);
        }
        let machine = PlayerMachine::new(PlayerConfig::default());
        assert!(
            m.report(t0 + Duration::from_secs(1), 0, &machine)
                .net_jitter
                > 20
        );
    }
}
