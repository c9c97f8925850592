//! Low-latency HLS requests: the playlist with blocking reload (`_HLS_msn` / `_HLS_part`) and the files of the
//! window (init segments, whole segments, parts), each waited for as RFC 8216bis allows.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hls::ll::{BlockingRequest, LlUris};
use media::StreamKey;

use super::Hls;
use super::{
    answered, blocking_wait, first_segment_wait, for_viewer, no_segment_yet, with_headers, Asks,
    Client, HlsStream,
};
use crate::stream::lifecycle::Protocol;
use crate::Shared;

/// Splits a playlist query into the blocking-reload directives (`_HLS_msn`, `_HLS_part`) and the rest, which
/// is repeated on every URI of the playlist (the signature). `_HLS_skip` is not supported and dropped.
fn blocking_params(query: Option<&str>) -> Result<(Option<BlockingRequest>, String), String> {
    let mut msn = None;
    let mut part = None;
    let mut rest = Vec::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("bad_request: {name}={value:?} is not a non-negative integer"))
        };
        match name {
            "_HLS_msn" => msn = Some(number()?),
            "_HLS_part" => part = Some(number()?),
            n if n.starts_with("_HLS_") => {}
            _ => rest.push(pair),
        }
    }
    let request = match (msn, part) {
        (Some(msn), part) => Some(BlockingRequest { msn, part }),
        (None, None) => None,
        (None, Some(_)) => return Err("bad_request: _HLS_part needs _HLS_msn".into()),
    };
    Ok((request, rest.join("&")))
}

/// `GET /{app}/{stream}/ll.m3u8`: the LL-HLS media playlist. Waits for the first segment like the classic one;
/// with `_HLS_msn` (and `_HLS_part`) it is held until the playlist holds that segment (part), at most three
/// target durations (then 503).
pub(super) async fn ll_playlist(
    hls: Arc<Hls>,
    app: String,
    name: String,
    query: Option<String>,
    client: Client,
) -> Response {
    let key = StreamKey::new(app, name);
    if !hls.settings.low_latency {
        return (
            StatusCode::NOT_FOUND,
            format!("not_found: low-latency HLS is off on this server (hls.low_latency); play {key}.m3u8\n"),
        )
            .into_response();
    }
    let (request, echo) = match blocking_params(query.as_deref()) {
        Ok(v) => v,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
    };
    let asking = match for_viewer(
        &hls,
        &key,
        query.as_deref(),
        &client,
        Protocol::LlHls,
        Asks::Playlist,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let response = ll_playlist_answer(&hls, &key, &asking.stream, request, &echo).await;
    answered(
        &hls,
        asking,
        &key,
        &client,
        Protocol::LlHls,
        query.as_deref(),
        response,
    )
}

/// The LL-HLS playlist of a running segmenter, held until it satisfies `request`.
async fn ll_playlist_answer(
    hls: &Hls,
    key: &StreamKey,
    stream: &HlsStream,
    request: Option<BlockingRequest>,
    echo: &str,
) -> Response {
    let mut rx = stream.ll.subscribe();
    let wait = first_segment_wait(&hls.settings);
    let _ = tokio::time::timeout(wait, rx.wait_for(|w| !w.segments.is_empty() || w.ended)).await;
    if rx.borrow().segments.is_empty() {
        return no_segment_yet(key);
    }
    if let Some(request) = request {
        if rx.borrow().too_far_ahead(request) {
            let (msn, part) = rx.borrow().edge();
            return (
                StatusCode::BAD_REQUEST,
                format!(
                    "bad_request: _HLS_msn={} _HLS_part={:?} is too far ahead of the live edge (segment {msn}, part {part})\n",
                    request.msn, request.part
                ),
            )
                .into_response();
        }
        let wait = blocking_wait(&hls.settings);
        let waited =
            tokio::time::timeout(wait, rx.wait_for(|w| w.satisfies(request) || w.ended)).await;
        if waited.is_err() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "unavailable: segment {} part {:?} of {key} did not come within {} ms\n",
                    request.msn,
                    request.part,
                    wait.as_millis()
                ),
            )
                .into_response();
        }
    }
    let window = rx.borrow().clone();
    let prefix = "ll/";
    let text = hls::ll::render(
        &window,
        LlUris {
            prefix,
            query: Some(echo),
        },
    );
    with_headers(
        text.into_response(),
        "application/vnd.apple.mpegurl",
        "no-cache",
    )
}

