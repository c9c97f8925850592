//! A WHEP offer becomes a configured `str0m::Rtc` and its SDP answer, or one typed [`OfferError`] that says why
//! not. Pure: no socket, the clock is an argument; the driver takes the `Rtc` from here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::config::{CryptoProvider, DtlsCert};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::{Candidate, Rtc};

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
    /// The host candidates: the UDP port at each advertised address.
    pub(crate) candidates: Vec<SocketAddr>,
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
    /// The audio m-line and its Opus payload type, when the browser asked for audio.
    pub(crate) audio: Option<(Mid, Pt)>,
}

/// Answers `sdp`. `profile_idc` is the stream's H.264 profile (from its sequence header), used to pick the
/// matching payload type among the browser's H.264 variants.
pub(crate) fn negotiate(
    setup: &RtcSetup,
    sdp: &str,
    profile_idc: Option<u8>,
    now: Instant,
) -> Result<Negotiated, OfferError> {
    let Accepted {
        mut rtc,
        answer,
        medias,
    } = accept(setup, sdp, Rtc::builder(), now)?;
    let sends = |d: Direction| matches!(d, Direction::SendOnly | Direction::SendRecv);
    let mut video = None;
    let mut audio = None;
    for (mid, kind, direction) in medias {
        // Our direction: the browser's recvonly is our sendonly.
        if !sends(direction) {
            continue;
        }
        match kind {
            MediaKind::Video if video.is_none() => {
                video = pick(&mut rtc, mid, is_h264, profile_idc).map(|pt| (mid, pt));
            }
            MediaKind::Audio if audio.is_none() => {
                audio = pick(&mut rtc, mid, is_opus, None).map(|pt| (mid, pt));
            }
            _ => {}
        }
    }
    let video = video.ok_or(OfferError::NoH264)?;
    Ok(Negotiated {
        rtc,
        answer,
        video,
        audio,
    })
}

/// H.264 in the only packetization browsers and str0m share for more than one NAL unit per packet.
pub(super) fn is_h264(codec: Codec, params: &str0m::format::CodecSpec) -> bool {
    codec == Codec::H264 && params.format.packetization_mode == Some(1)
}

/// Opus, the browsers' audio.
pub(super) fn is_opus(codec: Codec, _params: &str0m::format::CodecSpec) -> bool {
    codec == Codec::Opus
}

/// An offer accepted by str0m: the session, its answer and the offer's m-lines with our direction on each.
pub(super) struct Accepted {
    pub(super) rtc: Rtc,
    pub(super) answer: String,
    /// Each m-line of the offer, by its `a=mid`: its kind and the answer's (our) direction.
    pub(super) medias: Vec<(Mid, MediaKind, Direction)>,
}

/// Builds the session's `Rtc` from `config` (the caller's tuning) with what every session shares (ICE-lite, the
/// DTLS setup, H.264 and Opus only, the host candidates) and accepts `sdp`.
pub(super) fn accept(
    setup: &RtcSetup,
    sdp: &str,
    config: str0m::RtcConfig,
    now: Instant,
) -> Result<Accepted, OfferError> {
    let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| OfferError::Malformed(e.to_string()))?;
    // ICE-lite: the browser makes the checks and the server learns its address from them, so no remote
    // candidates are needed (no trickle) and the one UDP socket answers every session.
    let mut rtc = config
        .set_ice_lite(true)
        .set_crypto_provider(setup.crypto.clone())
        .set_dtls_cert(setup.cert.clone())
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .build(now);
    for addr in &setup.candidates {
        if let Ok(candidate) = Candidate::host(*addr, "udp") {
            rtc.add_local_candidate(candidate);
        }
    }
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| OfferError::Refused(e.to_string()))?;
    // The offer's m-lines, by their `a=mid` (the answer has one media per mid).
    let medias: Vec<(Mid, MediaKind, Direction)> = sdp
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .filter_map(|mid| {
            let media = rtc.media(Mid::from(mid))?;
            Some((media.mid(), media.kind(), media.direction()))
        })
        .collect();
    Ok(Accepted {
        rtc,
        answer: answer.to_sdp_string(),
        medias,
    })
}

/// The payload type on `mid` that `fits`, preferring one whose H.264 profile is `profile_idc`.
pub(super) fn pick(
    rtc: &mut Rtc,
    mid: Mid,
    fits: impl Fn(Codec, &str0m::format::CodecSpec) -> bool,
    profile_idc: Option<u8>,
) -> Option<Pt> {
    let writer = rtc.writer(mid)?;
    let mut found = None;
    for params in writer.payload_params() {
        let spec = params.spec();
        if !fits(spec.codec, &spec) {
            continue;
        }
        let profile = spec.format.profile_level_id.map(|p| (p >> 16) as u8);
        if profile.is_some() && profile == profile_idc {
            return Some(params.pt());
        }
        found.get_or_insert(params.pt());
    }
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
        let n = negotiate(&setup(), CHROME_OFFER, Some(0x42), Instant::now()).expect("accepted");
        assert_eq!(*n.video.1, 102);
        assert_eq!(n.audio.map(|a| *a.1), Some(111));
        assert!(n.answer.contains("a=ice-lite"), "{}", n.answer);
        assert!(n.answer.contains("127.0.0.1 8189 typ host"), "{}", n.answer);
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
