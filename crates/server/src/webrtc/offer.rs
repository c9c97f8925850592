//! A WHEP offer becomes a configured `str0m::Rtc` and its SDP answer, or one typed [`OfferError`] that says why
//! not. Pure: no socket, the clock is an argument; the driver takes the `Rtc` from here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::config::{CryptoProvider, DtlsCert};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::TcpType;
use str0m::{Candidate, Rtc};

use super::profile::{self, Profile, ProfileLevel};
use crate::ops::log_value::clip;

/// Largest SDP offer accepted, in bytes: browsers send 3-10 KB.
pub(crate) const MAX_OFFER_BYTES: usize = 64 * 1024;

/// Why an offer was refused; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum OfferError {
    /// Not an SDP offer str0m can read.
    #[error("malformed SDP offer: {0}")]
    Malformed(String),
    /// Readable, but not one this server can answer (no m-lines, no fingerprint, both sides ICE-lite, ...).
    #[error("SDP offer refused: {0}")]
    Refused(String),
    /// No video m-line this server may send H.264 on.
    #[error(
        "the offer cannot receive H.264 video (packetization-mode 1): mplive passes the stream's H.264 through \
         without transcoding, so the browser must offer H.264 in a recvonly or sendrecv video m-line"
    )]
    NoH264,
    /// A WHIP offer with no video m-line that sends H.264.
    #[error(
        "the offer sends no H.264 video (packetization-mode 1): mplive takes H.264 from browsers (prefer it with \
         RTCRtpTransceiver.setCodecPreferences) in a sendonly or sendrecv video m-line"
    )]
    NoH264Sender,
}

impl OfferError {
    /// The HTTP status of the refusal: 400 for what cannot be read or answered, 406 when the offer's codecs
    /// cannot carry the stream (WHEP's "not acceptable").
    pub(crate) fn http_status(&self) -> u16 {
        match self {
            OfferError::Malformed(_) | OfferError::Refused(_) => 400,
            OfferError::NoH264 | OfferError::NoH264Sender => 406,
        }
    }
}

/// What every session's `Rtc` is built with: made once at start.
#[derive(Clone)]
pub(crate) struct RtcSetup {
    /// The DTLS/SRTP backend (aws-lc-rs).
    pub(crate) crypto: Arc<CryptoProvider>,
    /// One certificate for every session (generating one per offer costs a key pair each).
    pub(crate) cert: DtlsCert,
    /// The UDP host candidates: the UDP port at each advertised address (none with
    /// `webrtc.udp_candidates = false`).
    pub(crate) candidates: Vec<SocketAddr>,
    /// The passive TCP host candidates (ICE-TCP): the listener's port at each advertised address.
    pub(crate) tcp_candidates: Vec<SocketAddr>,
    /// How long a WHEP session keeps the video packets it sent, to answer the browser's NACKs
    /// (`webrtc.nack_history_ms`): the bulk of a session's memory.
    pub(crate) nack_history: Duration,
}

impl RtcSetup {
    /// A setup with a fresh certificate and a loopback candidate (port 8189): for the fuzz target and tests.
    pub(crate) fn for_tests() -> RtcSetup {
        let crypto = str0m::crypto::from_feature_flags();
        // The aws-lc-rs backend always makes a certificate; without one nothing could be fuzzed.
        let cert = crypto
            .dtls_provider
            .generate_certificate()
            .expect("the crypto backend generates a DTLS certificate");
        RtcSetup {
            crypto: Arc::new(crypto),
            cert,
            candidates: vec![SocketAddr::from(([127, 0, 0, 1], 8189))],
            tcp_candidates: vec![SocketAddr::from(([127, 0, 0, 1], 8189))],
            nack_history: Duration::from_millis(1000),
        }
    }
}

/// An accepted offer: the session's `Rtc`, its answer, and where to write video and audio.
pub(crate) struct Negotiated {
    pub(crate) rtc: Rtc,
    /// The SDP answer.
    pub(crate) answer: String,
    /// The video m-line and its H.264 payload type.
    pub(crate) video: (Mid, Pt),
    /// The profile-level-id answered with that payload type.
    pub(crate) video_profile: Option<ProfileLevel>,
    /// The audio m-line and its Opus payload type, when the browser asked for audio.
    pub(crate) audio: Option<(Mid, Pt)>,
}

