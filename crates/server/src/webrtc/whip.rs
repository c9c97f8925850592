//! The WHIP resource (RFC 9725): `POST /{app}/{stream}/whip` with the browser's SDP offer (sendonly or sendrecv
//! H.264 video, Opus audio) answers `201 Created` with the answer and the session's `Location`; `DELETE` on that
//! location ends the publish; `PATCH` and `OPTIONS` are WHEP's ([`super::http`]). A WHIP session is one more
//! publisher of the stream lifecycle (`stream::lifecycle::publish`, protocol `whip`): the same access checks, the
//! hub's one-publisher rule, webhooks, statistics, kicks and interruption records as an RTMP publish.
//!
//! Credentials: the push signature in the query (`txSecret`/`txTime`, as RTMP), or an app token as
//! `Authorization: Bearer` (the JWT the SDK endpoints take, checked by `http::api::sdk::check_token`), which stands
//! for the signed push URL the SDK's publisher endpoint would hand out for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use control::jwt::Role;
use media::StreamKey;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::Rtc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::driver::Open;
use super::http::{hand_over, read_offer, refuse};
use super::ingest::Converter;
use super::offer::{self, Negotiated, OfferError, RtcSetup};
use super::publish::{Ingest, PublishTask};
use super::settings::WhipSettings;
use crate::stream::access::Refusal;
use crate::stream::lifecycle::{self, Protocol, Request};
use crate::Shared;

/// How long the push URL a token stands for is valid: it is checked at once, by this request.
const TOKEN_URL_TTL_SECS: u64 = 60;

/// Answers a WHIP offer: the session receives H.264 (packetization-mode 1, any profile the browser offers) on the
/// first video m-line the browser sends, and Opus on the first audio one if there is one (else the publish is
/// video only).
pub(crate) fn negotiate(
    setup: &RtcSetup,
    sdp: &str,
    settings: &WhipSettings,
    now: Instant,
) -> Result<Negotiated, OfferError> {
    let base = Rtc::builder()
        .set_reordering_size_video(settings.reorder_packets_video)
        .set_reordering_size_audio(settings.reorder_packets_audio);
    let (mut rtc, answer) = offer::accept(setup, sdp, None, base, now)?;
    let (video_mid, audio_mid) = receiving_mlines(&rtc, sdp);
    let h264 = |codec: Codec, params: &str0m::format::CodecSpec| {
        codec == Codec::H264 && params.format.packetization_mode == Some(1)
    };
    let video = video_mid
        .and_then(|mid| offer::pick(&mut rtc, mid, h264).map(|pt| (mid, pt)))
        .ok_or(OfferError::NoH264Sender)?;
    let audio = audio_mid.and_then(|mid| {
        offer::pick(&mut rtc, mid, |codec, _| codec == Codec::Opus).map(|pt| (mid, pt))
    });
    let answer = with_bandwidth(
        &answer.to_sdp_string(),
        &video.0.to_string(),
        settings.max_video_bitrate_bps,
    );
    Ok(Negotiated {
        rtc,
        answer,
        video,
        video_profile: None,
        audio,
    })
}

/// `answer` with a `b=AS` line (RFC 4566, kbit/s) in the media section of `mid`: the most the browser may send
/// there. Browsers cap their encoder at it, so a publisher cannot send more than `webrtc.whip.max_video_bitrate_bps`
/// whatever its camera and network.
fn with_bandwidth(answer: &str, mid: &str, bps: u32) -> String {
    let line = format!("b=AS:{}\r\n", bps.div_ceil(1000));
    let mid_line = format!("a=mid:{mid}");
    // The session part, then one section per `m=` line.
    let mut sections: Vec<Vec<&str>> = vec![Vec::new()];
    for l in answer.split_inclusive("\r\n") {
        if l.starts_with("m=") {
            sections.push(Vec::new());
        }
        if let Some(section) = sections.last_mut() {
            section.push(l);
        }
    }
    let mut out = String::with_capacity(answer.len() + line.len());
    for section in &sections {
        let ours = section.first().is_some_and(|l| l.starts_with("m="))
            && section.iter().any(|l| l.trim_end() == mid_line);
        // RFC 4566's order in a media section: m=, i=, c=, b=, ...
        let at = section
            .iter()
            .take_while(|l| l.starts_with("m=") || l.starts_with("i=") || l.starts_with("c="))
            .count();
        for (i, l) in section.iter().enumerate() {
            if ours && i == at {
                out.push_str(&line);
            }
            out.push_str(l);
        }
        if ours && at == section.len() {
            out.push_str(&line);
        }
    }
    out
}

