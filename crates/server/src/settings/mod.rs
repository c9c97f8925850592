//! Every limit and knob of the server, with its default. Read from TOML (`--config`), then overridden by flags and
//! `MPLIVE_*` environment variables in the CLI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use media::HubConfig;
use serde::Deserialize;

pub(crate) mod listen;
pub use listen::parse_listen_addr;

/// Server settings. Every field has a default, so an empty TOML file (or none) is a valid configuration.
///
/// `Debug` leaves out the admin token and the database URL's password.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// RTMP listen address (default `0.0.0.0:1935`; port 0 picks a free port; `:PORT` and `HOST:PORT` too).
    #[serde(deserialize_with = "listen::deserialize")]
    pub rtmp_addr: SocketAddr,
    /// HTTP listen address for HTTP-FLV and the API (default `0.0.0.0:8080`).
    #[serde(deserialize_with = "listen::deserialize")]
    pub http_addr: SocketAddr,
    /// Directory for persistent state (default `./mplive-data`).
    pub data_dir: PathBuf,
    /// Host name printed in URLs (default: `127.0.0.1`). Set it to the address players use to reach this server.
    pub public_host: String,
    /// The RTMP port printed in URLs, when clients reach the server through a port other than the bound one (a
    /// NAT or TCP proxy); default: the bound port.
    pub public_rtmp_port: Option<u16>,
    /// The HTTP(S) port printed in URLs, when clients come through a reverse proxy (e.g. 443); default: the bound
    /// port.
    pub public_http_port: Option<u16>,
    /// Whether URLs say `https` (a TLS-terminating proxy in front); default: whether this server has a
    /// certificate.
    pub public_https: Option<bool>,
    /// Tokio worker threads (default: number of cores).
    pub workers: Option<usize>,
    /// Most simultaneous RTMP connections; further ones are closed at once (default 10 000).
    pub max_rtmp_connections: usize,
    /// Most simultaneous HTTP-FLV players (default 10 000).
    pub max_flv_players: usize,
    /// Most simultaneous HTTP connections, players included; further ones are closed at once (default 10 000).
    pub max_http_connections: usize,
    /// Most simultaneous connections one client address (an IPv4 address, an IPv6 /64) may hold on each
    /// listener, RTMP and HTTP counted apart (default 500; 0 = no bound). Further RTMP connections are closed at
    /// once, further HTTP ones answered 429. Generous because carrier-grade NAT puts hundreds of phones behind
    /// one IPv4 address; it stops one host from taking every place under `max_rtmp_connections` /
    /// `max_http_connections`. Behind a proxy that hides client addresses, set 0 (every client is the proxy).
    pub max_connections_per_address: usize,
    /// Kernel send buffer of each accepted socket, in bytes (default 256 KiB; 0 keeps the kernel's
    /// autotuning, which grows to several MiB per socket). It bounds kernel memory per player and how long a
    /// stalled player hides in socket buffers before the hub sees it lag.
    pub socket_send_buffer: usize,
    /// How often freed heap memory the C allocator keeps is handed back to the kernel, in seconds (default 60;
    /// 0 = never). Without it, RSS keeps the high-water mark of every burst of connections.
    pub memory_trim_secs: u64,
    /// Allocations from this many bytes up get their own pages from the kernel, returned when freed (default
    /// 128 KiB; 0 keeps glibc's dynamic threshold, which rises after large blocks are freed and lets them
    /// fragment the arenas: RSS then creeps up over hours although the heap in use is flat). At most 32 MiB.
    pub memory_mmap_threshold: usize,
    /// RTMP protocol limits.
    pub rtmp: RtmpSettings,
    /// Stream hub limits (GOP cache, backlog bounds, grace, takeover, max streams).
    pub hub: HubConfig,
    /// Write policy of players in the default (`live`) mode: frames are merged for this many milliseconds and
    /// written in one system call (default 80 ms). `?mode=rtc` players always write each frame at once.
    pub merge_write_ms: u64,
    /// A publisher that sends no media for this long is closed (default 70 s, as Tencent CSS). A 1 fps
    /// waiting-image stream is far inside it.
    pub publisher_timeout_secs: u64,
    /// A connection that neither publishes nor plays and sends nothing for this long is closed (default 30 s).
    pub idle_timeout_secs: u64,
    /// An HTTP client has this long to send a request head, the first one and each one on a kept-alive
    /// connection; then the connection is closed (default 10 s). Bounds idle and slow-header connections.
    pub http_header_timeout_secs: u64,
    /// How long shutdown waits for connections to finish before it gives up (default 5 s).
    pub shutdown_timeout_secs: u64,
    /// Where apps, channels, forbids and the webhook outbox live: `postgres://user:pass@host/db`, or `sqlite://FILE`.
    /// Default: the SQLite file `mplive.db` in `data_dir`.
    pub database_url: Option<String>,
    /// The admin token; `None` (the default) keeps the one created at first start (`{data_dir}/admin-token`). Set
    /// from `MPLIVE_ADMIN_TOKEN`, never from the configuration file, so it is not written down twice.
    #[serde(skip)]
    pub admin_token: Option<String>,
    /// Largest API request body in bytes (default 64 KiB).
    pub max_body_bytes: usize,
    /// How long a push URL handed out by the SDK endpoints stays valid for connecting, in seconds (default 3600).
    /// The SDK fetches a fresh one before every reconnect.
    pub sdk_url_ttl_secs: u64,
    /// The longest a signed push or play URL may stay valid, in seconds (default 30 days): a `txTime` further
    /// ahead than this is refused (`signature_ttl_too_long`), so a leaked URL stops working within this time
    /// whoever signed it. `mplive url` refuses to sign longer ones.
    pub max_url_ttl_secs: u64,
    /// How often the server looks for app changes made by another process (`mplive app set`), in milliseconds
    /// (default 1000).
    pub catalog_refresh_ms: u64,
    /// Webhook delivery.
    pub webhooks: crate::ops::webhooks::WebhookSettings,
    /// Interruption records of ended pushes (`[interruptions]`): how long they are kept.
    pub interruptions: crate::ops::interruptions::InterruptionSettings,
    /// Classic HLS (MPEG-TS segments) at `/{app}/{stream}.m3u8`.
    pub hls: HlsSettings,
    /// Recording (`[record]`): where files go, their names, how long each is.
    pub record: crate::output::record::RecordSettings,
    /// Multi-party rooms (`[rooms]`) at `/rooms/v1/ws`: sizes, quotas, heartbeats, speakers.
    pub rooms: crate::rooms_ws::RoomsSettings,
    /// PEM certificate chain (server certificate first) for HTTPS on the HTTP listener. Set with `tls_key`; when
    /// both are unset (the default) the listener speaks plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), unencrypted.
    pub tls_key: Option<PathBuf>,
    /// How often the TLS files are checked for changes, in seconds; changed files are loaded for new connections
    /// (default 5; 0 never checks; at most 86 400).
    pub tls_reload_secs: u64,
    /// Cluster mode (`[cluster]`): off unless `cluster.redis_url` is set.
    pub cluster: crate::cluster::ClusterSettings,
    /// Stream health rules (`[health]`): anomaly episodes, their webhooks and metric.
    pub health: media::health::HealthConfig,
    /// WebRTC playback (`[webrtc]`, WHEP): its UDP port, advertised addresses and limits.
    pub webrtc: crate::webrtc::WebrtcSettings,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("rtmp_addr", &self.rtmp_addr)
            .field("http_addr", &self.http_addr)
            .field("data_dir", &self.data_dir)
            .field("public_host", &self.public_host)
            .field("public_rtmp_port", &self.public_rtmp_port)
            .field("public_http_port", &self.public_http_port)
            .field("public_https", &self.public_https)
            .field("workers", &self.workers)
            .field("max_rtmp_connections", &self.max_rtmp_connections)
            .field("max_flv_players", &self.max_flv_players)
            .field("max_http_connections", &self.max_http_connections)
            .field(
                "max_connections_per_address",
                &self.max_connections_per_address,
            )
            .field("socket_send_buffer", &self.socket_send_buffer)
            .field("memory_trim_secs", &self.memory_trim_secs)
            .field("memory_mmap_threshold", &self.memory_mmap_threshold)
            .field("rtmp", &self.rtmp)
            .field("hub", &self.hub)
            .field("merge_write_ms", &self.merge_write_ms)
            .field("publisher_timeout_secs", &self.publisher_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("http_header_timeout_secs", &self.http_header_timeout_secs)
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(control::store::redact_db_url),
            )
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("sdk_url_ttl_secs", &self.sdk_url_ttl_secs)
            .field("max_url_ttl_secs", &self.max_url_ttl_secs)
            .field("catalog_refresh_ms", &self.catalog_refresh_ms)
            .field("webhooks", &self.webhooks)
            .field("interruptions", &self.interruptions)
            .field("hls", &self.hls)
            .field("record", &self.record)
            .field("rooms", &self.rooms)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_reload_secs", &self.tls_reload_secs)
            .field("cluster", &self.cluster)
            .field("health", &self.health)
            .field("webrtc", &self.webrtc)
            .finish()
    }
}

