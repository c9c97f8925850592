//! The WHEP resource: `POST /{app}/{stream}/whep` with an SDP offer (`application/sdp`) answers `201 Created` with
//! the SDP answer and the session's `Location`; `DELETE` on that location ends the session; `PATCH` (trickle ICE)
//! is answered 405 because the server is ICE-lite and learns the browser's address from its checks; `OPTIONS`
//! answers CORS preflights. Refusals are plain text, `reason: what to do`, with the status of the typed refusal
//! (docs/api.md), as HTTP-FLV's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use media::StreamKey;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::bframes;
use super::driver::{Command, Open};
use super::feeder::Feeder;
use super::offer::{self, MAX_OFFER_BYTES};
use super::probe;
use super::profile::ProfileLevel;
use super::rendition::RenditionError;
use super::settings::BFrames;
use super::{Reservation, Webrtc};
use crate::ops::log_value::clip;
use crate::stream::lifecycle::{self, Protocol, Request};
use crate::Shared;

/// profile-level-id of what the re-encoder writes: Constrained Baseline, level 3.1.
const CONSTRAINED_BASELINE_31: u32 = 0x0042_e01f;

/// Methods of the WHEP endpoint and its sessions, for `Allow` and CORS.
const METHODS: &str = "POST, DELETE, PATCH, OPTIONS";

/// `POST /{app}/{stream}/whep`.
pub(crate) async fn offer(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(webrtc) = shared.webrtc.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_enabled: WebRTC playback is off on this server ([webrtc] enabled = false)",
        );
    };
    let (sdp, place) = match read_offer(&webrtc, "WHEP", &headers, &body) {
        Ok(offer) => offer,
        Err(refusal) => return *refusal,
    };
    let key = StreamKey::new(app.clone(), stream.clone());
    // The stream's codec first: a refusal that says why beats an answer whose video never plays.
    if let Some(stats) = shared.streams.registry.get(&key) {
        if let Some(codec) = stats.video_codec.as_deref().filter(|c| *c != "H264") {
            return refuse(
                StatusCode::NOT_ACCEPTABLE,
                &format!(
                    "codec_unsupported: the stream's video is {}, and WebRTC playback passes H.264 through only \
                     (publish H.264, or play it over HTTP-FLV or HLS)",
                    clip(codec)
                ),
            );
        }
    }
    // B-frames next: such a stream plays as a keyframe a second in browsers (docs/webrtc.md, "B-frames"), so it
    // is re-encoded without them for its WebRTC viewers (or refused, as configured).
    let b_frames = webrtc.settings.b_frames;
    let probe = probe::probe(&shared.streams.registry, &key, b_frames != BFrames::Pass);
    let mut transcode = false;
    if let Some(why) = probe.reordered {
        match b_frames {
            BFrames::Refuse => {
                info!(%peer, stream = %key, "WHEP offer refused: B-frames ({why})");
                return refuse(StatusCode::NOT_ACCEPTABLE, &bframes::refusal(&why));
            }
            BFrames::Transcode => {
                debug!(%peer, stream = %key, "WHEP: B-frames ({why}): the session plays the re-encoded video");
                transcode = true;
            }
            BFrames::Pass => {}
        }
    }
    // A re-encoded stream is Constrained Baseline, whatever the original's profile.
    let profile = if transcode {
        Some(ProfileLevel::from_id(CONSTRAINED_BASELINE_31))
    } else {
        probe.profile
    };
    let now = std::time::Instant::now();
    let negotiated = match offer::negotiate(&webrtc.setup, sdp, profile, now) {
        Ok(n) => n,
        Err(e) => {
            info!(%peer, stream = %key, "WHEP offer refused: {e}");
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let reason = match e {
                offer::OfferError::NoH264 => "codec_unsupported",
                _ => "bad_offer",
            };
            return refuse(status, &format!("{reason}: {e}"));
        }
    };
    let req = Request {
        app: &app,
        stream: &stream,
        query: query.as_deref(),
        peer,
        protocol: Protocol::Webrtc,
    };
    let play = match lifecycle::play(&shared.streams, req).await {
        Ok(p) => p,
        Err(refusal) => {
            let status =
                StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::NOT_FOUND);
            return refuse(status, &refusal.description());
        }
    };
    let rendition = if transcode {
        match webrtc.renditions.view(&shared.streams.registry, &key) {
            Ok(viewer) => Some(viewer),
            Err(e) => {
                info!(%peer, stream = %key, "WHEP offer refused: {e}");
                let status = match e {
                    RenditionError::TooMany { .. } => StatusCode::SERVICE_UNAVAILABLE,
                    RenditionError::NotFound => StatusCode::NOT_FOUND,
                };
                return refuse(status, &e.to_string());
            }
        }
    } else {
        None
    };
    debug!(%peer, stream = %key, stream_profile = ?profile.map(|p| p.to_string()),
        answered = ?negotiated.video_profile.map(|p| p.to_string()), pt = *negotiated.video.1,
        "WHEP: H.264 payload type chosen");
    let (id, token) = place.add(key.clone());
    let (connected, connected_rx) = oneshot::channel();
    let stop = CancellationToken::new();
    let feeder = Feeder {
        id,
        subscriber: play.subscriber,
        entry: play.entry.clone(),
        timestamps: webrtc.settings.video_timestamps,
        b_frames,
        rendition,
        renditions: webrtc.renditions.clone(),
        registry: shared.streams.registry.clone(),
        audio: negotiated.audio.is_some(),
        opus: webrtc.settings.opus_config(),
        opus_cache_frames: webrtc.settings.opus_cache_frames,
        out: webrtc.media.clone(),
        connected: connected_rx,
        stop: stop.clone(),
        // Listed among the stream's players while its feeder runs, that is while the session lives.
        listed: play.entry.players.register("webrtc", peer),
    };
    let open = Open {
        id,
        rtc: negotiated.rtc,
        video: negotiated.video,
        audio: negotiated.audio,
        connected: Some(connected),
        stop: stop.clone(),
        _play: Some(play.session),
        ingest: None,
        label: format!("{key} {peer} #{id}"),
    };
    hand_over(
        &webrtc,
        open,
        feeder.run(),
        format!("/{app}/{stream}/whep/{token}"),
        negotiated.answer,
    )
    .await
}

