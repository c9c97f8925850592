//! A live stream as the admin API shows it (`GET /v1/streams`, one stream, and the origin's `stats` in a cluster
//! node's record): camelCase, with the live-pusher net-status names where they exist, and players that are
//! viewers only. Internal readers of the hub (the HLS segmenter, the recorder, the room bridge) are not viewers;
//! HLS viewers are the clients asking for the playlists, counted as `/metrics` counts them; other nodes' relays
//! have their own count.

use media::{Registry, StreamKey, StreamStats};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::stream::entry::StreamEntry;

/// One live stream (or one waiting for its publisher to come back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamView {
    /// Application.
    pub(crate) app: String,
    /// Stream name.
    pub(crate) stream: String,
    /// `live`, or `grace` while players wait for the publisher to come back.
    pub(crate) state: String,
    /// The current publisher, if any.
    pub(crate) publisher: Option<PublisherView>,
    /// `H264`, `H265`, `AV1`, `VP9`, ... (null until known).
    pub(crate) video_codec: Option<String>,
    /// `AAC`, `MP3`, `Opus`, `G711A`, ... (null until known).
    pub(crate) audio_codec: Option<String>,
    /// Video payload bitrate, kbit/s (live-pusher's name).
    pub(crate) video_bitrate: f64,
    /// Audio payload bitrate, kbit/s.
    pub(crate) audio_bitrate: f64,
    /// Video frames per second.
    #[serde(rename = "videoFPS")]
    pub(crate) video_fps: f64,
    /// Seconds between the last two keyframes.
    #[serde(rename = "videoGOP")]
    pub(crate) video_gop: f64,
    /// Picture width.
    pub(crate) video_width: Option<u32>,
    /// Picture height.
    pub(crate) video_height: Option<u32>,
    /// Audio sample rate, Hz.
    pub(crate) audio_sample_rate: Option<u32>,
    /// Audio channels.
    pub(crate) audio_channels: Option<u8>,
    /// Viewers per protocol, and relays.
    pub(crate) players: PlayersView,
    /// Payload bytes received from publishers.
    pub(crate) bytes_in: u64,
    /// Bytes written to RTMP and HTTP-FLV players and relays.
    pub(crate) bytes_out: u64,
    /// Frames received from publishers.
    pub(crate) frames_in: u64,
    /// Frames skipped by lagging players, including those that have left.
    pub(crate) dropped_frames: u64,
    /// Milliseconds since the stream was first published.
    pub(crate) uptime_ms: u64,
    /// The formats it is being recorded in now (`flv`, `mp4`); empty when it is not recorded.
    #[serde(default)]
    pub(crate) recording: Vec<String>,
    /// Its anomalies: the health rules' episodes open now and the last ones that ended.
    #[serde(default)]
    pub(crate) health: crate::stream::health::HealthView,
}

/// Who publishes a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublisherView {
    /// The publisher's address.
    pub(crate) addr: String,
    /// `rtmp`, `whip` (a browser over WebRTC), or `relay` for a stream pulled from another node.
    pub(crate) protocol: String,
    /// When it started publishing, Unix ms.
    pub(crate) started_at_ms: u64,
}

/// The viewers of a stream per protocol. Internal readers (HLS segmenter, recorder, room bridge) are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlayersView {
    /// RTMP players.
    pub(crate) rtmp: u64,
    /// HTTP-FLV players.
    pub(crate) flv: u64,
    /// Classic HLS viewers (clients asking for the `.m3u8` playlist; one per address and User-Agent).
    pub(crate) hls: u64,
    /// Low-latency HLS viewers (`/ll.m3u8`).
    pub(crate) ll_hls: u64,
    /// WebRTC (WHEP) players.
    pub(crate) webrtc: u64,
    /// `rtmp + flv + hls + llHls + webrtc`.
    pub(crate) total: u64,
    /// Other nodes of the cluster pulling the stream: not viewers, not in `total`.
    pub(crate) relays: u64,
}

impl StreamView {
    /// The view of `s`, with what its entry knows: the HLS viewers and the recording.
    pub(crate) fn new(s: &StreamStats, entry: Option<&StreamEntry>) -> StreamView {
        let (hls, ll_hls) = entry.map_or((0, 0), crate::http::hls::viewers_by_variant);
        let webrtc = entry.map_or(0, |e| e.players.streaming_count("webrtc"));
        StreamView {
            app: s.app.clone(),
            stream: s.stream.clone(),
            state: s.state.as_str().to_owned(),
            publisher: s.publisher.as_ref().map(|p| PublisherView {
                addr: p.addr.clone(),
                protocol: p.protocol.to_owned(),
                started_at_ms: p.started_at_ms,
            }),
            video_codec: s.video_codec.clone(),
            audio_codec: s.audio_codec.clone(),
            video_bitrate: s.video_bitrate,
            audio_bitrate: s.audio_bitrate,
            video_fps: s.video_fps,
            video_gop: s.video_gop,
            video_width: s.video_width,
            video_height: s.video_height,
            audio_sample_rate: s.audio_sample_rate,
            audio_channels: s.audio_channels,
            players: PlayersView {
                rtmp: s.players.rtmp,
                flv: s.players.flv,
                hls,
                ll_hls,
                webrtc,
                total: s.players.rtmp + s.players.flv + hls + ll_hls + webrtc,
                relays: s.players.relays,
            },
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            frames_in: s.frames_in,
            dropped_frames: s.dropped_frames,
            uptime_ms: s.uptime_ms,
            recording: entry
                .map(crate::output::record::formats_of)
                .unwrap_or_default(),
            health: entry.map(|e| e.health.view()).unwrap_or_default(),
        }
    }
}

impl StreamView {
    /// A stream known only from a node that relays it (its origin's record not written yet, or its node just
    /// died): the names, no statistics.
    pub(crate) fn unknown(app: &str, stream: &str) -> StreamView {
        StreamView {
            app: app.to_owned(),
            stream: stream.to_owned(),
            state: "live".to_owned(),
            publisher: None,
            video_codec: None,
            audio_codec: None,
            video_bitrate: 0.0,
            audio_bitrate: 0.0,
            video_fps: 0.0,
            video_gop: 0.0,
            video_width: None,
            video_height: None,
            audio_sample_rate: None,
            audio_channels: None,
            players: PlayersView::default(),
            bytes_in: 0,
            bytes_out: 0,
            frames_in: 0,
            dropped_frames: 0,
            uptime_ms: 0,
            recording: Vec::new(),
            health: Default::default(),
        }
    }
}

/// The views of every stream of the hub, sorted by key.
pub(crate) fn list(registry: &Registry) -> Vec<StreamView> {
    let entries: std::collections::HashMap<StreamKey, std::sync::Arc<StreamEntry>> =
        registry.attachments::<StreamEntry>().into_iter().collect();
    registry
        .list()
        .iter()
        .map(|s| {
            let key = StreamKey::new(s.app.clone(), s.stream.clone());
            StreamView::new(s, entries.get(&key).map(AsRef::as_ref))
        })
        .collect()
}

/// The view of one stream; `None` when it is not in the hub.
pub(crate) fn get(registry: &Registry, key: &StreamKey) -> Option<StreamView> {
    let stats = registry.get(key)?;
    let entry = registry
        .attachments::<StreamEntry>()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, e)| e);
    Some(StreamView::new(&stats, entry.as_deref()))
}
