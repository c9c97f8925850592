//! Refusing H.264 streams with B-frames: at offer time (from the stream's sequence header and cached GOP, read by
//! [`super::probe`]) and, when a stream starts sending them mid-session, by ending its sessions
//! ([`super::source`]).
//!
//! Browsers' WebRTC H.264 decoders expect one picture out for each frame in. Chromium's (FFmpeg behind WebRTC's
//! `H264DecoderImpl`) cannot give that for a stream that reorders pictures: with reordering declared it holds
//! pictures back, with none declared it discards the B-pictures that come out of order, and either way
//! `avcodec_receive_frame` answers `EAGAIN`, which the wrapper reports as a decode error; WebRTC then drops every
//! frame until the next keyframe and asks for one (measured in docs/webrtc.md, "B-frames"). Rewriting the SPS or
//! the RTP timestamps does not change that, so such a stream gets a refusal that says what to do instead.

use flv::avc::AvcDecoderConfig;
use flv::sps_vui::sps_reorder;
use flv::video::{VideoCodec, VideoTagInfo};

/// Whether one FLV video tag shows reordering; malformed tags say nothing (the feeder reports them).
pub(crate) fn video_tag_reorders(body: &[u8]) -> Option<String> {
    let info = VideoTagInfo::parse(body).ok()?;
    if info.codec != VideoCodec::Avc || info.is_end_of_sequence {
        return None;
    }
    let payload = body.get(info.header_len..)?;
    if info.is_sequence_header {
        let config = AvcDecoderConfig::parse(payload).ok()?;
        return config.sps.iter().find_map(|sps| {
            let n = sps_reorder(sps).ok()?.max_num_reorder_frames?;
            (n > 0).then(|| format!("its SPS declares max_num_reorder_frames = {n}"))
        });
    }
    (info.composition_time != 0).then(|| {
        format!(
            "its pictures carry composition time offsets ({} ms)",
            info.composition_time
        )
    })
}

/// The refusal body for a reordered stream.
pub(crate) fn refusal(why: &str) -> String {
    format!(
        "b_frames: the stream's H.264 has B-frames ({why}), which browsers' WebRTC decoders do not play (Chromium \
         decodes the keyframes only); publish without B-frames (ffmpeg -bf 0 or -tune zerolatency; OBS x264 \
         bframes=0 or the zerolatency tune), or play this stream over HTTP-FLV or HLS"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AVC sequence header tag around `sps`.
    fn config_tag(sps: &[u8]) -> Vec<u8> {
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut tag = vec![0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1, 0];
        tag.push(sps.len() as u8);
        tag.extend_from_slice(sps);
        tag.extend_from_slice(&[1, 0, 4]);
        tag.extend_from_slice(&pps);
        tag
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn b_frame_streams_are_recognised() {
        // x264 `-bf 0` and `-bf 2` (flv::sps_vui's test SPSs).
        let bf0 = hex("6764001facb40440f3df80880000030008000003019078c195");
        let bf2 = hex("6764001facd940881e7bf011000003000100000300320f183196");
        assert_eq!(video_tag_reorders(&config_tag(&bf0)), None);
        let why = video_tag_reorders(&config_tag(&bf2)).unwrap();
        assert!(why.contains("max_num_reorder_frames = 2"), "{why}");
        // A picture with a composition offset of 80 ms, and one without.
        assert!(video_tag_reorders(&[0x27, 1, 0, 0, 80, 0, 0, 0, 2, 0x41, 0]).is_some());
        assert_eq!(
            video_tag_reorders(&[0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0]),
            None
        );
        // Malformed tags and other codecs say nothing.
        assert_eq!(video_tag_reorders(&[]), None);
        assert_eq!(video_tag_reorders(&[0x17, 0, 0, 0, 0, 1]), None);
        assert_eq!(video_tag_reorders(&[0x1c, 1, 0, 0, 80]), None);
        let body = refusal(&why);
        assert!(
            body.starts_with("b_frames: ") && body.contains("-bf 0") && body.contains("bframes=0")
        );
    }
}
