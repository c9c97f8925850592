//! `[webrtc]`: WHEP playback's UDP port, advertised addresses and limits (docs/configuration.md).

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
    /// Video RTP timestamps: `pts` (default) or `dts` (docs/webrtc.md, "B-frames").
    pub video_timestamps: VideoTimestamps,
    /// Refuse offers for streams with B-frames (406 `b_frames`), which browsers do not play (default true;
    /// docs/webrtc.md, "B-frames"). `false` answers them anyway, for measurements.
    pub refuse_b_frames: bool,
    /// Opus bitrate of a stereo stream's audio in bits/s, a mono stream getting half (default 64000; 6000 to
    /// 512000). Each stream's AAC is transcoded once for all its WebRTC viewers.
    pub opus_bitrate_bps: u32,
    /// Opus encoder complexity, 0 to 10 (default 9): lower costs less CPU per stream for a little quality.
    pub opus_complexity: u8,
    /// Opus packets remembered per stream, by AAC frame (default 512, about 12 s of 44.1 kHz AAC): a viewer
    /// further behind the stream's first viewer than this (a new one replaying a long GOP) misses that audio.
    pub opus_cache_frames: usize,
}

impl Default for WebrtcSettings {
    fn default() -> Self {
        WebrtcSettings {
            enabled: true,
            udp_addr: None,
            candidate_ips: Vec::new(),
            public_udp_port: None,
            max_sessions: 1000,
            connect_timeout_secs: 15,
            disconnect_timeout_secs: 10,
            session_queue: 256,
            video_timestamps: VideoTimestamps::Pts,
            refuse_b_frames: true,
            opus_bitrate_bps: 64_000,
            opus_complexity: 9,
            opus_cache_frames: 512,
        }
    }
}

/// The default UDP port is the HTTP port plus this: 8189 for the default 8080 (MediaMTX's WebRTC port too).
const UDP_PORT_OFFSET: u16 = 109;

fn deserialize_addr<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    crate::settings::listen::deserialize(d).map(Some)
}

impl WebrtcSettings {
    /// The UDP address to bind, given the HTTP listener's (see `udp_addr`).
    pub(crate) fn udp_addr(&self, http: SocketAddr) -> SocketAddr {
        self.udp_addr.unwrap_or_else(|| {
            let port = if http.port() == 0 {
                0
            } else {
                http.port().checked_add(UDP_PORT_OFFSET).unwrap_or(0)
            };
            SocketAddr::new(http.ip(), port)
        })
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
        Ok(())
    }
}