/// Answers `sdp`. `stream` is the stream's H.264 profile (from its sequence header): of the offer's H.264
/// payload types (packetization-mode 1), the answer has the one whose profile fits it best ([`profile::fit`]:
/// the same profile, else one whose decoder takes it, else Constrained Baseline, else the first); without it,
/// Constrained Baseline is preferred.
pub(crate) fn negotiate(
    setup: &RtcSetup,
    sdp: &str,
    stream: Option<ProfileLevel>,
    now: Instant,
) -> Result<Negotiated, OfferError> {
    // First with every H.264 profile str0m knows, to learn which the offer has and under which payload types;
    // then again with only the chosen one, so that the answer names what will be sent.
    let (mut rtc, _) = accept(setup, sdp, None, Rtc::builder(), now)?;
    let (video_mid, _) = sending_mlines(&rtc, sdp);
    let video_mid = video_mid.ok_or(OfferError::NoH264)?;
    let h264: Vec<H264Pt> = rtc
        .writer(video_mid)
        .map(|w| {
            w.payload_params()
                .filter(|p| {
                    let spec = p.spec();
                    spec.codec == Codec::H264 && spec.format.packetization_mode == Some(1)
                })
                .filter_map(|p| {
                    Some(H264Pt {
                        pt: p.pt(),
                        rtx: p.resend(),
                        profile: ProfileLevel::from_id(p.spec().format.profile_level_id?),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let chosen = choose(&h264, stream).ok_or(OfferError::NoH264)?;
    let (mut rtc, answer) = accept(setup, sdp, Some(chosen), Rtc::builder(), now)?;
    let (video_mid, audio_mid) = sending_mlines(&rtc, sdp);
    let video = video_mid
        .and_then(|mid| {
            pick(&mut rtc, mid, |codec, params| {
                codec == Codec::H264 && params.format.packetization_mode == Some(1)
            })
            .map(|pt| (mid, pt))
        })
        .ok_or(OfferError::NoH264)?;
    let audio = audio_mid
        .and_then(|mid| pick(&mut rtc, mid, |codec, _| codec == Codec::Opus).map(|pt| (mid, pt)));
    // str0m keeps every video packet sent for 3 s (up to 1000) to answer NACKs: at a few Mbit/s about 1 MiB per
    // session. A shorter history answers the NACKs that can still help (a browser's low-latency jitter buffer
    // gives a picture up well within a second) for a third of the memory or less.
    if let Some(tx) = rtc.direct_api().stream_tx_by_mid(video.0, None) {
        tx.set_rtx_cache(VIDEO_RESEND_PACKETS, setup.nack_history, RTX_RATIO_CAP);
    }
    Ok(Negotiated {
        rtc,
        answer: answer.to_sdp_string(),
        video,
        video_profile: Some(chosen.profile),
        audio,
    })
}

/// Video packets kept for resends at most, whatever their age (str0m's default).
const VIDEO_RESEND_PACKETS: usize = 1000;
/// Queued resends are dropped when they pass this share of what is sent (str0m's default).
const RTX_RATIO_CAP: Option<f32> = Some(0.15);

/// An H.264 payload type of the offer (with its retransmission payload type) and its profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct H264Pt {
    pt: Pt,
    rtx: Option<Pt>,
    profile: ProfileLevel,
}

/// The payload type that fits `stream` best; the first of equals.
fn choose(offered: &[H264Pt], stream: Option<ProfileLevel>) -> Option<H264Pt> {
    let score = |p: &H264Pt| match stream {
        Some(s) => profile::fit(s, p.profile),
        None => u8::from(p.profile.profile() == Profile::ConstrainedBaseline),
    };
    // `max_by_key` keeps the last of equals: walk backwards to keep the first.
    offered.iter().rev().max_by_key(|p| score(p)).copied()
}

/// A session's `Rtc` (ICE-lite, the setup's certificate and candidates, H.264 and Opus) built on `base` (the
/// caller's tuning: WHIP's reordering sizes) with `sdp` accepted: with every H.264 profile str0m knows, or only
/// `h264`.
pub(super) fn accept(
    setup: &RtcSetup,
    sdp: &str,
    h264: Option<H264Pt>,
    base: str0m::RtcConfig,
    now: Instant,
) -> Result<(Rtc, str0m::change::SdpAnswer), OfferError> {
    check_mlines(sdp)?;
    let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| OfferError::Malformed(e.to_string()))?;
    // ICE-lite: the browser makes the checks and the server learns its address from them, so no remote
    // candidates are needed (no trickle) and the one UDP socket answers every session.
    let mut config = base
        .set_ice_lite(true)
        .set_crypto_provider(setup.crypto.clone())
        .set_dtls_cert(setup.cert.clone())
        .clear_codecs()
        .enable_h264(h264.is_none())
        .enable_opus(true, false);
    match h264 {
        Some(p) => {
            let id = u32::from_be_bytes([0, p.profile.idc, p.profile.iop, p.profile.level]);
            config.codec_config().add_h264(p.pt, p.rtx, true, id);
        }
        // str0m's H.264 set (Baseline, Constrained Baseline, Main, High) lacks two profiles browsers offer:
        // Constrained High (Safari) and High 4:4:4 Predictive (Chromium, which offers no plain High). The payload
        // types are placeholders; each is locked to the offer's.
        None => {
            for (pt, rtx, id) in [(98, 99, 0x640c1f), (100, 101, 0xf4001f)] {
                config
                    .codec_config()
                    .add_h264(Pt::from(pt), Some(Pt::from(rtx)), true, id);
            }
        }
    }
    let mut rtc = config.build(now);
    for addr in &setup.candidates {
        if let Ok(candidate) = Candidate::host(*addr, "udp") {
            rtc.add_local_candidate(candidate);
        }
    }
    // Passive: the browser connects (RFC 6544); the listener hands the connection's packets to the UDP task.
    for addr in &setup.tcp_candidates {
        let candidate = Candidate::builder()
            .tcp()
            .host(*addr)
            .tcptype(TcpType::Passive)
            .build();
        if let Ok(candidate) = candidate {
            rtc.add_local_candidate(candidate);
        }
    }
    // Defence in depth: str0m checks some offers with assertions; one that trips is a refused offer, not a
    // handler that dies without an answer.
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rtc.sdp_api().accept_offer(offer)
    }))
    .map_err(|_| {
        OfferError::Refused("the offer is inconsistent (str0m could not apply it)".to_owned())
    })?
    .map_err(|e| OfferError::Refused(e.to_string()))?;
    Ok((rtc, answer))
}

/// Refuses what str0m 0.24 asserts on (a panic, found by libFuzzer) rather than reports: m-lines that share a mid,
/// and a payload type offered in two m-lines (str0m locks each payload type once per session). A WHEP or WHIP
/// offer has one video and one audio m-line, so neither happens in what browsers send.
fn check_mlines(sdp: &str) -> Result<(), OfferError> {
    let mut mids = std::collections::HashSet::new();
    let mut pts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut section = 0;
    for line in sdp.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            section += 1;
            // `m=<media> <port> <proto> <fmt> ...`
            for pt in media.split_whitespace().skip(3) {
                if pts.insert(pt, section).is_some_and(|s| s != section) {
                    return Err(OfferError::Refused(format!(
                        "payload type {} is offered in two m-lines; each m-line needs its own payload types",
                        clip(pt)
                    )));
                }
            }
        } else if let Some(pt) = line
            .strip_prefix("a=rtpmap:")
            .and_then(|rest| rest.split_whitespace().next())
        {
            // A section may describe a payload type that its m= line does not list; another's is as bad.
            if *pts.entry(pt).or_insert(section) != section {
                return Err(OfferError::Refused(format!(
                    "payload type {} is described in two m-lines; each m-line needs its own payload types",
                    clip(pt)
                )));
            }
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            if !mids.insert(mid.trim()) {
                return Err(OfferError::Refused(format!(
                    "two m-lines have a=mid:{}; each m-line needs its own mid",
                    clip(mid)
                )));
            }
        }
    }
    Ok(())
}

