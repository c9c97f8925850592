//! Classic HLS: `GET /{app}/{stream}.m3u8` and `GET /{app}/{stream}/{seq}.ts`.
//!
//! Each stream that someone plays over HLS (or every live stream, with `hls.always`) gets one segmenter task: a
//! hub subscriber (protocol `hls`) feeding an [`hls::Segmenter`]. The task publishes the window of complete
//! segments through a `watch` channel, so requests read a snapshot without touching the segmenter; segments are
//! `Bytes`, so a snapshot is reference counts. The task stops when the stream ends, on shutdown, or after
//! `hls.idle_timeout_secs` without a request, and then leaves the map, so the next request starts afresh.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hls::{Segment, Segmenter, SegmenterConfig};
use media::{FrameKind, StartPolicy, StreamKey, SubscribeOptions, Subscriber};
use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::access::{self, now_ms};
use crate::settings::HlsSettings;
use crate::Shared;

/// The longest a playlist request waits for a live stream's first segment.
const FIRST_SEGMENT_WAIT_MAX: Duration = Duration::from_secs(15);

/// The HLS segmenters of the server, one per stream being played over HLS.
pub(crate) struct HlsStreams {
    settings: HlsSettings,
    streams: Mutex<HashMap<StreamKey, Arc<HlsStream>>>,
}