/// A file of the LL-HLS window, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LlFile {
    Init(u32),
    Segment(u64),
    Part(u64, u64),
}

impl LlFile {
    fn parse(file: &str) -> Option<LlFile> {
        if let Some(n) = file
            .strip_prefix("init-")
            .and_then(|f| f.strip_suffix(".mp4"))
        {
            return n.parse().ok().map(LlFile::Init);
        }
        let stem = file.strip_suffix(".m4s")?;
        match stem.split_once('.') {
            Some((msn, part)) => Some(LlFile::Part(msn.parse().ok()?, part.parse().ok()?)),
            None => stem.parse().ok().map(LlFile::Segment),
        }
    }
}

/// `GET /{app}/{stream}/ll/{file}`: an init segment, a whole segment or a part of the LL-HLS window. A part
/// that is about to be written (the playlist's preload hint, or up to three parts past it) is waited for.
pub(crate) async fn ll_file(
    State(shared): State<Arc<Shared>>,
    Path((app, name, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let hls = shared.hls.clone();
    let Some(wanted) = LlFile::parse(&file) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no route for /{app}/{name}/ll/{file}: LL-HLS files are init-N.mp4, MSN.m4s and MSN.PART.m4s\n"),
        )
            .into_response();
    };
    let client = Client::new(peer, &headers);
    let key = StreamKey::new(app, name);
    let asking = match for_viewer(
        &hls,
        &key,
        query.as_deref(),
        &client,
        Protocol::LlHls,
        Asks::File,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let response = ll_file_answer(&hls, &key, &asking.stream, wanted).await;
    answered(
        &hls,
        asking,
        &key,
        &client,
        Protocol::LlHls,
        query.as_deref(),
        response,
    )
}

/// An LL-HLS file of a running segmenter, or 404 when it is not (or no longer) in the window.
async fn ll_file_answer(
    hls: &Hls,
    key: &StreamKey,
    stream: &HlsStream,
    wanted: LlFile,
) -> Response {
    let mut rx = stream.ll.subscribe();
    let gone = |what: String| {
        (
            StatusCode::NOT_FOUND,
            format!("not_found: {what} of {key} is not in the LL-HLS window\n"),
        )
            .into_response()
    };
    match wanted {
        LlFile::Init(n) => {
            let window = rx.borrow().clone();
            match window.inits.iter().find(|(i, _)| *i == n) {
                Some((_, data)) => {
                    with_headers(data.clone().into_response(), "video/mp4", "max-age=60")
                }
                None => gone(format!("init segment {n}")),
            }
        }
        LlFile::Segment(msn) => {
            let window = rx.borrow().clone();
            let Some(segment) = window.segments.iter().find(|s| s.sequence == msn) else {
                return gone(format!("segment {msn}"));
            };
            // The parts' own buffers, one after the other: no copy per request.
            let chunks: Vec<Bytes> = segment.chunks().collect();
            let len: usize = chunks.iter().map(Bytes::len).sum();
            let body = Body::from_stream(futures_util::stream::iter(
                chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
            ));
            let mut response = with_headers(body.into_response(), "video/mp4", "max-age=60");
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            response
        }
        LlFile::Part(msn, part) => {
            let request = BlockingRequest {
                msn,
                part: Some(part),
            };
            let ahead = {
                let window = rx.borrow();
                !window.satisfies(request) && !window.too_far_ahead(request) && !window.ended
            };
            if ahead {
                let wait = blocking_wait(&hls.settings);
                let _ =
                    tokio::time::timeout(wait, rx.wait_for(|w| w.satisfies(request) || w.ended))
                        .await;
            }
            let window = rx.borrow().clone();
            let found = window
                .segment(msn)
                .and_then(|s| s.parts.get(usize::try_from(part).ok()?));
            match found {
                Some(p) => with_headers(p.data.clone().into_response(), "video/mp4", "max-age=60"),
                None => gone(format!("part {msn}.{part}")),
            }
        }
    }
}
