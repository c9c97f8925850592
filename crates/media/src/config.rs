//! The hub's settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Every bound of the hub, with its default.
///
/// Deserializes with `#[serde(default)]`: missing fields keep their defaults. Durations are written as integer
/// milliseconds under a `_ms` name (`subscriber_max_lag_ms = 3000`), the other fields under their own names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HubConfig {
    /// Keep the frames since the last keyframe, so a new player starts with a picture at once. Off: new players
    /// wait for the next keyframe.
    pub gop_cache: bool,
    /// Largest GOP cache in payload bytes; past it the cache is dropped until the next keyframe.
    pub gop_cache_max_bytes: usize,
    /// Largest GOP cache in frames (audio included); past it the cache is dropped until the next keyframe.
    pub gop_cache_max_frames: usize,
    /// Frames kept in the ring shared by the subscribers of a stream (at least 1). A subscriber that falls out
    /// of it skips to the next keyframe. Frames older than the lag bounds are released earlier.
    pub ring_capacity: usize,
    /// Largest backlog of a subscriber, measured by timestamp (newest published frame minus the next frame it
    /// would receive); past it the subscriber skips to the next keyframe.
    #[serde(rename = "subscriber_max_lag_ms", with = "millis")]
    pub subscriber_max_lag: Duration,
    /// Largest backlog of a subscriber in payload bytes published after the next frame it would receive.
    pub subscriber_max_lag_bytes: u64,
    /// A publisher that has pushed nothing for this long may be replaced by a new publish of the same stream.
    #[serde(rename = "publisher_idle_takeover_ms", with = "millis")]
    pub publisher_idle_takeover: Duration,
    /// How long the players of a stream stay attached after its publisher left, waiting for it to come back.
    #[serde(rename = "republish_grace_ms", with = "millis")]
    pub republish_grace: Duration,
    /// Most streams (live or in grace) at once; further publishes are refused.
    pub max_streams: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            gop_cache: true,
            gop_cache_max_bytes: 16 << 20,
            gop_cache_max_frames: 4096,
            ring_capacity: 1024,
            subscriber_max_lag: Duration::from_secs(3),
            subscriber_max_lag_bytes: 8 << 20,
            publisher_idle_takeover: Duration::from_secs(5),
            republish_grace: Duration::from_secs(15),
            max_streams: 10_000,
        }
    }
}

impl HubConfig {
    /// The configuration the hub actually uses: `ring_capacity` raised to at least 1.
    pub(crate) fn normalized(mut self) -> HubConfig {
        self.ring_capacity = self.ring_capacity.max(1);
        self
    }
}

/// Serde adapter: a [`Duration`] as integer milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