/// HLS (classic and low-latency): how segments and parts are cut and kept, and how long a stream's segmenter
/// lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlsSettings {
    /// A segment is cut at the first keyframe once it is this long, in milliseconds (default 2000; audio-only
    /// streams are cut by duration alone).
    pub target_duration_ms: u64,
    /// Segments listed in the playlist and kept in memory per stream (default 6).
    pub window: usize,
    /// A stream's segmenter stops after this many seconds without a playlist or segment request (default 30).
    pub idle_timeout_secs: u64,
    /// Segment every live stream from its publish on, not only from the first playlist request (default false):
    /// the first player then gets a full window at once, at the cost of segmenting streams nobody watches.
    pub always: bool,
    /// Serve low-latency HLS (fMP4 parts, `/{app}/{stream}/ll.m3u8`) beside the classic playlist (default true).
    pub low_latency: bool,
    /// LL-HLS: no part is longer than this, in milliseconds (default 334, `EXT-X-PART-INF:PART-TARGET`; players
    /// stay about three parts behind the live edge).
    pub part_target_ms: u64,
    /// Most HLS viewers (address + `User-Agent` pairs) one client address (an IPv6 /64) holds over all streams;
    /// a new one beyond it is answered 429 (default 8; 0 = no bound, e.g. behind a proxy that hides addresses).
    pub max_viewers_per_address: usize,
}

