//! `[rooms]`: every limit of the multi-party rooms at `/rooms/v1/ws` (docs/configuration.md).

use std::time::Duration;

use serde::Deserialize;

use crate::SettingsError;

/// Room limits and timings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsSettings {
    /// Members per room (default 10, as voip-room).
    pub max_members: usize,
    /// Rooms an app may open per UTC day (default 100 000); joining an open room does not count.
    pub daily_room_quota: u64,
    /// How far a join's `timeStamp` may be from the server clock, either way, in seconds (default 300). Used
    /// signatures and nonces are remembered until the timestamp leaves the window.
    pub timestamp_window_secs: u64,
    /// Signed joins (signature and nonce) remembered per app inside the window (default 100 000); when full,
    /// that app's joins are refused until old ones expire.
    pub max_nonces_per_app: usize,
    /// Longest `nonceStr`, in characters of `[A-Za-z0-9_-]` (default 32, at most 64).
    pub max_nonce_chars: usize,
    /// How often clients send heartbeats, in milliseconds (default 7000); told to each client when it joins.
    pub heartbeat_interval_ms: u64,
    /// Heartbeat intervals without any message before a member is interrupted (default 3).
    pub missed_heartbeats: u32,
    /// How long a member whose socket dropped keeps its place for a `resume`, in seconds (default 15).
    pub resume_grace_secs: u64,
    /// Largest text message accepted, in bytes (default 16 KiB); a larger one closes the socket with 1009.
    pub max_message_bytes: usize,
    /// Most simultaneous room sockets (default 20 000); further upgrades get 503.
    pub max_connections: usize,
    /// Messages queued for one socket before it counts as too slow and is closed (default 256).
    pub send_queue: usize,
    /// Volume (0..100) at or above which a member counts as speaking (default 20).
    pub speaker_threshold: u8,
    /// How long a reported volume counts, in milliseconds (default 1500).
    pub speaker_window_ms: u64,
    /// The app that carries members' streams, named by `rooms::stream_name` from (appId, groupId, openId)
    /// (default `room`; created at start with push auth on).
    pub media_app: String,
    /// How long the push URLs handed to members stay valid for connecting, in seconds (default 86 400).
    pub push_url_ttl_secs: u64,
    /// How often a member's live stream is looked at for audio/video presence, in milliseconds (default 1000).
    pub media_poll_ms: u64,
}

impl Default for RoomsSettings {
    fn default() -> Self {
        RoomsSettings {
            max_members: 10,
            daily_room_quota: 100_000,
            timestamp_window_secs: 300,
            max_nonces_per_app: 100_000,
            max_nonce_chars: 32,
            heartbeat_interval_ms: 7000,
            missed_heartbeats: 3,
            resume_grace_secs: 15,
            max_message_bytes: 16 * 1024,
            max_connections: 20_000,
            send_queue: 256,
            speaker_threshold: 20,
            speaker_window_ms: 1500,
            media_app: "room".into(),
            push_url_ttl_secs: 86_400,
            media_poll_ms: 1000,
        }
    }
}

impl RoomsSettings {
    /// The room core's configuration.
    pub(crate) fn core_config(&self) -> rooms::Config {
        rooms::Config {
            max_members: self.max_members,
            daily_room_quota: self.daily_room_quota,
            timestamp_window_secs: self.timestamp_window_secs,
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
            missed_heartbeats: self.missed_heartbeats,
            resume_grace: Duration::from_secs(self.resume_grace_secs),
            speaker_threshold: self.speaker_threshold,
            speaker_window: Duration::from_millis(self.speaker_window_ms),
            max_nonces_per_app: self.max_nonces_per_app,
            max_nonce_chars: self.max_nonce_chars,
            ..rooms::Config::default()
        }
    }

    /// Checks the values that would make rooms misbehave.
    // Long on purpose: a table of bounds, one row per setting, then the few checks that relate two settings.
    pub(crate) fn validate(&self) -> Result<(), SettingsError> {
        let checks: [(&'static str, u64, u64, u64, &'static str); 10] = [
            (
                "rooms.max_nonce_chars",
                self.max_nonce_chars as u64,
                1,
                64,
                "1 to 64",
            ),
            (
                "rooms.max_members",
                self.max_members as u64,
                1,
                1000,
                "1 to 1000",
            ),
            (
                "rooms.timestamp_window_secs",
                self.timestamp_window_secs,
                1,
                86_400,
                "1 to 86400",
            ),
            (
                "rooms.heartbeat_interval_ms",
                self.heartbeat_interval_ms,
                100,
                600_000,
                "100 to 600000",
            ),
            (
                "rooms.missed_heartbeats",
                u64::from(self.missed_heartbeats),
                1,
                100,
                "1 to 100",
            ),
            (
                "rooms.resume_grace_secs",
                self.resume_grace_secs,
                0,
                3600,
                "0 to 3600",
            ),
            (
                "rooms.max_message_bytes",
                self.max_message_bytes as u64,
                256,
                1 << 20,
                "256 to 1048576",
            ),
            (
                "rooms.send_queue",
                self.send_queue as u64,
                8,
                65_536,
                "8 to 65536",
            ),
            (
                "rooms.speaker_threshold",
                u64::from(self.speaker_threshold),
                0,
                100,
                "0 to 100",
            ),
            (
                "rooms.media_poll_ms",
                self.media_poll_ms,
                50,
                60_000,
                "50 to 60000",
            ),
        ];
        for (field, value, min, max, expected) in checks {
            if !(min..=max).contains(&value) {
                return Err(SettingsError::Invalid {
                    field,
                    value: value.to_string(),
                    expected,
                });
            }
        }
        if self.max_connections == 0 || self.max_nonces_per_app == 0 {
            return Err(SettingsError::Invalid {
                field: "rooms.max_connections / rooms.max_nonces_per_app",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if control::store::validate_stream_name(&self.media_app).is_err()
            || self.media_app.contains('.')
        {
            return Err(SettingsError::Invalid {
                field: "rooms.media_app",
                value: self.media_app.clone(),
                expected: "an app name: letters, digits, '_' and '-'",
            });
        }
        Ok(())
    }
}