impl HlsStreams {
    pub(crate) fn new(settings: HlsSettings) -> HlsStreams {
        HlsStreams {
            settings,
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// Segment every live stream from its publish on (`hls.always`).
    pub(crate) fn always(&self) -> bool {
        self.settings.always
    }
}

/// One stream's segmenter as requests see it.
struct HlsStream {
    window: watch::Sender<Arc<Window>>,
    /// Wall-clock milliseconds of the last request, for the idle timeout.
    last_request_ms: AtomicI64,
}

impl HlsStream {
    fn touch(&self) {
        self.last_request_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// A snapshot of the segments in the window.
#[derive(Default)]
struct Window {
    segments: Vec<Segment>,
    discontinuity_sequence: u64,
    /// The segmenter stopped: nothing more will come.
    ended: bool,
}

/// Returns the stream's segmenter, starting one (and its hub subscriber) when there is none. `None` when the
/// stream is not live.
fn ensure(shared: &Arc<Shared>, key: &StreamKey) -> Option<Arc<HlsStream>> {
    let hls = &shared.hls;
    let mut streams = hls.streams.lock();
    if let Some(stream) = streams.get(key) {
        stream.touch();
        return Some(stream.clone());
    }
    let options = SubscribeOptions {
        start: StartPolicy::Gop,
        protocol: "hls",
    };
    let subscriber = match shared.registry.subscribe(key, options) {
        Ok(s) => s,
        Err(e) => {
            debug!(stream = %key, "no HLS segmenter: {e}");
            return None;
        }
    };
    let (window, _) = watch::channel(Arc::new(Window::default()));
    let stream = Arc::new(HlsStream {
        window,
        last_request_ms: AtomicI64::new(now_ms()),
    });
    streams.insert(key.clone(), stream.clone());
    info!(stream = %key, "HLS segmenter started");
    tokio::spawn(run(shared.clone(), key.clone(), stream.clone(), subscriber));
    Some(stream)
}

/// Starts the segmenter of a stream that was just published, when `hls.always` is set.
pub(crate) fn on_publish(shared: &Arc<Shared>, key: &StreamKey) {
    if shared.hls.always() {
        let _ = ensure(shared, key);
    }
}

/// The segmenter task of one stream.
async fn run(shared: Arc<Shared>, key: StreamKey, stream: Arc<HlsStream>, mut sub: Subscriber) {
    let settings = shared.hls.settings.clone();
    let mut segmenter = Segmenter::new(SegmenterConfig {
        target_duration_ms: settings.target_duration_ms,
        window: settings.window,
    });
    let idle_ms =
        i64::try_from(settings.idle_timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // The highest hub sequence number seen: sequence headers re-sent after a skip keep their old number, new
    // ones (a republish, a configuration change) have a higher one and start a discontinuity.
    let mut max_seq: Option<u64> = None;
    let mut media_since_headers = false;
    let mut errors: u64 = 0;
    let why = loop {
        let frame = tokio::select! {
            _ = shared.shutdown.cancelled() => break "shutdown",
            _ = tick.tick() => {
                let idle = now_ms() - stream.last_request_ms.load(Ordering::Relaxed);
                if !settings.always && idle > idle_ms {
                    break "idle";
                }
                continue;
            }
            frame = sub.recv() => match frame {
                Ok(f) => f,
                Err(_) => break "stream ended",
            },
        };
        let f = frame.frame();
        let kind = match f.kind {
            FrameKind::Video => hls::FrameKind::Video,
            FrameKind::Audio => hls::FrameKind::Audio,
            FrameKind::Script => continue,
        };
        let fresh = max_seq.is_none_or(|m| frame.seq() > m);
        max_seq = Some(max_seq.map_or(frame.seq(), |m| m.max(frame.seq())));
        if f.sequence_header {
            if !fresh {
                continue;
            }
            if media_since_headers {
                info!(stream = %key, "HLS: new sequence headers, discontinuity");
                segmenter.discontinuity();
                media_since_headers = false;
            }
        } else {
            media_since_headers = true;
        }
        let now = u64::try_from(now_ms()).unwrap_or(0);
        match segmenter.handle_frame(kind, f.timestamp, &f.payload, now) {
            Ok(true) => publish(&stream, &segmenter, false),
            Ok(false) => {}
            Err(e) => {
                errors += 1;
                // The first one says what is wrong; the rest would repeat it for every frame.
                if errors == 1 {
                    warn!(stream = %key, "HLS: {e}");
                } else {
                    debug!(stream = %key, errors, "HLS: {e}");
                }
            }
        }
    };
    segmenter.finish();
    publish(&stream, &segmenter, true);
    let mut streams = shared.hls.streams.lock();
    if streams.get(&key).is_some_and(|s| Arc::ptr_eq(s, &stream)) {
        streams.remove(&key);
    }
    info!(stream = %key, reason = why, "HLS segmenter stopped");
}

fn publish(stream: &HlsStream, segmenter: &Segmenter, ended: bool) {
    stream.window.send_replace(Arc::new(Window {
        segments: segmenter.segments().cloned().collect(),
        discontinuity_sequence: segmenter.discontinuity_sequence(),
        ended,
    }));
}

fn refused(shared: &Shared, refusal: &access::Refusal) -> Response {
    shared.metrics.refused("play", refusal.reason);
    let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    (status, format!("{}\n", refusal.description())).into_response()
}

fn not_live(key: &StreamKey) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("not_found: stream {key} is not live\n"),
    )
        .into_response()
}

fn with_headers(
    mut response: Response,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `GET /{app}/{stream}.m3u8` (dispatched from the `/{app}/{file}` route): the live media playlist. Waits for
/// the first segment of a stream that is live but has none yet.
pub(crate) async fn playlist(
    shared: Arc<Shared>,
    app: String,
    name: &str,
    query: Option<String>,
) -> Response {
    if let Err(refusal) = access::check_play(&shared, &app, name, query.as_deref()) {
        return refused(&shared, &refusal);
    }
    let key = StreamKey::new(app, name.to_string());
    let Some(stream) = ensure(&shared, &key) else {
        return not_live(&key);
    };
    let target = Duration::from_millis(shared.hls.settings.target_duration_ms);
    let wait = (target * 3 + Duration::from_secs(2)).min(FIRST_SEGMENT_WAIT_MAX);
    let mut rx = stream.window.subscribe();
    // A timeout or a closed channel both leave the latest snapshot to answer with.
    let _ = tokio::time::timeout(wait, rx.wait_for(|w| !w.segments.is_empty() || w.ended)).await;
    let window = rx.borrow().clone();
    if window.segments.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            format!("not_found: stream {key} has no HLS segment yet (H.264/AAC needed)\n"),
        )
            .into_response();
    }
    let text = hls::playlist::render(
        &window.segments,
        window.discontinuity_sequence,
        shared.hls.settings.target_duration_ms,
        &format!("{}/", key.name),
        query.as_deref(),
    );
    with_headers(
        text.into_response(),
        "application/vnd.apple.mpegurl",
        "no-cache",
    )
}

/// `GET /{app}/{stream}/{seq}.ts`: one segment of the window; 404 once it has left the window.
pub(crate) async fn segment(
    State(shared): State<Arc<Shared>>,
    Path((app, name, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(sequence) = file.strip_suffix(".ts").and_then(|s| s.parse::<u64>().ok()) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no route for /{app}/{name}/{file}: HLS segment URLs are /{{app}}/{{stream}}/{{number}}.ts\n"),
        )
            .into_response();
    };
    if let Err(refusal) = access::check_play(&shared, &app, &name, query.as_deref()) {
        return refused(&shared, &refusal);
    }
    let key = StreamKey::new(app, name);
    let stream = shared.hls.streams.lock().get(&key).cloned();
    let Some(stream) = stream else {
        return not_live(&key);
    };
    stream.touch();
    let window = stream.window.borrow().clone();
    let first = window.segments.first().map_or(0, |s| s.sequence);
    let found = sequence
        .checked_sub(first)
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| window.segments.get(i));
    match found {
        Some(s) => with_headers(s.data.clone().into_response(), "video/mp2t", "max-age=60"),
        None => (
            StatusCode::NOT_FOUND,
            format!("not_found: segment {sequence} of {key} is not in the window\n"),
        )
            .into_response(),
    }
}
