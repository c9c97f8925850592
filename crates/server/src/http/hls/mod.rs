//! HLS playback.
//!
//! - Classic: `GET /{app}/{stream}.m3u8` and `GET /{app}/{stream}/{seq}.ts`.
//! - Low latency ([`ll`]): `GET /{app}/{stream}/ll.m3u8` (blocking reload with `_HLS_msn` / `_HLS_part`) and
//!   `GET /{app}/{stream}/ll/{init-N.mp4 | msn.m4s | msn.part.m4s}`.
//!
//! Each stream that someone plays over HLS (or every live stream, with `hls.always`) gets one segmenter task
//! ([`task`]): a hub subscriber (protocol `hls`) feeding an [`hls::Segmenter`] once a classic playlist has been
//! asked for and an [`hls::ll::LlSegmenter`] once an LL-HLS one has. The task publishes each window through a `watch` channel, so requests read a
//! snapshot without touching the segmenters, and blocking requests wait on the channel; segments and parts are
//! `Bytes`, so a snapshot is reference counts. The segmenter hangs off its stream's entry
//! ([`crate::stream::entry`]). The task stops when the stream ends, on shutdown, or after
//! `hls.idle_timeout_secs` without a request, and then leaves the entry, so the next request starts afresh.

mod ll;
mod task;
mod viewers;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use control::{now_ms, App};
use hls::ll::LlWindow;
use hls::Segment;
use media::{StartPolicy, StreamKey, SubscribeOptions};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::settings::HlsSettings;
use crate::stream::access;
use crate::stream::entry::{self, StreamEntry};
use crate::stream::followers::{Follower, Published};
use crate::stream::lifecycle::Protocol;
use crate::stream::Streams;
use crate::Shared;

pub(crate) use ll::ll_file;
pub(crate) use viewers::Client;
use viewers::{admit, check, Viewer};

/// The longest a playlist request waits for a live stream's first segment.
const FIRST_SEGMENT_WAIT_MAX: Duration = Duration::from_secs(15);

/// The HLS service: its settings, the stream service, and the viewers per address over every stream. Each
/// stream's segmenter is in the stream's entry.
pub(crate) struct Hls {
    settings: HlsSettings,
    streams: Arc<Streams>,
    shutdown: CancellationToken,
    /// HLS viewers per address key, over every stream (for `hls.max_viewers_per_address`).
    addresses: Mutex<HashMap<IpAddr, usize>>,
}

impl Hls {
    pub(crate) fn new(
        settings: HlsSettings,
        streams: Arc<Streams>,
        shutdown: CancellationToken,
    ) -> Arc<Hls> {
        Arc::new(Hls {
            settings,
            streams,
            shutdown,
            addresses: Mutex::new(HashMap::new()),
        })
    }
}

/// With `hls.always`, every live stream is segmented from its publish on.
impl Follower for Arc<Hls> {
    fn published(&self, publish: &Published<'_>) {
        on_publish(self, publish.key, publish.entry);
    }
}

/// HLS viewers of the streams of `app` now (for the app's `max_players`).
pub(crate) fn viewers_of_app(streams: &Streams, app: &str) -> u64 {
    viewers_where(streams, |key| key.app == app)
}

/// HLS viewers of every stream now (the `mplive_players{protocol="hls"}` gauge).
pub(crate) fn viewers_total(streams: &Streams) -> u64 {
    viewers_where(streams, |_| true)
}

/// HLS viewers of one stream's entry now: `(classic, low-latency)`, each viewer counted under the playlist it
/// was admitted with. Only clients asking over HTTP count: the segmenter itself is not a viewer.
pub(crate) fn viewers_by_variant(entry: &StreamEntry) -> (u64, u64) {
    let Some(stream) = entry.hls.lock().clone() else {
        return (0, 0);
    };
    let viewers = stream.viewers.lock();
    let low_latency = viewers.values().filter(|v| v.low_latency).count() as u64;
    (viewers.len() as u64 - low_latency, low_latency)
}

fn viewers_where(streams: &Streams, wanted: impl Fn(&StreamKey) -> bool) -> u64 {
    entry::all(streams)
        .iter()
        .filter(|(key, _)| wanted(key))
        .filter_map(|(_, e)| e.hls.lock().clone())
        .map(|s| s.viewers.lock().len() as u64)
        .sum()
}

