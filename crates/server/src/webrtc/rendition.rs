//! Streams with B-frames re-encoded for their WebRTC viewers (`webrtc.b_frames = "transcode"`, the default),
//! once per stream however many viewers it has (docs/webrtc.md, "B-frames").
//!
//! A re-encoded stream (a *rendition*) lives in a hub of its own, private to this module: never listed by the
//! API, no webhooks, no HLS or recording; the original stream's other players are untouched. Its WHEP viewers
//! subscribe to it as other players subscribe to the original, so they get the same start (its cached GOP,
//! restamped to the live edge), lag rules and end.
//!
//! ```text
//!  original stream --(internal reader, FastGop)--> task --(bounded queue)--> re-encoder thread
//!      video: FLV AVC --Annexb--> OpenH264 decode + encode (`video::Reencoder`) --H264Ingest--> FLV AVC
//!      audio, script: passed through (the same bytes)
//!  --> the rendition's hub --> each viewer's feeder (its own StreamSource: Annex B once, AAC -> Opus once)
//! ```
//!
//! The decoding and encoding (a few milliseconds a picture) run on a thread of their own per rendition, off the
//! runtime's workers. A rendition stops when the original ends or when it has had no viewer for
//! `webrtc.transcode.idle_secs`; at most `webrtc.transcode.max_streams` run at once.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use media::{
    Frame, MediaKind, PublisherInfo, Registry, StartPolicy, StreamKey, SubscribeOptions, Subscriber,
};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use video::{Reencoder, ReencoderConfig};

use super::h264::{Annexb, Video};
use super::ingest::H264Ingest;
use super::settings::TranscodeSettings;
use super::source::StreamSource;

/// Largest access unit out of the encoder taken into the rendition (OpenH264's are far below).
const MAX_OUT_BYTES: usize = 16 << 20;
/// The re-encoder's bitrate follows the source's when it moves by more than this share.
const BITRATE_HYSTERESIS: f64 = 0.2;
/// Bounds of a followed source bitrate, bits/s.
const FOLLOWED_BITRATE: (f64, f64) = (200_000.0, 20_000_000.0);

/// Why a viewer cannot have a rendition.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenditionError {
    /// `webrtc.transcode.max_streams` renditions run.
    #[error(
        "too_many_transcodes: {max} streams with B-frames are being re-encoded for WebRTC on this server \
         (webrtc.transcode.max_streams); publish this stream without B-frames (ffmpeg -bf 0 or -tune \
         zerolatency; OBS x264 bframes=0) or play it over HTTP-FLV or HLS"
    )]
    TooMany { max: usize },
    /// The original stream is not there (any more).
    #[error("not_found: the stream is not live")]
    NotFound,
}

/// What a viewer of a rendition reads.
pub(crate) struct Viewer {
    /// Its cursor into the rendition.
    pub(crate) subscriber: Subscriber,
    /// What the rendition's viewers share (separate from the original's: hub sequence numbers differ).
    pub(crate) source: Arc<StreamSource>,
}

