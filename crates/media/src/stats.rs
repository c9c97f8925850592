//! Per-stream statistics, measured from the frames themselves.
//!
//! Counting is cheap on the push path: a few additions, per-second buckets in a fixed array, and a codec probe
//! only for sequence headers (or while a codec is still unknown).

use std::fmt;

use serde::Serialize;

use crate::frame::{Frame, MediaKind};
use crate::probe::{self, AudioParams, VideoParams};

/// Whether a stream has a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamState {
    /// A publisher is attached (serialized `"live"`).
    Live,
    /// The publisher left; players wait for it to come back (serialized `"grace"`).
    Grace,
}

impl StreamState {
    /// `"live"` or `"grace"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Live => "live",
            StreamState::Grace => "grace",
        }
    }
}

impl fmt::Display for StreamState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for StreamState {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for StreamState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Who publishes a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublisherStats {
    /// The publisher's remote address, as the server reported it.
    pub addr: String,
    /// The protocol it publishes with (`"rtmp"`, ...).
    pub protocol: &'static str,
    /// When this publisher started, in Unix milliseconds.
    pub started_at_ms: u64,
}

/// Subscribers of a stream, per protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlayerStats {
    /// Subscribers that said `"rtmp"`.
    pub rtmp: u64,
    /// Subscribers that said `"flv"`.
    pub flv: u64,
    /// Every other subscriber (HLS segmenter, recorder, ...).
    pub other: u64,
    /// All subscribers but relays.
    pub total: u64,
    /// Other nodes' relays of the stream (subscribers that said `"relay"`): not viewers, not in `total`.
    pub relays: u64,
}

/// The hub's totals ([`Registry::totals`](crate::Registry::totals)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Streams now (live or in grace).
    pub streams: u64,
    /// Streams with a publisher now.
    pub publishers: u64,
    /// Players now, per protocol.
    pub players: PlayerStats,
    /// Payload bytes received since start.
    pub bytes_in: u64,
    /// Bytes written to players since start.
    pub bytes_out: u64,
    /// Frames received since start.
    pub frames_in: u64,
    /// Frames skipped by lagging players since start.
    pub dropped_frames: u64,
}

/// A snapshot of one stream, with the live-pusher net-status names where they exist.
///
/// Rates (bitrate, FPS) cover the last two complete seconds of the stream's own timestamps and are 0 while the
/// stream is in grace. Sizes, sample rate and channels are `None` until a sequence header (or a frame of a
/// format without one) told them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamStats {
    /// Application.
    pub app: String,
    /// Stream name.
    pub stream: String,
    /// `"live"` or `"grace"`.
    pub state: StreamState,
    /// The current publisher, if any.
    pub publisher: Option<PublisherStats>,
    /// `"H264"`, `"H265"`, `"AV1"`, `"VP9"`, ...
    pub video_codec: Option<String>,
    /// `"AAC"`, `"MP3"`, `"Opus"`, `"G711A"`, ...
    pub audio_codec: Option<String>,
    /// Video payload bitrate in kbit/s.
    #[serde(rename = "videoBitrate")]
    pub video_bitrate: f64,
    /// Audio payload bitrate in kbit/s.
    #[serde(rename = "audioBitrate")]
    pub audio_bitrate: f64,
    /// Video frames per second.
    #[serde(rename = "videoFPS")]
    pub video_fps: f64,
    /// Seconds between the last two keyframes.
    #[serde(rename = "videoGOP")]
    pub video_gop: f64,
    /// Picture width from the SPS.
    #[serde(rename = "videoWidth")]
    pub video_width: Option<u32>,
    /// Picture height from the SPS.
    #[serde(rename = "videoHeight")]
    pub video_height: Option<u32>,
    /// Audio sample rate in Hz.
    #[serde(rename = "audioSampleRate")]
    pub audio_sample_rate: Option<u32>,
    /// Audio channels.
    #[serde(rename = "audioChannels")]
    pub audio_channels: Option<u8>,
    /// Subscribers per protocol.
    pub players: PlayerStats,
    /// Payload bytes received from publishers.
    pub bytes_in: u64,
    /// Bytes the server reported writing to subscribers ([`Subscriber::record_sent`](crate::Subscriber::record_sent)).
    pub bytes_out: u64,
    /// Frames received from publishers.
    pub frames_in: u64,
    /// Frames skipped by lagging subscribers, including those that have left.
    pub dropped_frames: u64,
    /// Milliseconds since the stream was first published (republishes within the grace do not reset it).
    pub uptime_ms: u64,
}