/// One stream's segmenter as requests see it.
pub(crate) struct HlsStream {
    window: watch::Sender<Arc<Window>>,
    /// The low-latency window (empty and never updated with `hls.low_latency = false`).
    ll: watch::Sender<Arc<LlWindow>>,
    /// Wall-clock milliseconds of the last request, for the idle timeout.
    last_request_ms: AtomicI64,
    /// The viewers asking now, by [`Client::id`].
    viewers: Mutex<HashMap<u64, Viewer>>,
    /// A classic playlist was requested: the task muxes MPEG-TS.
    wants_classic: AtomicBool,
    /// An LL-HLS playlist was requested: the task muxes fMP4 parts.
    wants_ll: AtomicBool,
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
fn ensure(hls: &Arc<Hls>, key: &StreamKey) -> Option<Arc<HlsStream>> {
    let entry = entry::of_key(&hls.streams, key)?;
    ensure_in(hls, key, &entry)
}

/// [`ensure`] for a stream whose entry is at hand.
fn ensure_in(hls: &Arc<Hls>, key: &StreamKey, entry: &Arc<StreamEntry>) -> Option<Arc<HlsStream>> {
    let mut slot = entry.hls.lock();
    if let Some(stream) = slot.as_ref() {
        stream.touch();
        return Some(stream.clone());
    }
    let options = SubscribeOptions {
        start: StartPolicy::Gop,
        protocol: "hls",
    };
    let subscriber = match hls.streams.registry.subscribe(key, options) {
        Ok(s) => s,
        Err(e) => {
            debug!(stream = %key, "no HLS segmenter: {e}");
            return None;
        }
    };
    let (window, _) = watch::channel(Arc::new(Window::default()));
    let (ll, _) = watch::channel(Arc::new(LlWindow::default()));
    let stream = Arc::new(HlsStream {
        window,
        ll,
        last_request_ms: AtomicI64::new(now_ms()),
        viewers: Mutex::new(HashMap::new()),
        wants_classic: AtomicBool::new(false),
        wants_ll: AtomicBool::new(false),
    });
    *slot = Some(stream.clone());
    drop(slot);
    info!(stream = %key, "HLS segmenter started");
    tokio::spawn(task::run(
        hls.clone(),
        key.clone(),
        entry.clone(),
        stream.clone(),
        subscriber,
    ));
    Some(stream)
}

/// Starts the segmenter of a stream that was just published, when `hls.always` is set.
fn on_publish(hls: &Arc<Hls>, key: &StreamKey, entry: &Arc<StreamEntry>) {
    if hls.settings.always {
        if let Some(stream) = ensure_in(hls, key, entry) {
            stream.wants_classic.store(true, Ordering::Relaxed);
            let ll = hls.settings.low_latency;
            stream.wants_ll.store(ll, Ordering::Relaxed);
        }
    }
}

fn refused(hls: &Hls, refusal: &access::Refusal) -> Response {
    hls.streams.metrics.refused("play", refusal.reason.as_str());
    let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    // A browser player (hls.js) reads the status of a refusal only when CORS allows it; otherwise it sees a
    // network error and cannot tell "not live yet" (retry) from a broken server.
    (
        status,
        [(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        )],
        format!("{}\n", refusal.description()),
    )
        .into_response()
}

/// A request for a stream that is not live: counted like an RTMP or HTTP-FLV play of one.
fn not_live(hls: &Hls, key: &StreamKey) -> Response {
    let refusal = access::Refusal::new(
        access::Reason::NotFound,
        format!("stream {key} is not live"),
    );
    refused(hls, &refusal)
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

/// How long a playlist request waits for a live stream's first complete segment.
fn first_segment_wait(settings: &HlsSettings) -> Duration {
    let target = Duration::from_millis(settings.target_duration_ms);
    (target * 3 + Duration::from_secs(2)).min(FIRST_SEGMENT_WAIT_MAX)
}

/// How long a blocking request (playlist or hinted part) may be held: three target durations, as RFC 8216bis
/// 6.2.5.2 lets a client expect.
fn blocking_wait(settings: &HlsSettings) -> Duration {
    Duration::from_millis(settings.target_duration_ms.saturating_mul(3))
}

fn no_segment_yet(key: &StreamKey) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("not_found: stream {key} has no HLS segment yet (H.264/AAC needed)\n"),
    )
        .into_response()
}

/// What an HLS request asks for, as far as its stream's segmenter is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asks {
    /// A playlist of this variant: starts the segmenter (and the variant's muxer) when needed.
    Playlist,
    /// A segment, part or init segment: only from a running segmenter.
    File,
}

/// A request that passed [`for_viewer`]: its stream, and its app for admitting the client once it is answered.
struct Asking {
    stream: Arc<HlsStream>,
    app: Arc<App>,
}