/// The renditions of this server.
pub(crate) struct Renditions {
    settings: TranscodeSettings,
    /// The renditions' own hub, made with the original hub's settings at the first rendition.
    hub: OnceLock<Registry>,
    running: Mutex<HashMap<StreamKey, Arc<StreamSource>>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Renditions {
    pub(crate) fn new(
        settings: TranscodeSettings,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Renditions {
        Renditions {
            settings,
            hub: OnceLock::new(),
            running: Mutex::new(HashMap::new()),
            shutdown,
            tracker,
        }
    }

    /// A viewer of `key`'s rendition, started now if it is not running (from `original`, the server's hub).
    pub(crate) fn view(
        self: &Arc<Self>,
        original: &Registry,
        key: &StreamKey,
    ) -> Result<Viewer, RenditionError> {
        let hub = self
            .hub
            .get_or_init(|| Registry::new(original.config().clone()));
        let viewer_opts = SubscribeOptions {
            start: StartPolicy::FastGop,
            protocol: "other",
        };
        // Held while subscribing so that a rendition cannot stop between the look and the subscription (its
        // task takes this lock to check it has no viewer before it stops).
        let mut running = self.running.lock();
        if let Some(source) = running.get(key) {
            if let Ok(subscriber) = hub.subscribe(key, viewer_opts) {
                return Ok(Viewer {
                    subscriber,
                    source: source.clone(),
                });
            }
            running.remove(key); // its thread ended (the original ended): start again
        }
        if running.len() >= self.settings.max_streams {
            return Err(RenditionError::TooMany {
                max: self.settings.max_streams,
            });
        }
        // Like an `rtc` player: the cached GOP restamped to end at the live edge, so the first viewer does not
        // start a GOP behind.
        let reader = original
            .subscribe(
                key,
                SubscribeOptions {
                    start: StartPolicy::FastGop,
                    protocol: "internal",
                },
            )
            .map_err(|_| RenditionError::NotFound)?;
        let stats = original.get(key);
        let started_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // A rendition that stopped a moment ago may still hold the key in the private hub while its thread
        // drains its queue: it is no longer in `running`, so nobody will view it again. Take the key from it
        // (its later pushes are ignored) instead of refusing this viewer.
        if hub.kick(key) {
            debug!(stream = %key, "a stopping rendition's publisher replaced by a new one");
        }
        let publisher = hub
            .publish(
                key.clone(),
                PublisherInfo {
                    remote_addr: "re-encoder".to_owned(),
                    protocol: "transcode",
                    republish_grace: Some(Duration::ZERO),
                    started_at_ms,
                    relay: false,
                },
            )
            .map_err(|_| RenditionError::NotFound)?;
        let subscriber = hub
            .subscribe(key, viewer_opts)
            .map_err(|_| RenditionError::NotFound)?;
        let source = Arc::new(StreamSource::default());
        running.insert(key.clone(), source.clone());
        drop(running);

        let config = ReencoderConfig {
            bitrate_bps: match self.settings.bitrate_bps {
                0 => stats
                    .as_ref()
                    .map(|s| s.video_bitrate * 1000.0)
                    .filter(|b| *b > 0.0)
                    .map_or(2_000_000, |b| {
                        b.clamp(FOLLOWED_BITRATE.0, FOLLOWED_BITRATE.1) as u32
                    }),
                fixed => fixed,
            },
            frame_rate: stats
                .as_ref()
                .map(|s| s.video_fps as f32)
                .filter(|f| *f >= 1.0)
                .unwrap_or(30.0),
            ..ReencoderConfig::default()
        };
        info!(stream = %key, bitrate_bps = config.bitrate_bps, frame_rate = config.frame_rate,
            "re-encoding the stream's H.264 without B-frames for its WebRTC viewers");
        let (frames, frames_rx) = mpsc::channel(self.settings.queue);
        let convert = Convert::new(config, self.settings.bitrate_bps == 0);
        let thread_key = key.clone();
        let spawned = std::thread::Builder::new()
            .name("mplive-reencode".to_owned())
            .spawn(move || reencode(thread_key, convert, frames_rx, publisher));
        if let Err(e) = spawned {
            warn!(stream = %key, "the re-encoder thread could not start: {e}");
            self.running.lock().remove(key);
            return Err(RenditionError::NotFound);
        }
        self.tracker.spawn(read(
            self.clone(),
            key.clone(),
            source.clone(),
            reader,
            frames,
            Duration::from_secs(self.settings.idle_secs),
        ));
        Ok(Viewer { subscriber, source })
    }

    /// Renditions running now.
    pub(crate) fn running(&self) -> usize {
        self.running.lock().len()
    }

    /// Whether `source` is still `key`'s running rendition.
    fn is_current(&self, key: &StreamKey, source: &Arc<StreamSource>) -> bool {
        self.running
            .lock()
            .get(key)
            .is_some_and(|s| Arc::ptr_eq(s, source))
    }

    /// Forgets `key`'s rendition if it is still `source`'s: a newer one started for the key meanwhile stays.
    fn forget(&self, key: &StreamKey, source: &Arc<StreamSource>) {
        let mut running = self.running.lock();
        if running.get(key).is_some_and(|s| Arc::ptr_eq(s, source)) {
            running.remove(key);
        }
    }

    /// Whether the rendition of `key` has no viewer; if so it is forgotten (under the lock viewers join with).
    fn stop_if_unwatched(&self, key: &StreamKey) -> bool {
        let mut running = self.running.lock();
        let watched = self
            .hub
            .get()
            .and_then(|hub| hub.get(key))
            .is_some_and(|s| s.players.total > 0);
        if !watched {
            running.remove(key);
        }
        !watched
    }
}

/// Reads the original stream into the re-encoder's queue until the original ends, the server stops, or the
/// rendition has had no viewer for `idle`.
async fn read(
    renditions: Arc<Renditions>,
    key: StreamKey,
    source: Arc<StreamSource>,
    mut reader: Subscriber,
    frames: mpsc::Sender<Frame>,
    idle: Duration,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut unwatched_since: Option<tokio::time::Instant> = None;
    let why = loop {
        tokio::select! {
            _ = renditions.shutdown.cancelled() => break "the server stops",
            frame = reader.recv() => {
                let Ok(frame) = frame else { break "the stream ended" };
                if frames.send(frame.frame().clone()).await.is_err() {
                    break "the re-encoder stopped";
                }
            }
            _ = tick.tick() => {
                if !renditions.is_current(&key, &source) {
                    break "a newer rendition of the stream replaced it";
                }
                let watched = renditions.hub.get().and_then(|hub| hub.get(&key))
                    .is_some_and(|s| s.players.total > 0);
                if watched {
                    unwatched_since = None;
                    continue;
                }
                let since = *unwatched_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= idle && renditions.stop_if_unwatched(&key) {
                    break "it has no WebRTC viewer";
                }
            }
        }
    };
    // The original ended or the server stops: forget the rendition so a later publish starts a fresh one.
    renditions.forget(&key, &source);
    info!(stream = %key, "re-encoding for WebRTC stops: {why}");
    // Dropping `frames` ends the thread, which then unpublishes the rendition (its viewers end).
}

/// The re-encoder thread: frames in, the rendition's frames out, until the queue closes.
fn reencode(
    key: StreamKey,
    mut convert: Convert,
    mut frames: mpsc::Receiver<Frame>,
    mut publisher: media::Publisher,
) {
    let mut errors = 0u64;
    while let Some(frame) = frames.blocking_recv() {
        match convert.push(&frame) {
            Ok(out) => out.into_iter().for_each(|f| publisher.push(f)),
            Err(e) => {
                errors += 1;
                // The first one says what is wrong; a broken stream would otherwise log every picture.
                if errors == 1 || errors.is_power_of_two() {
                    warn!(stream = %key, errors, "re-encoding for WebRTC: {e}");
                } else {
                    debug!(stream = %key, "re-encoding for WebRTC: {e}");
                }
            }
        }
    }
}

/// The conversion of one stream, frame by frame (no thread, no clock: testable as is).
pub(crate) struct Convert {
    config: ReencoderConfig,
    /// Made at the first sequence header; `None` before.
    reencoder: Option<Reencoder>,
    annexb: Annexb,
    ingest: H264Ingest,
    /// Follow the source's bitrate (`webrtc.transcode.bitrate_bps = 0`).
    follow_bitrate: bool,
    /// Bytes and first timestamp of the source's pictures since its last keyframe.
    gop_bytes: usize,
    gop_start: Option<u32>,
}

impl Convert {
    pub(crate) fn new(config: ReencoderConfig, follow_bitrate: bool) -> Convert {
        Convert {
            config,
            reencoder: None,
            annexb: Annexb::default(),
            ingest: H264Ingest::default(),
            follow_bitrate,
            gop_bytes: 0,
            gop_start: None,
        }
    }

    /// One frame of the original stream; the frames of the rendition it gives.
    pub(crate) fn push(&mut self, frame: &Frame) -> Result<Vec<Frame>, String> {
        if frame.kind != MediaKind::Video {
            return Ok(vec![frame.clone()]);
        }
        let video = self
            .annexb
            .push(&frame.payload)
            .map_err(|e| e.to_string())?;
        let au = match video {
            Video::Config => {
                // A new sequence header (a republish, maybe another resolution): the decoder starts over.
                match &mut self.reencoder {
                    Some(r) => r.reset().map_err(|e| e.to_string())?,
                    None => {
                        self.reencoder =
                            Some(Reencoder::new(self.config.clone()).map_err(|e| e.to_string())?);
                    }
                }
                return Ok(Vec::new());
            }
            Video::Nothing => return Ok(Vec::new()),
            Video::Picture(au) => au,
        };
        let Some(reencoder) = self.reencoder.as_mut() else {
            return Ok(Vec::new());
        };
        if au.keyframe && self.follow_bitrate {
            follow_bitrate(reencoder, self.gop_bytes, self.gop_start, frame.timestamp);
            self.gop_bytes = 0;
            self.gop_start = Some(frame.timestamp);
        }
        self.gop_bytes += frame.payload.len();
        let pts = i64::from(frame.timestamp) + i64::from(au.composition_ms);
        let Some(encoded) = reencoder
            .push(&au.data, pts, au.keyframe)
            .map_err(|e| e.to_string())?
        else {
            return Ok(Vec::new());
        };
        let tags = self
            .ingest
            .push(&encoded.data, MAX_OUT_BYTES)
            .map_err(|e| e.to_string())?;
        // Display order: presentation times increase, and each picture carries its own (composition time 0).
        let ts = u32::try_from(encoded.pts_ms.max(0)).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(2);
        if let Some(header) = tags.header {
            out.push(Frame::new(MediaKind::Video, ts, header));
        }
        if let Some((picture, _)) = tags.picture {
            out.push(Frame::new(MediaKind::Video, ts, picture));
        }
        Ok(out)
    }
}

/// Sets the re-encoder's bitrate to the source's over its last GOP when it moved by more than the hysteresis.
fn follow_bitrate(reencoder: &mut Reencoder, bytes: usize, start: Option<u32>, now: u32) {
    let Some(start) = start else { return };
    let ms = now.wrapping_sub(start);
    if !(200..=60_000).contains(&ms) {
        return;
    }
    let rate =
        (bytes as f64 * 8.0 * 1000.0 / f64::from(ms)).clamp(FOLLOWED_BITRATE.0, FOLLOWED_BITRATE.1);
    let current = f64::from(reencoder.bitrate());
    if (rate - current).abs() > current * BITRATE_HYSTERESIS {
        reencoder.set_bitrate(rate as u32);
    }
}

#[cfg(test)]
mod tests;
