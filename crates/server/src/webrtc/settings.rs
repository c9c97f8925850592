//! `[webrtc]`: WHEP playback's UDP socket and ICE-TCP listener, advertised addresses and limits
//! (docs/configuration.md).

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use crate::SettingsError;

/// Which timestamp a video RTP packet carries (docs/webrtc.md, "B-frames").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VideoTimestamps {
    /// The presentation time (DTS + composition offset), as RFC 6184 says: correct with or without B-frames.
    #[default]
    Pts,
    /// The decode time: monotonic in sending order; with B-frames Chromium then shows pictures at the wrong
    /// instants. Kept for comparison measurements.
    Dts,
}

/// What WHEP does with a stream whose H.264 has B-frames, which browsers' WebRTC decoders do not play
/// (docs/webrtc.md, "B-frames").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BFrames {
    /// Re-encode the stream's video without B-frames, once per stream for all its WebRTC viewers (OpenH264,
    /// Constrained Baseline); other players keep the original.
    #[default]
    Transcode,
    /// Refuse offers (406 `b_frames`) and end sessions when a stream starts sending B-frames.
    Refuse,
    /// Send the pictures as they are (Chromium then shows about a keyframe a second): for measurements.
    Pass,
}

/// Re-encoding of B-frame streams for WebRTC (`[webrtc.transcode]`, docs/webrtc.md "B-frames").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscodeSettings {
    /// Streams re-encoded at once on this server (default 4, 1 to 1024): each takes about a tenth of a core at
    /// 540x960 25 fps and more for larger pictures. Offers for further B-frame streams get 503
    /// `too_many_transcodes`.
    pub max_streams: usize,
    /// Target bitrate of the re-encoded video in bits/s; 0 (default) follows the source's, measured over each GOP
    /// (100000 to 50000000 otherwise).
    pub bitrate_bps: u32,
    /// A re-encoding without WebRTC viewers stops after this many seconds (default 10, 1 to 3600), so a viewer
    /// who reloads the page finds it still running.
    pub idle_secs: u64,
    /// Frames queued from the stream to its re-encoder (default 512, 16 to 65536); when the re-encoder cannot keep
    /// up it lags and skips to the next keyframe as a player would.
    pub queue: usize,
}

impl Default for TranscodeSettings {
    fn default() -> Self {
        TranscodeSettings {
            max_streams: 4,
            bitrate_bps: 0,
            idle_secs: 10,
            queue: 512,
        }
    }
}

impl TranscodeSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let bad = |field, value: String, expected| {
            Err(SettingsError::Invalid {
                field,
                value,
                expected,
            })
        };
        if !(1..=1024).contains(&self.max_streams) {
            return bad(
                "webrtc.transcode.max_streams",
                self.max_streams.to_string(),
                "1 to 1024",
            );
        }
        if self.bitrate_bps != 0 && !(100_000..=50_000_000).contains(&self.bitrate_bps) {
            return bad(
                "webrtc.transcode.bitrate_bps",
                self.bitrate_bps.to_string(),
                "0 (the source's) or 100000 to 50000000",
            );
        }
        if !(1..=3600).contains(&self.idle_secs) {
            return bad(
                "webrtc.transcode.idle_secs",
                self.idle_secs.to_string(),
                "1 to 3600",
            );
        }
        if !(16..=65_536).contains(&self.queue) {
            return bad(
                "webrtc.transcode.queue",
                self.queue.to_string(),
                "16 to 65536",
            );
        }
        Ok(())
    }
}