/// The first video and the first audio m-line of the offer that the server sends on (the browser's recvonly or
/// sendrecv), by their `a=mid` (the answer has one media per mid).
fn sending_mlines(rtc: &Rtc, sdp: &str) -> (Option<Mid>, Option<Mid>) {
    let sends = |d: Direction| matches!(d, Direction::SendOnly | Direction::SendRecv);
    let mut video = None;
    let mut audio = None;
    for mid in sdp.lines().filter_map(|l| l.trim().strip_prefix("a=mid:")) {
        let Some(media) = rtc.media(Mid::from(mid)) else {
            continue;
        };
        // Our direction: the browser's recvonly is our sendonly.
        if !sends(media.direction()) {
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

/// The first payload type on `mid` that `fits`.
pub(super) fn pick(
    rtc: &mut Rtc,
    mid: Mid,
    fits: impl Fn(Codec, &str0m::format::CodecSpec) -> bool,
) -> Option<Pt> {
    let writer = rtc.writer(mid)?;
    let found = writer
        .payload_params()
        .find(|p| fits(p.spec().codec, &p.spec()))
        .map(|p| p.pt());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn setup() -> RtcSetup {
        RtcSetup::for_tests()
    }

    /// What Chromium offers for `addTransceiver('video' | 'audio', {direction: 'recvonly'})`, cut down (also the
    /// fuzz target's seed and the CLI tests' offer).
    pub(crate) const CHROME_OFFER: &str = include_str!("testdata/chrome-offer.sdp");

    #[test]
    fn a_browser_offer_gets_h264_and_opus() {
        let cb = Some(ProfileLevel::from_id(0x42e01f));
        let n = negotiate(&setup(), CHROME_OFFER, cb, Instant::now()).expect("accepted");
        assert_eq!(*n.video.1, 102);
        assert_eq!(n.audio.map(|a| *a.1), Some(111));
        assert!(n.answer.contains("a=ice-lite"), "{}", n.answer);
        assert!(
            n.answer
                .lines()
                .any(|l| l.contains(" udp ") && l.contains("127.0.0.1 8189 typ host")),
            "{}",
            n.answer
        );
        // ICE-TCP: a passive TCP host candidate next to the UDP one.
        assert!(
            n.answer.contains(" tcp ")
                && n.answer.contains("127.0.0.1 8189 typ host tcptype passive"),
            "{}",
            n.answer
        );
    }

    /// What str0m would assert on is refused with its reason: a mid or a payload type in two m-lines (found by
    /// libFuzzer; the corpus replay cannot tell this from `catch_unwind`'s refusal, the message can).
    #[test]
    fn offers_str0m_would_assert_on_are_refused_by_name() {
        let mids: Vec<&str> = CHROME_OFFER.matches("a=mid:").collect();
        assert!(mids.len() >= 2, "the offer has two m-lines");
        let same_mid = CHROME_OFFER.replace("a=mid:1", "a=mid:0");
        let err = negotiate(&setup(), &same_mid, None, Instant::now())
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("two m-lines have a=mid:0"),
            "{err}"
        );
        assert_eq!(err.http_status(), 400);
        let audio = CHROME_OFFER.find("m=audio").expect("an audio m-line");
        let mut shared_pt = CHROME_OFFER.to_owned();
        shared_pt.insert_str(
            shared_pt[audio..]
                .find("a=mid:")
                .map(|i| audio + i)
                .expect("its mid"),
            "a=rtpmap:102 H264/90000\r\n",
        );
        let err = negotiate(&setup(), &shared_pt, None, Instant::now())
            .err()
            .expect("refused");
        assert!(err.to_string().contains("payload type 102"), "{err}");
    }

    /// Without UDP candidates (`webrtc.udp_candidates = false`) the answer has the TCP one only.
    #[test]
    fn an_answer_with_tcp_candidates_only() {
        let setup = RtcSetup {
            candidates: Vec::new(),
            ..setup()
        };
        let n = negotiate(&setup, CHROME_OFFER, None, Instant::now()).expect("accepted");
        let candidates: Vec<&str> = n
            .answer
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .collect();
        assert_eq!(candidates.len(), 1, "{}", n.answer);
        assert!(
            candidates[0].contains(" tcp ") && candidates[0].contains("tcptype passive"),
            "{candidates:?}"
        );
    }

    /// What Chromium 156 offers for `addTransceiver('video' | 'audio', {direction: 'recvonly'})`, uncut: its H.264
    /// payload types are Baseline, Constrained Baseline, Main and High 4:4:4 Predictive (no High), each with
    /// packetization-mode 1 and 0 (captured by `tests/browser/offer.mjs`).
    const CHROME_FULL_OFFER: &str = include_str!("testdata/chrome-offer-full.sdp");

    /// The offer's H.264 payload type with this profile-level-id and packetization-mode 1.
    fn offered_pt(profile_level_id: &str) -> u8 {
        let fmtp = CHROME_FULL_OFFER
            .lines()
            .find(|l| {
                l.starts_with("a=fmtp:")
                    && l.contains(&format!("profile-level-id={profile_level_id}"))
                    && l.contains("packetization-mode=1")
            })
            .unwrap_or_else(|| panic!("no {profile_level_id} in the offer"));
        fmtp["a=fmtp:".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The answer names one H.264 payload type: the offer's with the stream's profile (x264's baseline and main
    /// sequence headers), one whose decoder takes it (x264's high: Chromium offers High 4:4:4 Predictive, not
    /// High), Constrained Baseline without a known profile and for a profile no offered decoder takes (High 10).
    #[test]
    fn the_payload_type_follows_the_stream_profile() {
        let cases = [
            (
                Some(0x42c01f),
                "42e01f",
                "x264 baseline is Constrained Baseline",
            ),
            (Some(0x4d401f), "4d001f", "x264 main"),
            (Some(0x640028), "f4001f", "x264 high, level 4.0"),
            (None, "42e01f", "not known"),
            (Some(0x6e001f), "42e01f", "High 10: not offered"),
        ];
        for (stream, expected, what) in cases {
            let stream = stream.map(ProfileLevel::from_id);
            let n = negotiate(&setup(), CHROME_FULL_OFFER, stream, Instant::now())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let pt = offered_pt(expected);
            assert_eq!(*n.video.1, pt, "{what}: {}", n.answer);
            assert_eq!(
                n.video_profile.map(|p| p.to_string()).as_deref(),
                Some(expected),
                "{what}"
            );
            // The answer's video m-line offers that payload type (and its retransmission) only.
            let video = n.answer.lines().find(|l| l.starts_with("m=video")).unwrap();
            let pts: Vec<&str> = video.split(' ').skip(3).collect();
            assert_eq!(
                pts.first(),
                Some(&pt.to_string().as_str()),
                "{what}: {video}"
            );
            assert!(pts.len() <= 2, "{what}: {video}");
            assert!(
                n.answer.contains(&format!("a=rtpmap:{pt} H264/90000")),
                "{what}: {}",
                n.answer
            );
        }
    }

    #[test]
    fn an_offer_without_h264_is_not_acceptable() {
        let vp8_only = CHROME_OFFER
            .replace(" 96 102\r\n", " 96\r\n")
            .replace("a=rtpmap:102 H264/90000\r\n", "")
            .replace("a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n", "")
            .replace("a=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\n", "");
        let err = negotiate(&setup(), &vp8_only, None, Instant::now()).err();
        assert_eq!(err, Some(OfferError::NoH264));
        assert_eq!(OfferError::NoH264.http_status(), 406);
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for sdp in ["", "hello", "v=0\r\n", "v=0\r\nm=video\r\n", "\u{0}\u{1}=="] {
            let err = negotiate(&setup(), sdp, None, Instant::now()).err();
            assert!(
                matches!(err, Some(OfferError::Malformed(_) | OfferError::Refused(_))),
                "{sdp:?}: {err:?}"
            );
        }
    }
}
