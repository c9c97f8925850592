//! Every limit of the room core, named, with the defaults of the wire contract.

use std::time::Duration;

/// The room core's limits and timings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Members per room (`rooms.max_members`, 10 as in voip-room).
    pub max_members: usize,
    /// Rooms an app may open per UTC day (`rooms.daily_room_quota`).
    pub daily_room_quota: u64,
    /// How far a join's `timeStamp` may be from the server clock, either way (`rooms.timestamp_window_secs`).
    pub timestamp_window_secs: u64,
    /// How often clients send heartbeats (`rooms.heartbeat_interval_ms`); told to each client on join.
    pub heartbeat_interval: Duration,
    /// Heartbeat intervals without any message before a member is interrupted (`rooms.missed_heartbeats`).
    pub missed_heartbeats: u32,
    /// How long a member whose socket dropped keeps its place for a `resume` (`rooms.resume_grace_secs`).
    pub resume_grace: Duration,
    /// Volume (0..100) at or above which a member counts as speaking (`rooms.speaker_threshold`).
    pub speaker_threshold: u8,
    /// How long a reported volume counts (`rooms.speaker_window_ms`).
    pub speaker_window: Duration,
    /// Least time between two `speakersChanged` of one room (300 ms in the contract).
    pub speakers_min_interval: Duration,
    /// Signed joins (signature and nonce) remembered per app inside the timestamp window
    /// (`rooms.max_nonces_per_app`); when full, joins of that app are refused until old ones expire, because
    /// forgetting one would allow its replay.
    pub max_nonces_per_app: usize,
    /// Longest accepted `nonceStr`, in characters (`rooms.max_nonce_chars`, 32 as WeChat's nonces). A nonce is
    /// 1 to this many of `[A-Za-z0-9_-]` (WeChat's letters and digits, plus `_` and `-` for UUID-like nonces);
    /// the bound keeps the replay memory small. Re-split joins are stopped by the replay memory of MACs, not by
    /// this rule (`docs/rooms-protocol.md`).
    pub max_nonce_chars: usize,
    /// Longest accepted `groupId` / `openId` / `appId`, in bytes.
    pub max_id_bytes: usize,
    /// Most openIds accepted in one `subscribeVideoMembers`.
    pub max_subscriptions: usize,
    /// Seed of the generator the core draws its randomness from (the secret that keys resume tokens). `None`
    /// (default): seeded from OS entropy, as a server must be. `Some(seed)`: a core given the same seed and
    /// inputs produces the same outputs, tokens included, for deterministic tests; never set it in production.
    pub rng_seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_members: 10,
            daily_room_quota: 100_000,
            timestamp_window_secs: 300,
            heartbeat_interval: Duration::from_millis(7000),
            missed_heartbeats: 3,
            resume_grace: Duration::from_secs(15),
            speaker_threshold: 20,
            speaker_window: Duration::from_millis(1500),
            speakers_min_interval: Duration::from_millis(300),
            max_nonces_per_app: 100_000,
            max_nonce_chars: 32,
            max_id_bytes: 128,
            max_subscriptions: 16,
            rng_seed: None,
        }
    }
}

impl Config {
    /// Silence after which a member is interrupted: `missed_heartbeats` intervals.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_interval * self.missed_heartbeats.max(1)
    }
}