/// WebRTC playback (WHEP).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebrtcSettings {
    /// Serve WHEP at `POST /{app}/{stream}/whep` (default true).
    pub enabled: bool,
    /// The one UDP socket every WebRTC session uses; port 0 picks a free one. Default: the HTTP listener's
    /// address with the HTTP port + 109 (8189 for the default 8080), so that several servers on one host, each
    /// with its own HTTP port (a cluster tried on one machine), each get their own UDP port; port 0 when the HTTP
    /// port is 0 (servers started by tests and benchmarks).
    #[serde(deserialize_with = "deserialize_addr")]
    pub udp_addr: Option<SocketAddr>,
    /// The addresses put in the answer's host candidates, with the UDP port (default: `public_host` when it is
    /// an IP address or resolves to one, else the bound address). Set it behind a NAT to the public address.
    pub candidate_ips: Vec<IpAddr>,
    /// The UDP port put in the candidates when a NAT maps another one to `udp_addr` (default: the bound port).
    pub public_udp_port: Option<u16>,
    /// Put the UDP candidates in answers (default true). `false` leaves only the ICE-TCP candidates, so browsers
    /// must play over TCP: for tests and UDP-blocked deployments (docs/webrtc.md, "TCP").
    pub udp_candidates: bool,
    /// Listen for ICE-TCP (RFC 6544 passive candidates, RFC 4571 framing) for browsers whose network blocks UDP
    /// (default true).
    pub tcp_enabled: bool,
    /// The ICE-TCP listener. Default: the HTTP listener's address with the HTTP port + 109, as `udp_addr` but
    /// TCP (8189 for 8080; port 0 when the HTTP port is 0); a taken default gives way to a free port with a
    /// warning, a set address that is taken fails the start.
    #[serde(deserialize_with = "deserialize_addr")]
    pub tcp_addr: Option<SocketAddr>,
    /// The TCP port put in the candidates when a NAT or proxy maps another one to `tcp_addr` (default: the
    /// bound port).
    pub public_tcp_port: Option<u16>,
    /// Most ICE-TCP connections open at once (default 1000); further connections are closed at accept.
    pub tcp_max_connections: usize,
    /// Largest RFC 4571 frame a peer may send, in bytes (default 1500: a browser sends what it would put in a
    /// UDP datagram, about 1200); a longer length prefix closes the connection.
    pub tcp_max_frame: usize,
    /// An ICE-TCP connection that has not sent a STUN check naming a WHEP session this long after it opened is
    /// closed, in seconds (default 10).
    pub tcp_stun_timeout_secs: u64,
    /// Packets queued from the UDP task to one ICE-TCP connection's writer (default 256); when the connection
    /// cannot take more, further packets are dropped (NACK and keyframes repair), never waited for.
    pub tcp_send_queue: usize,
    /// Most simultaneous WHEP sessions on this server (default 1000); further offers are answered 503.
    pub max_sessions: usize,
    /// A session whose browser has not connected (ICE and DTLS) this long after its answer is dropped, in
    /// seconds (default 15).
    pub connect_timeout_secs: u64,
    /// A connected session that loses its browser (no ICE consent, DTLS closed) for this long is dropped, in
    /// seconds (default 10).
    pub disconnect_timeout_secs: u64,
    /// Frames queued between the hub and the UDP task per session before the session waits; past the hub's lag
    /// bounds it then skips to the next keyframe like any player (default 256).
    pub session_queue: usize,
    /// How long a WHEP session keeps the video packets it sent to answer the browser's NACKs, in ms (default
    /// 1000; 100 to 10000). Longer repairs losses on slower paths, and costs memory per session: about the
    /// stream's bitrate times this.
    pub nack_history_ms: u64,
    /// Video RTP timestamps: `pts` (default) or `dts` (docs/webrtc.md, "B-frames").
    pub video_timestamps: VideoTimestamps,
    /// Streams with B-frames: `transcode` (default), `refuse` or `pass` (docs/webrtc.md, "B-frames").
    pub b_frames: BFrames,
    /// How B-frame streams are re-encoded (`[webrtc.transcode]`).
    pub transcode: TranscodeSettings,
    /// Opus bitrate of a stereo stream's audio in bits/s, a mono stream getting half (default 64000; 6000 to
    /// 512000). Each stream's AAC is transcoded once for all its WebRTC viewers.
    pub opus_bitrate_bps: u32,
    /// Opus encoder complexity, 0 to 10 (default 9): lower costs less CPU per stream for a little quality.
    pub opus_complexity: u8,
    /// Opus packets remembered per stream, by AAC frame (default 512, about 12 s of 44.1 kHz AAC): a viewer
    /// further behind the stream's first viewer than this (a new one replaying a long GOP) misses that audio.
    pub opus_cache_frames: usize,
    /// WHIP ingest: browsers publishing (`[webrtc.whip]`).
    pub whip: WhipSettings,
}

/// WHIP ingest (`[webrtc.whip]`, docs/webrtc.md "Publishing (WHIP)"): a browser publishes H.264 + Opus at
/// `POST /{app}/{stream}/whip`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhipSettings {
    /// Accept WHIP publishes (default true; needs `[webrtc] enabled`).
    pub enabled: bool,
    /// RTP packets str0m holds back to put video back in order before it gives up on a missing one (and the
    /// frame is dropped until the next keyframe): at least the packets of the largest keyframe (default 200,
    /// 20 to 5000; str0m's own default, 30, loses 720p keyframes).
    pub reorder_packets_video: usize,
    /// The same for audio (default 15, 1 to 1000).
    pub reorder_packets_audio: usize,
    /// Largest H.264 access unit accepted, in bytes (default 4194304, 4 MiB; 65536 to 67108864): a larger one is
    /// dropped and a keyframe asked for.
    pub max_frame_bytes: usize,
    /// The least time between two keyframe requests (PLI) sent to a browser, in ms (default 1000; 100 to 60000).
    pub keyframe_request_interval_ms: u64,
    /// A keyframe is asked for when the last one is this old, in ms (default 2000; 0: only after losses, else 500
    /// to 60000): browsers send keyframes only when asked, while RTMP / FLV players start at one and HLS
    /// segments end at one.
    pub keyframe_interval_ms: u64,
    /// Frames queued between the UDP task and a publish's own task (default 512, 16 to 65536); when full, video
    /// waits for the next keyframe.
    pub queue: usize,
    /// AAC bitrate of the audio transcoded from the browser's Opus, for stereo in bits/s (mono gets half;
    /// default 128000, 16000 to 512000).
    pub aac_bitrate_bps: u32,
    /// The most video a browser may publish, in bits/s (default 6000000, 100000 to 50000000): the answer's
    /// `b=AS` line, which browsers cap their encoder at.
    pub max_video_bitrate_bps: u32,
}