impl Default for HlsSettings {
    fn default() -> Self {
        HlsSettings {
            target_duration_ms: 2000,
            window: 6,
            idle_timeout_secs: 30,
            always: false,
            low_latency: true,
            part_target_ms: 334,
            max_viewers_per_address: 8,
        }
    }
}

/// RTMP protocol limits (see `rtmp::SessionConfig`). The message bounds are per message type and checked at the
/// chunk header, before any payload is waited for: a peer cannot announce a message larger than its type needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpSettings {
    /// Largest chunk size a peer may announce (default 65 536).
    pub max_chunk_size: u32,
    /// Chunk size we send with (default 4096).
    pub out_chunk_size: u32,
    /// Largest video (type 9) or aggregate (type 22) message a peer may send (default 16 MiB: a 4K keyframe can
    /// be several MiB). Was `max_message_size`, which is still read as this.
    #[serde(alias = "max_message_size")]
    pub max_video_message_size: u32,
    /// Largest audio message (type 8) a peer may send (default 1 MiB; an AAC or Opus frame is at most a few KiB).
    pub max_audio_message_size: u32,
    /// Largest script data message (types 15, 18: `@setDataFrame`, `onMetaData`, cue points; default 64 KiB).
    pub max_script_message_size: u32,
    /// Largest command (types 17, 20: connect, publish, play...; default 64 KiB): these carry names and URLs,
    /// never media, so a small bound keeps a client from sending megabytes of stream name.
    pub max_command_size: u32,
    /// Largest shared-object message (types 16, 19; default 64 KiB): no live streaming client uses them.
    pub max_shared_object_size: u32,
    /// Longest string in `connect` (app, tcUrl, flashVer, swfUrl, pageUrl, any other property, nested ones too)
    /// and in the arguments of `publish` and `play` (default 4096 bytes: a signed query string fits easily).
    /// Longer: the command is refused with a status naming the field, and the connection is closed.
    pub max_field_bytes: u32,
    /// Most chunk streams a peer may open (default 64).
    pub max_chunk_streams: usize,
    /// Time a client has to finish the handshake (default 10 s).
    pub handshake_timeout_secs: u64,
}

impl Default for RtmpSettings {
    fn default() -> Self {
        let d = rtmp::SessionConfig::default();
        let l = d.message_limits;
        Self {
            max_chunk_size: d.max_chunk_size,
            out_chunk_size: d.out_chunk_size,
            max_video_message_size: l.video,
            max_audio_message_size: l.audio,
            max_script_message_size: l.script,
            max_command_size: l.command,
            max_shared_object_size: l.shared_object,
            max_field_bytes: d.max_field_bytes,
            max_chunk_streams: d.max_chunk_streams,
            handshake_timeout_secs: d.handshake_timeout.as_secs(),
        }
    }
}

impl RtmpSettings {
    /// The session configuration these settings describe.
    pub fn session_config(&self) -> rtmp::SessionConfig {
        rtmp::SessionConfig {
            max_chunk_size: self.max_chunk_size,
            out_chunk_size: self.out_chunk_size,
            message_limits: rtmp::MessageLimits {
                video: self.max_video_message_size,
                audio: self.max_audio_message_size,
                script: self.max_script_message_size,
                command: self.max_command_size,
                shared_object: self.max_shared_object_size,
            },
            max_field_bytes: self.max_field_bytes,
            max_chunk_streams: self.max_chunk_streams,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            ..rtmp::SessionConfig::default()
        }
    }

