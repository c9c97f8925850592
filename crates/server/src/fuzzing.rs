//! The checks the server's fuzz targets run (fuzz/fuzz_targets/http_request_line.rs, whep_offer.rs,
//! ice_tcp_frames.rs), public so that tests/corpus.rs replays their corpora on stable through exactly the same
//! code. Not part of the stable API: they panic when an invariant breaks, which is what a fuzzer looks for.

use crate::http::conn::could_be_request_line;

/// Longest input looked at: the check runs on every prefix.
const MAX_INPUT: usize = 2048;

/// The first look at an HTTP connection's bytes (what tells a request from a TLS record or garbage at once).
/// Checks: no panic; the verdict over growing prefixes never goes from "no" back to "maybe" (bytes already
/// refused stay refused, so answering 400 at the first one is safe); and a complete request line as RFC 9112 has
/// it (`METHOD SP TARGET SP HTTP/1.x CRLF`, after optional empty lines), judged here independently, is never
/// refused, nor is any prefix of it. Returns the verdict on the whole input.
pub fn request_line(data: &[u8]) -> bool {
    let data = &data[..data.len().min(MAX_INPUT)];
    let mut refused_at = None;
    for n in 0..=data.len() {
        let maybe = could_be_request_line(&data[..n]);
        match refused_at {
            Some(at) => assert!(
                !maybe,
                "{:?} was refused at {at} bytes but accepted at {n}",
                String::from_utf8_lossy(&data[..n])
            ),
            None if !maybe => refused_at = Some(n),
            None => {}
        }
    }
    if let Some(end) = complete_request_line(data) {
        assert!(
            refused_at.is_none_or(|at| at > end),
            "a valid request line was refused: {:?}",
            String::from_utf8_lossy(&data[..end])
        );
    }
    refused_at.is_none()
}

/// Where a well-formed request line (after optional CRLFs) ends in `data`, if `data` starts with one: a method of
/// 1 to 16 token characters, one space, a target of visible bytes, one space, `HTTP/1.` and a digit, CRLF.
fn complete_request_line(data: &[u8]) -> Option<usize> {
    let mut start = 0;
    while data.get(start..start + 2) == Some(b"\r\n") {
        start += 2;
    }
    let line_end = start + data.get(start..)?.windows(2).position(|w| w == b"\r\n")?;
    let line = data.get(start..line_end)?;
    let mut parts = line.split(|b| *b == b' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    let method_ok = (1..=16).contains(&method.len()) && method.iter().all(token);
    let target_ok = !target.is_empty() && target.iter().all(|b| *b > b' ' && *b != 0x7f);
    let version_ok =
        version.len() == 8 && version.starts_with(b"HTTP/1.") && version[7].is_ascii_digit();
    (method_ok && target_ok && version_ok).then_some(line_end + 2)
}

/// A WHEP offer as a client may send it, answered as the endpoint does (`webrtc::offer::negotiate`) with the
/// server's own DTLS setup: never a panic; the answer when the offer is accepted, else the refusal's status.
pub fn whep_offer(data: &[u8]) -> Result<String, u16> {
    use std::sync::OnceLock;
    static SETUP: OnceLock<crate::webrtc::offer::RtcSetup> = OnceLock::new();
    let setup = SETUP.get_or_init(crate::webrtc::offer::RtcSetup::for_tests);
    let Ok(sdp) = std::str::from_utf8(data) else {
        return Err(400);
    };
    crate::webrtc::offer::negotiate(setup, sdp, None, std::time::Instant::now())
        .map(|n| n.answer)
        .map_err(|e| e.http_status())
}

/// What a WHIP publisher sends, as the ingest converts it (`webrtc::ingest`): the input is split into
/// depacketized frames (a two-byte big-endian length before each, its top bit set for audio, clear for video)
/// with made-up RTP times, and each becomes hub frames. Never a panic; returns the frames made, and checks that
/// every one is an FLV tag body the hub can classify.
pub fn whip_ingest(data: &[u8]) -> usize {
    use crate::webrtc::ingest::{Converter, Received, TrackKind};
    let (mut converter, _) = Converter::new(audio::OpusToAacConfig::default(), 1 << 20, true);
    let start = std::time::Instant::now();
    let mut rest = data;
    let mut made = 0;
    let mut n: u64 = 0;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]) & 0x3FFF).min(tail.len());
        let (frame, next) = tail.split_at(len);
        rest = next;
        n += 1;
        let kind = if hi & 0x80 == 0 {
            TrackKind::Video
        } else {
            TrackKind::Audio
        };
        let item = Received {
            kind,
            data: std::sync::Arc::from(frame),
            rtp: n * if kind == TrackKind::Video { 3000 } else { 960 },
            arrival: start + std::time::Duration::from_millis(n * 20),
            report: None,
        };
        for f in converter.push(&item).unwrap_or_default() {
            assert!(
                flv::FrameClass::of(f.kind, &f.payload) != flv::FrameClass::Unknown,
                "the converter made a tag the hub cannot classify"
            );
            made += 1;
        }
    }
    made
}