/// Hands a session to the UDP task and starts its own task (`task`: a WHEP feeder, a WHIP publish), then answers
/// `201 Created` with the SDP answer and the session's `location`; 503 when the server is stopping.
pub(super) async fn hand_over(
    webrtc: &Webrtc,
    open: Open,
    task: impl std::future::Future<Output = ()> + Send + 'static,
    location: String,
    answer: String,
) -> Response {
    let id = open.id;
    if webrtc
        .commands
        .send(Command::Open(Box::new(open)))
        .await
        .is_err()
    {
        webrtc.sessions.remove(id);
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down: the server is stopping",
        );
    }
    webrtc.tracker.spawn(task);
    let mut response = (StatusCode::CREATED, answer).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    cors(h);
    response
}

/// `DELETE /{app}/{stream}/whep/{session}`: ends the session (200), 404 when there is none.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((app, stream, token)): Path<(String, String, String)>,
) -> Response {
    let key = StreamKey::new(app, stream);
    let found = shared
        .webrtc
        .as_ref()
        .and_then(|w| w.sessions.find(&token, &key).map(|id| (w, id)));
    let Some((webrtc, id)) = found else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found: no WebRTC session here (it ended, or the URL is not a session's Location)",
        );
    };
    webrtc.sessions.remove(id);
    let _ = webrtc.commands.send(Command::Close(id)).await;
    let mut response = StatusCode::OK.into_response();
    cors(response.headers_mut());
    response
}

/// `PATCH /{app}/{stream}/whep/{session}`: trickle ICE is not used (405, as RFC 9725 asks of a server without it).
pub(crate) async fn patch() -> Response {
    let mut response = refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        "trickle_unsupported: the server is ICE-lite: it learns the browser's address from its connectivity \
         checks, so candidates need not be sent",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE, OPTIONS"));
    response
}

/// `OPTIONS` on the endpoint or a session: the CORS preflight a page on another origin sends.
pub(crate) async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    cors(h);
    set(
        h,
        &[
            (header::ALLOW, METHODS),
            (header::ACCESS_CONTROL_ALLOW_METHODS, METHODS),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "content-type, authorization, if-match",
            ),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    );
    response
}

/// Any origin may play (access is the play signature's business), and may read `Location`.
pub(super) fn cors(h: &mut HeaderMap) {
    set(
        h,
        &[
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_EXPOSE_HEADERS, "location"),
        ],
    );
}

fn set(h: &mut HeaderMap, pairs: &[(header::HeaderName, &'static str)]) {
    for (name, value) in pairs {
        h.insert(name.clone(), HeaderValue::from_static(value));
    }
}

/// The checks every offer passes before its SDP is read, for WHEP and WHIP (`what`): `Content-Type:
/// application/sdp`, at most `MAX_OFFER_BYTES`, UTF-8, and a place among `webrtc.max_sessions`, held from here
/// (concurrent offers cannot all pass the check before any of them is a session) until the session is added or
/// the offer refused. The refusal is the answer to send (boxed: a `Response` is large).
pub(super) fn read_offer<'b>(
    webrtc: &Webrtc,
    what: &str,
    headers: &HeaderMap,
    body: &'b Bytes,
) -> Result<(&'b str, Reservation), Box<Response>> {
    let sdp_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !sdp_type {
        return Err(Box::new(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("bad_offer: a {what} offer is sent with Content-Type: application/sdp"),
        )));
    }
    if body.len() > MAX_OFFER_BYTES {
        return Err(Box::new(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("bad_offer: the SDP offer is over {MAX_OFFER_BYTES} bytes"),
        )));
    }
    let Ok(sdp) = std::str::from_utf8(body) else {
        return Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "bad_offer: malformed SDP offer: not UTF-8 text",
        )));
    };
    let Some(place) = webrtc.sessions.reserve(webrtc.settings.max_sessions) else {
        return Err(Box::new(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "too_many_sessions: this server holds webrtc.max_sessions ({}) WebRTC sessions",
                webrtc.settings.max_sessions
            ),
        )));
    };
    Ok((sdp, place))
}

/// A refusal: plain text `reason: message`, with CORS so a page can read why.
pub(super) fn refuse(status: StatusCode, text: &str) -> Response {
    let mut response = (status, format!("{text}\n")).into_response();
    cors(response.headers_mut());
    response
}