/// What every HLS request does first: checks the signature, finds (for a playlist: starts) the stream's
/// segmenter, and refuses a new client there is no room for. The error is the response to send. The client is
/// counted as a viewer only by [`answered`], when the answer is a success.
#[allow(clippy::result_large_err)] // the error is the response itself, sent at once
async fn for_viewer(
    hls: &Arc<Hls>,
    key: &StreamKey,
    query: Option<&str>,
    client: &Client,
    variant: Protocol,
    asks: Asks,
) -> Result<Asking, Response> {
    let app = access::check_play_signature(&hls.streams, &key.app, &key.name, query)
        .map_err(|refusal| refused(hls, &refusal))?;
    // On a node that does not hold the stream, its relay feeds the local segmenter. A running segmenter means the
    // stream is here (it keeps a relay alive as a reader): playlist reloads skip the cluster's bookkeeping.
    if let (Some(cluster), Asks::Playlist) = (&hls.streams.cluster, asks) {
        let segmenting = entry::of_key(&hls.streams, key).is_some_and(|e| e.hls.lock().is_some());
        if !segmenting {
            cluster.pull(key).await.map_err(|r| refused(hls, &r))?;
        }
    }
    let stream = match asks {
        Asks::Playlist => ensure(hls, key),
        Asks::File => entry::of_key(&hls.streams, key).and_then(|e| e.hls.lock().clone()),
    }
    .ok_or_else(|| not_live(hls, key))?;
    stream.touch();
    if asks == Asks::Playlist {
        let wanted = if variant == Protocol::LlHls {
            &stream.wants_ll
        } else {
            &stream.wants_classic
        };
        wanted.store(true, Ordering::Relaxed);
    }
    check(hls, &stream, &app, client).map_err(|r| refused(hls, &r))?;
    Ok(Asking { stream, app })
}

/// Sends `response`, counting the client as a viewer when it is a success (a playlist or a file about to be
/// sent); an error answer counts nobody. A new viewer that no longer fits (someone took the last place while
/// this request waited) gets the refusal instead.
fn answered(
    hls: &Hls,
    asking: Asking,
    key: &StreamKey,
    client: &Client,
    variant: Protocol,
    query: Option<&str>,
    response: Response,
) -> Response {
    if !response.status().is_success() {
        return response;
    }
    match admit(hls, &asking.stream, asking.app, key, client, variant, query) {
        Ok(()) => response,
        Err(refusal) => refused(hls, &refusal),
    }
}

/// `GET /{app}/{stream}.m3u8` (dispatched from the `/{app}/{file}` route): the live media playlist. Waits for
/// the first segment of a stream that is live but has none yet.
pub(crate) async fn playlist(
    hls: Arc<Hls>,
    app: String,
    name: &str,
    query: Option<String>,
    client: Client,
) -> Response {
    let key = StreamKey::new(app, name.to_string());
    let asking = match for_viewer(
        &hls,
        &key,
        query.as_deref(),
        &client,
        Protocol::Hls,
        Asks::Playlist,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let response = classic_playlist(&hls, &key, &asking.stream, query.as_deref()).await;
    answered(
        &hls,
        asking,
        &key,
        &client,
        Protocol::Hls,
        query.as_deref(),
        response,
    )
}

/// The classic playlist of a running segmenter, once it has a segment.
async fn classic_playlist(
    hls: &Hls,
    key: &StreamKey,
    stream: &HlsStream,
    query: Option<&str>,
) -> Response {
    let mut rx = stream.window.subscribe();
    // A timeout or a closed channel both leave the latest snapshot to answer with.
    let wait = first_segment_wait(&hls.settings);
    let _ = tokio::time::timeout(wait, rx.wait_for(|w| !w.segments.is_empty() || w.ended)).await;
    let window = rx.borrow().clone();
    if window.segments.is_empty() {
        return no_segment_yet(key);
    }
    let text = hls::playlist::render(
        &window.segments,
        window.discontinuity_sequence,
        hls.settings.target_duration_ms,
        &format!("{}/", key.name),
        query,
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let hls = shared.hls.clone();
    let client = Client::new(peer, &headers);
    if file == "ll.m3u8" {
        return ll::ll_playlist(hls, app, name, query, client).await;
    }
    let Some(sequence) = file.strip_suffix(".ts").and_then(|s| s.parse::<u64>().ok()) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no route for /{app}/{name}/{file}: HLS segment URLs are /{{app}}/{{stream}}/{{number}}.ts\n"),
        )
            .into_response();
    };
    let key = StreamKey::new(app, name);
    let asking = match for_viewer(
        &hls,
        &key,
        query.as_deref(),
        &client,
        Protocol::Hls,
        Asks::File,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let window = asking.stream.window.borrow().clone();
    let first = window.segments.first().map_or(0, |s| s.sequence);
    let found = sequence
        .checked_sub(first)
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| window.segments.get(i));
    let response = match found {
        Some(s) => with_headers(s.data.clone().into_response(), "video/mp2t", "max-age=60"),
        None => (
            StatusCode::NOT_FOUND,
            format!("not_found: segment {sequence} of {key} is not in the window\n"),
        )
            .into_response(),
    };
    answered(
        &hls,
        asking,
        &key,
        &client,
        Protocol::Hls,
        query.as_deref(),
        response,
    )
}