/// The first video and the first audio m-line of the offer that the server receives on (the browser's sendonly or
/// sendrecv), by their `a=mid`.
fn receiving_mlines(rtc: &Rtc, sdp: &str) -> (Option<Mid>, Option<Mid>) {
    let mut video = None;
    let mut audio = None;
    for mid in sdp.lines().filter_map(|l| l.trim().strip_prefix("a=mid:")) {
        let Some(media) = rtc.media(Mid::from(mid)) else {
            continue;
        };
        // Our direction: the browser's sendonly is our recvonly.
        if !matches!(media.direction(), Direction::RecvOnly | Direction::SendRecv) {
            continue;
        }
        match media.kind() {
            MediaKind::Video => {
                video.get_or_insert(media.mid());
            }
            MediaKind::Audio => {
                audio.get_or_insert(media.mid());
            }
        }
    }
    (video, audio)
}

/// `POST /{app}/{stream}/whip`.
pub(crate) async fn offer(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(webrtc) = shared.webrtc.clone().filter(|w| w.settings.whip.enabled) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_enabled: WebRTC publishing is off on this server ([webrtc] enabled or [webrtc.whip] enabled = false)",
        );
    };
    let (sdp, place) = match read_offer(&webrtc, "WHIP", &headers, &body) {
        Ok(offer) => offer,
        Err(refusal) => return *refusal,
    };
    let req = Request {
        app: &app,
        stream: &stream,
        query: query.as_deref(),
        peer,
        protocol: Protocol::Whip,
    };
    // The names first: nothing is logged or built from a name that breaks the rules.
    if let Err(refusal) = crate::stream::access::check_names(&app, Some(&stream)) {
        lifecycle::refused_publish(&shared.streams, req, &refusal);
        return refused(&refusal);
    }
    let key = StreamKey::new(app.clone(), stream.clone());
    // A bearer token stands for the signed push URL the SDK endpoint would hand out for it.
    let signed;
    let req = match bearer(&headers) {
        None => req,
        Some(token) => match token_query(&shared, req, token) {
            Ok(query) => {
                signed = query;
                Request {
                    query: Some(&signed),
                    ..req
                }
            }
            Err(refusal) => {
                info!(%peer, stream = %key, "WHIP publish refused: {}", refusal.description());
                lifecycle::refused_publish(&shared.streams, req, &refusal);
                return refused(&refusal);
            }
        },
    };
    // The offer before the publish: a publish that starts sends push_start, which a bad offer must not.
    let negotiated = match negotiate(&webrtc.setup, sdp, &webrtc.settings.whip, Instant::now()) {
        Ok(n) => n,
        Err(e) => {
            info!(%peer, stream = %key, "WHIP offer refused: {e}");
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let reason = match e {
                OfferError::NoH264Sender => "codec_unsupported",
                _ => "bad_offer",
            };
            return refuse(status, &format!("{reason}: {e}"));
        }
    };
    let session = match lifecycle::publish(&shared.streams, req).await {
        Ok(s) => s,
        Err(refusal) => return refused(&refusal),
    };
    let (id, token) = place.add(key.clone());
    let label = format!("{key} {peer} #{id}");
    if negotiated.audio.is_none() {
        info!(session = %label, "WHIP offer without Opus audio: the stream is video only");
    }
    let whip = &webrtc.settings.whip;
    let (converter, error) = Converter::new(
        whip.aac_config(),
        whip.max_frame_bytes,
        negotiated.audio.is_some(),
    );
    if let Some(error) = error {
        info!(session = %label, "WHIP: {error}");
    }
    let (media, media_rx) = mpsc::channel(whip.queue);
    let open = Open {
        id,
        rtc: negotiated.rtc,
        video: negotiated.video,
        audio: negotiated.audio,
        connected: None,
        stop: CancellationToken::new(),
        _play: None,
        ingest: Some(Ingest::new(
            negotiated.video.0,
            negotiated.audio.map(|a| a.0),
            Duration::from_millis(whip.keyframe_request_interval_ms),
            whip.keyframe_every(),
            media,
            label.clone(),
        )),
        label: label.clone(),
    };
    let task = PublishTask {
        id,
        session,
        media: media_rx,
        converter,
        commands: webrtc.commands.clone(),
        sessions: webrtc.sessions.clone(),
        no_media_timeout: shared.publisher_timeout,
        shutdown: shared.shutdown.clone(),
        label,
    };
    hand_over(
        &webrtc,
        open,
        task.run(),
        format!("/{app}/{stream}/whip/{token}"),
        negotiated.answer,
    )
    .await
}