impl Default for WhipSettings {
    fn default() -> Self {
        WhipSettings {
            enabled: true,
            reorder_packets_video: 200,
            reorder_packets_audio: 15,
            max_frame_bytes: 4 << 20,
            keyframe_request_interval_ms: 1000,
            keyframe_interval_ms: 2000,
            queue: 512,
            aac_bitrate_bps: 128_000,
            max_video_bitrate_bps: 6_000_000,
        }
    }
}

impl WhipSettings {
    /// How old the last keyframe may get before one is asked for (`None`: only after losses).
    pub(crate) fn keyframe_every(&self) -> Option<std::time::Duration> {
        (self.keyframe_interval_ms > 0)
            .then(|| std::time::Duration::from_millis(self.keyframe_interval_ms))
    }

    /// The settings of each WHIP publish's Opus -> AAC transcoder.
    pub(crate) fn aac_config(&self) -> audio::OpusToAacConfig {
        audio::OpusToAacConfig {
            bitrate_bps: self.aac_bitrate_bps,
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        type Range = (&'static str, u64, u64, u64, &'static str);
        let ranges: [Range; 7] = [
            (
                "webrtc.whip.reorder_packets_video",
                self.reorder_packets_video as u64,
                20,
                5000,
                "20 to 5000",
            ),
            (
                "webrtc.whip.reorder_packets_audio",
                self.reorder_packets_audio as u64,
                1,
                1000,
                "1 to 1000",
            ),
            (
                "webrtc.whip.max_frame_bytes",
                self.max_frame_bytes as u64,
                65_536,
                64 << 20,
                "65536 to 67108864",
            ),
            (
                "webrtc.whip.keyframe_request_interval_ms",
                self.keyframe_request_interval_ms,
                100,
                60_000,
                "100 to 60000",
            ),
            (
                "webrtc.whip.queue",
                self.queue as u64,
                16,
                65_536,
                "16 to 65536",
            ),
            (
                "webrtc.whip.aac_bitrate_bps",
                u64::from(self.aac_bitrate_bps),
                16_000,
                512_000,
                "16000 to 512000",
            ),
            (
                "webrtc.whip.max_video_bitrate_bps",
                u64::from(self.max_video_bitrate_bps),
                100_000,
                50_000_000,
                "100000 to 50000000",
            ),
        ];
        if self.keyframe_interval_ms != 0 && !(500..=60_000).contains(&self.keyframe_interval_ms) {
            return Err(SettingsError::Invalid {
                field: "webrtc.whip.keyframe_interval_ms",
                value: self.keyframe_interval_ms.to_string(),
                expected: "0 (off) or 500 to 60000",
            });
        }
        for (field, value, min, max, expected) in ranges {
            if !(min..=max).contains(&value) {
                return Err(SettingsError::Invalid {
                    field,
                    value: value.to_string(),
                    expected,
                });
            }
        }
        Ok(())
    }
}

impl Default for WebrtcSettings {
    fn default() -> Self {
        WebrtcSettings {
            enabled: true,
            udp_addr: None,
            candidate_ips: Vec::new(),
            public_udp_port: None,
            udp_candidates: true,
            tcp_enabled: true,
            tcp_addr: None,
            public_tcp_port: None,
            tcp_max_connections: 1000,
            tcp_max_frame: 1500,
            tcp_stun_timeout_secs: 10,
            tcp_send_queue: 256,
            max_sessions: 1000,
            connect_timeout_secs: 15,
            disconnect_timeout_secs: 10,
            session_queue: 256,
            nack_history_ms: 1000,
            video_timestamps: VideoTimestamps::Pts,
            b_frames: BFrames::Transcode,
            transcode: TranscodeSettings::default(),
            opus_bitrate_bps: 64_000,
            opus_complexity: 9,
            opus_cache_frames: 512,
            whip: WhipSettings::default(),
        }
    }
}

/// The default UDP (and ICE-TCP) port is the HTTP port plus this: 8189 for the default 8080 (MediaMTX's WebRTC
/// port too).
const UDP_PORT_OFFSET: u16 = 109;

fn deserialize_addr<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    crate::settings::listen::deserialize(d).map(Some)
}