/// Counters and measurements kept under the stream lock by the push path.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    pub(crate) bytes_in: u64,
    pub(crate) frames_in: u64,
    video: RateWindow,
    audio: RateWindow,
    last_keyframe_ts: Option<u32>,
    gop_ms: Option<u32>,
    pub(crate) video_params: VideoParams,
    pub(crate) audio_params: AudioParams,
}

/// What [`Meter::rates`] reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    pub(crate) video_kbps: f64,
    pub(crate) audio_kbps: f64,
    pub(crate) fps: f64,
    pub(crate) gop_secs: f64,
}

impl Meter {
    /// Counts a frame received from the publisher (`frame.timestamp` already on the hub timeline).
    pub(crate) fn record(&mut self, frame: &Frame) {
        let len = frame.payload.len();
        self.bytes_in += len as u64;
        self.frames_in += 1;
        match frame.kind {
            MediaKind::Video => {
                if frame.sequence_header {
                    self.video_params = probe::video_params(&frame.payload);
                    return;
                }
                if self.video_params.codec.is_none() {
                    self.video_params.codec = probe::video_params(&frame.payload).codec;
                }
                self.video.record(frame.timestamp, len);
                if frame.is_video_keyframe() {
                    if let Some(prev) = self.last_keyframe_ts.filter(|&p| frame.timestamp > p) {
                        self.gop_ms = Some(frame.timestamp - prev);
                    }
                    self.last_keyframe_ts = Some(frame.timestamp);
                }
            }
            MediaKind::Audio => {
                if frame.sequence_header {
                    self.audio_params = probe::audio_params(&frame.payload);
                    return;
                }
                if self.audio_params.codec.is_none() {
                    self.audio_params = probe::audio_params(&frame.payload);
                }
                self.audio.record(frame.timestamp, len);
            }
            MediaKind::Script => {}
        }
    }

    /// Forgets the codec parameters: a new publishing session announces its own.
    pub(crate) fn new_session(&mut self) {
        self.video_params = VideoParams::default();
        self.audio_params = AudioParams::default();
    }

    pub(crate) fn rates(&self) -> Rates {
        let (video_bps, fps) = self.video.per_second();
        let (audio_bps, _) = self.audio.per_second();
        Rates {
            video_kbps: video_bps * 8.0 / 1000.0,
            audio_kbps: audio_bps * 8.0 / 1000.0,
            fps,
            gop_secs: self.gop_ms.map_or(0.0, |ms| f64::from(ms) / 1000.0),
        }
    }
}

const BUCKETS: u32 = 4;
/// Complete seconds averaged by [`RateWindow::per_second`].
const WINDOW_SECS: u32 = 2;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    sec: u32,
    bytes: u64,
    frames: u32,
}

/// Bytes and frames per second of timestamp, in a fixed ring of per-second buckets.
#[derive(Debug, Default)]
struct RateWindow {
    buckets: [Option<Bucket>; BUCKETS as usize],
    first_sec: u32,
    latest_sec: Option<u32>,
}

impl RateWindow {
    fn record(&mut self, ts: u32, bytes: usize) {
        let sec = ts / 1000;
        match self.latest_sec {
            Some(latest) if sec > latest => self.latest_sec = Some(sec),
            // Within the window, or a little late: counted where it belongs (or ignored if too old).
            Some(latest) if latest - sec < BUCKETS => {}
            // First frame, or a jump back in time: start over.
            _ => {
                *self = RateWindow {
                    first_sec: sec,
                    latest_sec: Some(sec),
                    ..RateWindow::default()
                };
            }
        }
        let slot = &mut self.buckets[(sec % BUCKETS) as usize];
        match slot {
            Some(b) if b.sec == sec => {
                b.bytes += bytes as u64;
                b.frames += 1;
            }
            Some(b) if b.sec > sec => {}
            _ => {
                *slot = Some(Bucket {
                    sec,
                    bytes: bytes as u64,
                    frames: 1,
                })
            }
        }
    }

    /// `(bytes, frames)` per second over the last complete seconds before the current one.
    fn per_second(&self) -> (f64, f64) {
        let Some(latest) = self.latest_sec else {
            return (0.0, 0.0);
        };
        let start = latest.saturating_sub(WINDOW_SECS).max(self.first_sec);
        if start >= latest {
            return (0.0, 0.0);
        }
        let (bytes, frames) = self
            .buckets
            .iter()
            .flatten()
            .filter(|b| (start..latest).contains(&b.sec))
            .fold((0u64, 0u64), |(bytes, frames), b| {
                (bytes + b.bytes, frames + u64::from(b.frames))
            });
        let secs = f64::from(latest - start);
        (bytes as f64 / secs, frames as f64 / secs)
    }
}