/// The bound the ICE-TCP check uses: `webrtc.tcp_max_frame`'s default.
const ICE_TCP_MAX_FRAME: usize = 1500;

/// An ICE-TCP connection's bytes (RFC 4571, `webrtc::framing`), read whole and in pieces whose sizes the input
/// itself gives: never a panic; the same frames and the same verdict however the bytes are cut; every frame
/// non-empty and within the bound; at most one incomplete frame held after each read; and the frames, framed
/// again, read back the same. Returns how many frames were read, or `None` when the stream was refused (a
/// length over the bound).
pub fn ice_tcp_frames(data: &[u8]) -> Option<usize> {
    use crate::webrtc::framing::{header, Deframer};
    // Reads `data` in pieces of the given sizes (cycled); the frames, and whether the stream was refused.
    let read = |sizes: &[usize]| -> (Vec<Vec<u8>>, bool) {
        let mut d = Deframer::new(ICE_TCP_MAX_FRAME);
        let mut frames = Vec::new();
        let mut rest = data;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = sizes
                .next()
                .copied()
                .unwrap_or(rest.len())
                .clamp(1, rest.len());
            d.handle_bytes(&rest[..n]);
            rest = &rest[n..];
            loop {
                match d.poll_frame() {
                    Ok(Some(f)) => {
                        assert!(
                            !f.is_empty() && f.len() <= ICE_TCP_MAX_FRAME,
                            "{} bytes",
                            f.len()
                        );
                        frames.push(f.to_vec());
                    }
                    Ok(None) => {
                        assert!(
                            d.buffered() <= ICE_TCP_MAX_FRAME + 1,
                            "{} held",
                            d.buffered()
                        );
                        break;
                    }
                    Err(_) => return (frames, true),
                }
            }
        }
        (frames, false)
    };
    let whole = read(&[data.len().max(1)]);
    let sizes: Vec<usize> = data
        .iter()
        .take(32)
        .map(|b| 1 + usize::from(*b % 97))
        .collect();
    let cut = read(&sizes);
    let bytewise = read(&[1]);
    assert_eq!(whole, cut, "cut into {sizes:?}");
    assert_eq!(whole, bytewise, "byte by byte");
    let (frames, refused) = whole;
    let mut again = Vec::new();
    for f in &frames {
        again.extend_from_slice(&header(f).expect("frames are within 16 bits"));
        again.extend_from_slice(f);
    }
    let mut d = Deframer::new(ICE_TCP_MAX_FRAME);
    d.handle_bytes(&again);
    for f in &frames {
        assert_eq!(d.poll_frame().ok().flatten().as_deref(), Some(f.as_slice()));
    }
    assert_eq!(d.poll_frame(), Ok(None));
    (!refused).then_some(frames.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Without cargo-fuzz at hand: arbitrary frames, and a real keyframe followed by arbitrary ones, through
        /// the WHIP ingest never panic (the checks inside `whip_ingest` assert what it makes).
        #[test]
        fn whip_ingest_never_panics(
            data in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..3000),
            seed in proptest::arbitrary::any::<bool>(),
        ) {
            let mut input = Vec::new();
            if seed {
                let key: &[u8] = &[
                    0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1,
                    0x65, 0x88, 0x84,
                ];
                input.extend_from_slice(&u16::try_from(key.len()).unwrap_or(0).to_be_bytes());
                input.extend_from_slice(key);
            }
            input.extend_from_slice(&data);
            whip_ingest(&input);
        }
    }

    #[test]
    fn real_request_lines_pass_and_garbage_does_not() {
        assert!(request_line(
            b"GET /live/cam.flv HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
        assert!(request_line(b"\r\nPOST /v1/apps HTTP/1.0\r\n"));
        assert!(!request_line(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
        ));
        assert!(!request_line(b"GET / SIP/2.0"));
        assert_eq!(complete_request_line(b"GET / HTTP/1.1\r\n"), Some(16));
        assert_eq!(complete_request_line(b"GET  / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn ice_tcp_frames_read_the_same_however_cut() {
        assert_eq!(ice_tcp_frames(&[0, 2, 1, 2, 0, 1, 9, 0]), Some(2));
        assert_eq!(ice_tcp_frames(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(ice_tcp_frames(&[]), Some(0));
    }
}