    /// The first message bound out of its range: (setting, value, what is expected).
    fn problem(&self) -> Option<(&'static str, u32, &'static str)> {
        // Below 1 KiB, real clients' connect commands and sequence headers would not fit.
        let sizes = [
            ("rtmp.max_video_message_size", self.max_video_message_size),
            ("rtmp.max_audio_message_size", self.max_audio_message_size),
            ("rtmp.max_script_message_size", self.max_script_message_size),
            ("rtmp.max_command_size", self.max_command_size),
            ("rtmp.max_shared_object_size", self.max_shared_object_size),
        ];
        if let Some((field, value)) = sizes.into_iter().find(|(_, v)| *v < 1024) {
            return Some((field, value, "at least 1024"));
        }
        if !(256..=self.max_command_size).contains(&self.max_field_bytes) {
            return Some((
                "rtmp.max_field_bytes",
                self.max_field_bytes,
                "256 up to rtmp.max_command_size",
            ));
        }
        None
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rtmp_addr: SocketAddr::from(([0, 0, 0, 0], 1935)),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            data_dir: PathBuf::from("mplive-data"),
            public_host: "127.0.0.1".to_string(),
            public_rtmp_port: None,
            public_http_port: None,
            public_https: None,
            workers: None,
            max_rtmp_connections: 10_000,
            max_flv_players: 10_000,
            max_http_connections: 10_000,
            max_connections_per_address: 500,
            socket_send_buffer: 256 * 1024,
            memory_trim_secs: 60,
            memory_mmap_threshold: 128 * 1024,
            rtmp: RtmpSettings::default(),
            hub: HubConfig::default(),
            merge_write_ms: 80,
            publisher_timeout_secs: 70,
            idle_timeout_secs: 30,
            http_header_timeout_secs: 10,
            shutdown_timeout_secs: 5,
            database_url: None,
            admin_token: None,
            max_body_bytes: 64 * 1024,
            sdk_url_ttl_secs: 3600,
            max_url_ttl_secs: 30 * 86_400,
            catalog_refresh_ms: 1000,
            webhooks: crate::ops::webhooks::WebhookSettings::default(),
            interruptions: crate::ops::interruptions::InterruptionSettings::default(),
            hls: HlsSettings::default(),
            record: crate::output::record::RecordSettings::default(),
            rooms: crate::rooms_ws::RoomsSettings::default(),
            tls_cert: None,
            tls_key: None,
            tls_reload_secs: 5,
            cluster: crate::cluster::ClusterSettings::default(),
            health: media::health::HealthConfig::default(),
            webrtc: crate::webrtc::WebrtcSettings::default(),
        }
    }
}