impl WebrtcSettings {
    /// The UDP address to bind, given the HTTP listener's (see `udp_addr`).
    pub(crate) fn udp_addr(&self, http: SocketAddr) -> SocketAddr {
        self.udp_addr.unwrap_or_else(|| next_to(http))
    }

    /// The ICE-TCP address to bind, given the HTTP listener's (see `tcp_addr`).
    pub(crate) fn tcp_addr(&self, http: SocketAddr) -> SocketAddr {
        self.tcp_addr.unwrap_or_else(|| next_to(http))
    }

    /// The ICE-TCP listener's bounds.
    pub(crate) fn tcp_limits(&self) -> super::tcp::Limits {
        super::tcp::Limits {
            max_connections: self.tcp_max_connections,
            max_frame: self.tcp_max_frame,
            stun_timeout: std::time::Duration::from_secs(self.tcp_stun_timeout_secs),
            write_timeout: std::time::Duration::from_secs(self.disconnect_timeout_secs),
            send_queue: self.tcp_send_queue,
        }
    }

    /// The settings of each stream's AAC -> Opus transcoder.
    pub(crate) fn opus_config(&self) -> audio::AacToOpusConfig {
        audio::AacToOpusConfig {
            bitrate_bps: self.opus_bitrate_bps,
            complexity: self.opus_complexity,
            ..Default::default()
        }
    }

    /// Checks the values that would make WHEP misbehave.
    pub(crate) fn validate(&self) -> Result<(), SettingsError> {
        let bad = |field, value: String, expected| {
            Err(SettingsError::Invalid {
                field,
                value,
                expected,
            })
        };
        if !(1..=3600).contains(&self.connect_timeout_secs) {
            return bad(
                "webrtc.connect_timeout_secs",
                self.connect_timeout_secs.to_string(),
                "1 to 3600",
            );
        }
        if !(1..=3600).contains(&self.disconnect_timeout_secs) {
            return bad(
                "webrtc.disconnect_timeout_secs",
                self.disconnect_timeout_secs.to_string(),
                "1 to 3600",
            );
        }
        if !(8..=65_536).contains(&self.session_queue) {
            return bad(
                "webrtc.session_queue",
                self.session_queue.to_string(),
                "8 to 65536",
            );
        }
        if !(100..=10_000).contains(&self.nack_history_ms) {
            return bad(
                "webrtc.nack_history_ms",
                self.nack_history_ms.to_string(),
                "100 to 10000",
            );
        }
        if !(6_000..=512_000).contains(&self.opus_bitrate_bps) {
            return bad(
                "webrtc.opus_bitrate_bps",
                self.opus_bitrate_bps.to_string(),
                "6000 to 512000",
            );
        }
        if self.opus_complexity > 10 {
            return bad(
                "webrtc.opus_complexity",
                self.opus_complexity.to_string(),
                "0 to 10",
            );
        }
        if !(1..=65_536).contains(&self.opus_cache_frames) {
            return bad(
                "webrtc.opus_cache_frames",
                self.opus_cache_frames.to_string(),
                "1 to 65536",
            );
        }
        if !(1..=1_000_000).contains(&self.tcp_max_connections) {
            return bad(
                "webrtc.tcp_max_connections",
                self.tcp_max_connections.to_string(),
                "1 to 1000000",
            );
        }
        if !(576..=65_535).contains(&self.tcp_max_frame) {
            return bad(
                "webrtc.tcp_max_frame",
                self.tcp_max_frame.to_string(),
                "576 to 65535 (an RFC 4571 length is 16 bits)",
            );
        }
        if !(1..=3600).contains(&self.tcp_stun_timeout_secs) {
            return bad(
                "webrtc.tcp_stun_timeout_secs",
                self.tcp_stun_timeout_secs.to_string(),
                "1 to 3600",
            );
        }
        if !(8..=65_536).contains(&self.tcp_send_queue) {
            return bad(
                "webrtc.tcp_send_queue",
                self.tcp_send_queue.to_string(),
                "8 to 65536",
            );
        }
        if !self.udp_candidates && !self.tcp_enabled {
            return bad(
                "webrtc.udp_candidates",
                "false".to_string(),
                "true, or tcp_enabled = true: without either an answer has no candidate to connect to",
            );
        }
        self.transcode.validate()?;
        self.whip.validate()
    }
}

/// The address next to the HTTP listener's: its IP, its port + [`UDP_PORT_OFFSET`] (0 when the HTTP port is 0 or
/// the sum passes 65535).
fn next_to(http: SocketAddr) -> SocketAddr {
    let port = if http.port() == 0 {
        0
    } else {
        http.port().checked_add(UDP_PORT_OFFSET).unwrap_or(0)
    };
    SocketAddr::new(http.ip(), port)
}