/// The token of `Authorization: Bearer TOKEN`, if the request has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks an app token for publishing `req`'s stream (the SDK endpoints' check) and returns the signed push query
/// it stands for, which the lifecycle then verifies like any push URL's.
fn token_query(shared: &Shared, req: Request<'_>, token: &str) -> Result<String, Refusal> {
    let app = shared.streams.catalog.app(req.app).ok_or_else(|| {
        Refusal::new(
            crate::stream::access::Reason::UnknownApp,
            format!(
                "no app named {}: create it with `mplive app create {}`",
                req.app, req.app
            ),
        )
    })?;
    let now = control::now_unix();
    crate::http::api::sdk::check_token(&app, req.stream, None, token, Role::Publisher, now)
        .map_err(|e| {
            let mut refusal = Refusal::from(e);
            refusal.message = format!(
                "{}; mint a publisher token for app {} and stream {} (`mplive token --app {} --channel {} --account ID`, \
                 or POST /v1/apps/{}/tokens)",
                refusal.message, app.name, req.stream, app.name, req.stream, app.name
            );
            refusal
        })?;
    Ok(control::txsecret::sign_query(
        &app.push_key,
        req.stream,
        now + TOKEN_URL_TTL_SECS,
    ))
}

/// A refused publish: the typed refusal's status and `reason: what to do`; a missing or invalid credential says
/// which scheme to use.
fn refused(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = refuse(status, &refusal.description());
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Chromium offers for sendonly camera and microphone transceivers (cut down): the WHEP offer with the
    /// directions turned and the senders' SSRCs.
    const WHIP_OFFER: &str = include_str!("testdata/chrome-whip-offer.sdp");
    const WHEP_OFFER: &str = include_str!("testdata/chrome-offer.sdp");

    #[test]
    fn a_browser_publish_offer_is_answered_recvonly() {
        let setup = RtcSetup::for_tests();
        let n = negotiate(&setup, WHIP_OFFER, &WhipSettings::default(), Instant::now())
            .expect("accepted");
        assert_eq!(*n.video.1, 102);
        assert_eq!(n.audio.map(|a| *a.1), Some(111));
        assert_eq!(n.answer.matches("a=recvonly").count(), 2, "{}", n.answer);
        assert!(n.answer.contains("a=ice-lite"), "{}", n.answer);
        // The video section, and only it, caps what the browser sends (webrtc.whip.max_video_bitrate_bps).
        let video = n
            .answer
            .split("m=")
            .find(|s| s.starts_with("video"))
            .unwrap();
        let lines: Vec<&str> = video.split("\r\n").collect();
        let c = lines
            .iter()
            .position(|l| l.starts_with("c="))
            .expect("a c= line");
        assert_eq!(lines[c + 1], "b=AS:6000", "{}", n.answer);
        assert_eq!(n.answer.matches("b=AS:").count(), 1, "{}", n.answer);
    }

    #[test]
    fn the_bandwidth_line_goes_where_sdp_wants_it() {
        let answer = "v=0\r\ns=-\r\nm=audio 9 X 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\nm=video 9 X 96\r\na=mid:1\r\n";
        assert_eq!(
            with_bandwidth(answer, "1", 250_500),
            "v=0\r\ns=-\r\nm=audio 9 X 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\nm=video 9 X 96\r\nb=AS:251\r\na=mid:1\r\n"
        );
        // No such mid: unchanged.
        assert_eq!(with_bandwidth(answer, "7", 1000), answer);
    }

    #[test]
    fn offers_that_send_no_h264_are_not_acceptable() {
        let setup = RtcSetup::for_tests();
        // A player's offer (recvonly) sends nothing.
        let err = negotiate(&setup, WHEP_OFFER, &WhipSettings::default(), Instant::now()).err();
        assert_eq!(err, Some(OfferError::NoH264Sender));
        // VP8 only.
        let vp8_only: String = WHIP_OFFER
            .replace(" 96 102\r\n", " 96\r\n")
            .split_inclusive("\r\n")
            .filter(|l| !l.contains(":102 "))
            .collect();
        let err = negotiate(&setup, &vp8_only, &WhipSettings::default(), Instant::now()).err();
        assert_eq!(err, Some(OfferError::NoH264Sender));
        assert_eq!(OfferError::NoH264Sender.http_status(), 406);
        // Video without audio is a video-only publish.
        let video_only = WHIP_OFFER
            .split("m=audio")
            .next()
            .unwrap()
            .replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
        let n = negotiate(
            &setup,
            &video_only,
            &WhipSettings::default(),
            Instant::now(),
        )
        .expect("video only is accepted");
        assert!(n.audio.is_none());
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def.ghi"),
        );
        assert_eq!(bearer(&h), Some("abc.def.ghi"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  x "),
        );
        assert_eq!(bearer(&h), Some("x"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcg=="),
        );
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
