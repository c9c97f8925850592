//! The machine's settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Playback mode (live-player's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlayMode {
    /// Smooth playback through a jitter buffer between `min_cache` and `max_cache`.
    #[default]
    Live,
    /// Lowest latency: frames play as they arrive.
    Rtc,
}

/// Settings of the machine. The defaults are live-player's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerConfig {
    /// `live` or `rtc`.
    pub mode: PlayMode,
    /// Buffered media time needed before playback begins or resumes (live mode).
    pub min_cache: Duration,
    /// Buffered media time above which old frames are dropped (live mode).
    pub max_cache: Duration,
    /// Reconnects after failures in a row before giving up.
    pub retries: u32,
    /// Wait before a reconnect, and between asks for a stream that is not live yet.
    pub retry_interval: Duration,
    /// How long to wait for a stream that is not live yet; `None` waits until stopped.
    pub max_wait: Option<Duration>,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        Self {
            mode: PlayMode::Live,
            min_cache: Duration::from_secs(1),
            max_cache: Duration::from_secs(3),
            retries: 3,
            retry_interval: Duration::from_secs(1),
            max_wait: None,
        }
    }
}