impl Settings {
    /// Parses settings from TOML text; unknown keys are an error so typos do not pass silently.
    pub fn from_toml(text: &str) -> Result<Self, SettingsError> {
        let settings: Settings =
            toml::from_str(text).map_err(|e| SettingsError::Toml(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that would make the server misbehave.
    // Long on purpose: one flat list of independent checks, one per setting, in the order of the settings file.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let r = &self.rtmp;
        if !(128..=0x7fff_ffff).contains(&r.out_chunk_size) {
            return Err(SettingsError::Invalid {
                field: "rtmp.out_chunk_size",
                value: r.out_chunk_size.to_string(),
                expected: "128 to 2147483647",
            });
        }
        if r.max_chunk_size < 128 {
            return Err(SettingsError::Invalid {
                field: "rtmp.max_chunk_size",
                value: r.max_chunk_size.to_string(),
                expected: "at least 128",
            });
        }
        if let Some((field, value, expected)) = r.problem() {
            return Err(SettingsError::Invalid {
                field,
                value: value.to_string(),
                expected,
            });
        }
        if self.max_url_ttl_secs < 60 {
            return Err(SettingsError::Invalid {
                field: "max_url_ttl_secs",
                value: self.max_url_ttl_secs.to_string(),
                expected: "at least 60",
            });
        }
        for (field, ttl) in [
            ("sdk_url_ttl_secs", self.sdk_url_ttl_secs),
            ("rooms.push_url_ttl_secs", self.rooms.push_url_ttl_secs),
        ] {
            if ttl > self.max_url_ttl_secs {
                return Err(SettingsError::Invalid {
                    field,
                    value: ttl.to_string(),
                    expected:
                        "at most max_url_ttl_secs (the server would refuse the URLs it hands out)",
                });
            }
        }
        if self.memory_mmap_threshold > 32 << 20 {
            return Err(SettingsError::Invalid {
                field: "memory_mmap_threshold",
                value: self.memory_mmap_threshold.to_string(),
                expected: "0 (glibc's dynamic threshold) to 33554432 (32 MiB)",
            });
        }
        if self.merge_write_ms > 1000 {
            return Err(SettingsError::Invalid {
                field: "merge_write_ms",
                value: self.merge_write_ms.to_string(),
                expected: "0 to 1000",
            });
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(SettingsError::TlsHalf {
                    set: "tls_cert",
                    missing: "tls_key",
                })
            }
            (None, Some(_)) => {
                return Err(SettingsError::TlsHalf {
                    set: "tls_key",
                    missing: "tls_cert",
                })
            }
            _ => {}
        }
        // Bounded so the check timer's deadlines cannot overflow; a day is already far longer than useful.
        if self.tls_reload_secs > 86_400 {
            return Err(SettingsError::Invalid {
                field: "tls_reload_secs",
                value: self.tls_reload_secs.to_string(),
                expected: "0 (never check) to 86400",
            });
        }
        if !(100..=60_000).contains(&self.hls.target_duration_ms) {
            return Err(SettingsError::Invalid {
                field: "hls.target_duration_ms",
                value: self.hls.target_duration_ms.to_string(),
                expected: "100 to 60000",
            });
        }
        if self.hls.part_target_ms < 50 || self.hls.part_target_ms > self.hls.target_duration_ms {
            return Err(SettingsError::Invalid {
                field: "hls.part_target_ms",
                value: self.hls.part_target_ms.to_string(),
                expected: "50 up to hls.target_duration_ms",
            });
        }
        if !(1..=100).contains(&self.hls.window) {
            return Err(SettingsError::Invalid {
                field: "hls.window",
                value: self.hls.window.to_string(),
                expected: "1 to 100",
            });
        }
        if self.hls.idle_timeout_secs == 0 {
            return Err(SettingsError::Invalid {
                field: "hls.idle_timeout_secs",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if self.hub.ring_capacity == 0 {
            return Err(SettingsError::Invalid {
                field: "hub.ring_capacity",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if !(1024..=16 << 20).contains(&self.max_body_bytes) {
            return Err(SettingsError::Invalid {
                field: "max_body_bytes",
                value: self.max_body_bytes.to_string(),
                expected: "1024 to 16777216",
            });
        }
        if !(10..=600_000).contains(&self.catalog_refresh_ms) {
            return Err(SettingsError::Invalid {
                field: "catalog_refresh_ms",
                value: self.catalog_refresh_ms.to_string(),
                expected: "10 to 600000",
            });
        }
        self.rooms.validate()?;
        if let Some((field, value, expected)) = self.record.problem() {
            return Err(SettingsError::Invalid {
                field,
                value,
                expected,
            });
        }
        self.cluster.validate()?;
        self.webrtc.validate()?;
        if let Some((field, value, expected)) = self.health.problem() {
            return Err(SettingsError::Invalid {
                field,
                value,
                expected,
            });
        }
        if self.webhooks.max_attempts == 0 {
            return Err(SettingsError::Invalid {
                field: "webhooks.max_attempts",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        Ok(())
    }

    /// The database to use: `database_url`, or the SQLite file in `data_dir`.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| control::Store::sqlite_url(&self.data_dir))
    }

    /// The merge window of the default write policy.
    pub fn merge_window(&self) -> Duration {
        Duration::from_millis(self.merge_write_ms)
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The TOML text did not parse or had unknown keys.
    #[error("configuration file: {0}")]
    Toml(String),
    /// A value is out of range.
    #[error("setting {field} = {value} is out of range (expected {expected})")]
    Invalid {
        /// The setting's name.
        field: &'static str,
        /// The value given.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// Cluster mode asked for with the embedded SQLite database.
    #[error("cluster mode (redis_url, --redis-url) needs a database every node shares: set database_url (--database-url) to postgres://...; SQLite is one node's file")]
    ClusterNeedsPostgres,
    /// Only one of the two TLS files is set.
    #[error("{set} is set but {missing} is not: HTTPS needs both the certificate chain (tls_cert, --tls-cert) and its private key (tls_key, --tls-key); set both, or neither for plain HTTP")]
    TlsHalf {
        /// The setting given.
        set: &'static str,
        /// The setting missing.
        missing: &'static str,
    },
}

#[cfg(test)]
mod tests;
