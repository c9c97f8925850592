//! The thresholds of the health rules (`[health]` in the server's settings).

use serde::{Deserialize, Serialize};

/// Every threshold of the health rules, with its default (close to Tencent CSS's push anomaly checks where Tencent
/// has one).
///
/// Deserializes with `#[serde(default)]` and refuses unknown fields: missing fields keep their defaults, a typo is
/// an error. [`HealthConfig::problem`] names the first value out of range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Evaluate the rules at all (default true). Off: no episodes, no webhooks, nothing per frame.
    pub enabled: bool,
    /// `video_gap`: no video frame has arrived for longer than this, in milliseconds of wall clock (default 3000,
    /// Tencent's type 6). Only for streams that have sent video.
    pub video_gap_ms: u64,
    /// `low_fps`: the video frame rate of the last two seconds (by timestamp) is under this fraction of the
    /// stream's own recent rate (default 0.5). The episode ends when the rate is back to halfway between this
    /// fraction and the recent rate.
    pub low_fps_ratio: f64,
    /// `bitrate_drop`: the payload bitrate (audio and video) of the last two seconds is under this fraction of
    /// the stream's own recent bitrate (default 0.25). Ends like `low_fps`.
    pub bitrate_drop_ratio: f64,
    /// The "recent" rate of `low_fps` and `bitrate_drop`: an average over about this many seconds of the
    /// stream's timestamps, frozen while an episode is open (default 10). The two rules start judging once half
    /// of it has been seen.
    pub rate_baseline_secs: u32,
    /// `long_gop`: more than this many milliseconds of video timestamps without a keyframe (default 10 000,
    /// Tencent's type 16). The episode ends at the first keyframe that closes a GOP within it.
    pub gop_max_ms: u64,
    /// `av_drift`: the audio and video timestamps disagree about the time by more than this, in milliseconds,
    /// measured against their arrival (default 1000). Ends once they agree within half of it.
    pub av_drift_ms: u64,
    /// `timestamp_backwards`: a frame's timestamp is below the previous one of its kind (Tencent's types 1 and 2).
    /// The episode ends after this many milliseconds without another one (default 5000).
    pub backwards_clear_ms: u64,
    /// Ended episodes the server keeps per stream for its statistics (default 20).
    pub recent_episodes: usize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            enabled: true,
            video_gap_ms: 3000,
            low_fps_ratio: 0.5,
            bitrate_drop_ratio: 0.25,
            rate_baseline_secs: 10,
            gop_max_ms: 10_000,
            av_drift_ms: 1000,
            backwards_clear_ms: 5000,
            recent_episodes: 20,
        }
    }
}

impl HealthConfig {
    /// The first value out of range: (field, as the server's settings name it, value, what is expected).
    pub fn problem(&self) -> Option<(&'static str, String, &'static str)> {
        let ratios = [
            ("health.low_fps_ratio", self.low_fps_ratio),
            ("health.bitrate_drop_ratio", self.bitrate_drop_ratio),
        ];
        if let Some((field, v)) = ratios.into_iter().find(|(_, v)| !(*v > 0.0 && *v < 1.0)) {
            return Some((field, v.to_string(), "a fraction above 0 and below 1"));
        }
        let bounds: [(&'static str, u64, u64, u64, &'static str); 6] = [
            // The gap is checked by a tick twice a second: a shorter one could not be seen in time.
            (
                "health.video_gap_ms",
                self.video_gap_ms,
                500,
                600_000,
                "500 to 600000",
            ),
            (
                "health.rate_baseline_secs",
                u64::from(self.rate_baseline_secs),
                2,
                3600,
                "2 to 3600",
            ),
            (
                "health.gop_max_ms",
                self.gop_max_ms,
                1000,
                600_000,
                "1000 to 600000",
            ),
            (
                "health.av_drift_ms",
                self.av_drift_ms,
                100,
                600_000,
                "100 to 600000",
            ),
            (
                "health.backwards_clear_ms",
                self.backwards_clear_ms,
                0,
                600_000,
                "0 to 600000",
            ),
            (
                "health.recent_episodes",
                self.recent_episodes as u64,
                0,
                1000,
                "0 to 1000",
            ),
        ];
        bounds
            .into_iter()
            .find(|(_, v, lo, hi, _)| !(lo..=hi).contains(&v))
            .map(|(field, v, _, _, expected)| (field, v.to_string(), expected))
    }
}
