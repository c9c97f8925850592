//! HTTP-FLV playback through the router: every `GET /{app}/{stream}.flv` over HTTPS, and over plain HTTP the ones
//! that are not the first request of their connection (those are served directly by [`crate::http::flv_direct`]). A
//! chunked `video/x-flv` response that lasts as long as the stream.
//!
//! The body is a stream of the hub's shared FLV tag encodings. Frames are yielded in bursts (per the write policy):
//! hyper queues consecutive ready chunks and writes them together, so a burst leaves in few system calls.

use std::sync::Arc;

use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use media::{StreamKey, Subscriber};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tracing::debug;

use crate::http::flv_direct;
use crate::output::batch::WritePolicy;
use crate::output::encode::flv_tag;
use crate::Shared;

/// Most bytes yielded in one burst; the rest waits for the next wake-up.
const BURST_BYTES: usize = 512 * 1024;

struct FlvPlay {
    subscriber: Subscriber,
    policy: WritePolicy,
    shared: Arc<Shared>,
    key: StreamKey,
    _permit: OwnedSemaphorePermit,
    _session: crate::stream::lifecycle::PlaySession,
    /// Its place in the API's list of the stream's players.
    listed: crate::output::fanout::Streaming,
}

/// `GET /{app}/{file}` where `file` is `{stream}.flv`, or `{stream}.m3u8` (handed to [`crate::http::hls`]).
pub(crate) async fn play(
    State(shared): State<Arc<Shared>>,
    Path((app, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(name) = file.strip_suffix(".m3u8") {
        let name = name.to_string();
        let client = crate::http::hls::Client::new(peer, &headers);
        return crate::http::hls::playlist(shared.hls.clone(), app, &name, query, client).await;
    }
    let Some(name) = file.strip_suffix(".flv") else {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "no route for /{app}/{file}: HTTP-FLV URLs end in .flv, HLS playlists in .m3u8\n"
            ),
        )
            .into_response();
    };
    let key = StreamKey::new(app, name.to_string());
    let Ok(permit) = shared.flv_players.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many HTTP-FLV players (max_flv_players = {})\n",
                shared.max_flv_players
            ),
        )
            .into_response();
    };
    let start = match flv_direct::start(&shared, key, query.as_deref(), peer).await {
        Ok(s) => s,
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::NOT_FOUND);
            return (status, refusal.message).into_response();
        }
    };
    let header = start.header;
    let listed = start.entry.players.register("flv", peer);
    let state = FlvPlay {
        listed,
        subscriber: start.subscriber,
        policy: start.policy,
        shared,
        key: start.key,
        _permit: permit,
        _session: start._session,
    };
    let bursts =
        stream::unfold(state, next_burst).flat_map(|burst| stream::iter(burst.into_iter().map(Ok)));
    let body = stream::once(async move { Ok::<_, std::io::Error>(header) }).chain(bursts);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("video/x-flv"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// Waits for the next frame, lets more collect for the merge window, and returns them as one burst.
async fn next_burst(mut play: FlvPlay) -> Option<(Vec<Bytes>, FlvPlay)> {
    let shutdown = play.shared.shutdown.clone();
    let first = tokio::select! {
        _ = shutdown.cancelled() => return None,
        frame = play.subscriber.recv() => match frame {
            Ok(f) => f,
            Err(_) => {
                debug!(stream = %play.key, "HTTP-FLV play ended: publisher gone");
                return None;
            }
        },
    };
    if let WritePolicy::Merged(window) = play.policy {
        let until = Instant::from_std(first.published_at()) + window;
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep_until(until) => {}
        }
    }
    let mut burst = vec![flv_tag(&first)];
    let mut len = burst[0].len();
    while len < BURST_BYTES {
        match play.subscriber.try_recv() {
            Ok(Some(frame)) => {
                let tag = flv_tag(&frame);
                len += tag.len();
                burst.push(tag);
            }
            Ok(None) | Err(_) => break,
        }
    }
    // Counted when handed to hyper; the socket write follows at once.
    play.subscriber.record_sent(len as u64);
    let listed = &play.listed.player;
    listed
        .bytes
        .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
    listed.dropped_frames.store(
        play.subscriber.dropped_frames(),
        std::sync::atomic::Ordering::Relaxed,
    );
    Some((burst, play))
}
