//! Segmenter tests over synthetic FLV streams, and property tests of the MPEG-TS output.

use std::collections::HashMap;

use bytes::Bytes;
use proptest::prelude::*;

use crate::ts::{AUDIO_PID, PACKET_LEN, PMT_PID, VIDEO_PID};
use crate::{FrameKind, Segmenter, SegmenterConfig};

const WALL: u64 = 1_700_000_000_000;

fn avc_header() -> Vec<u8> {
    let config = flv::avc::AvcDecoderConfig {
        profile: 66,
        compatibility: 0,
        level: 30,
        nalu_length_size: 4,
        sps: vec![Bytes::from_static(&[0x67, 0x42, 0, 30])],
        pps: vec![Bytes::from_static(&[0x68, 0xCE])],
    };
    let mut tag = vec![0x17, 0, 0, 0, 0];
    tag.extend_from_slice(&config.encode());
    tag
}

fn picture(key: bool, cts: u8, len: usize) -> Vec<u8> {
    let mut tag = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, cts];
    tag.extend_from_slice(&(len as u32 + 1).to_be_bytes());
    tag.push(if key { 0x65 } else { 0x41 });
    tag.extend(std::iter::repeat_n(0xAB, len));
    tag
}

const AAC_HEADER: [u8; 4] = [0xAF, 0, 0x12, 0x10];
const AAC_FRAME: [u8; 6] = [0xAF, 1, 0x21, 0x00, 0x49, 0x90];

/// Feeds `secs` seconds of 25 fps video (a keyframe every `gop` pictures) with 44.1 kHz AAC.
fn feed_av(seg: &mut Segmenter, from_ms: u32, secs: u32, gop: u32) {
    let end = from_ms + secs * 1000;
    let (mut v, mut a) = (from_ms, from_ms);
    let mut n = 0;
    while v < end || a < end {
        if v <= a {
            seg.handle_frame(
                FrameKind::Video,
                v,
                &picture(n % gop == 0, 40, 300),
                WALL + u64::from(v),
            )
            .unwrap();
            n += 1;
            v += 40;
        } else {
            seg.handle_frame(FrameKind::Audio, a, &AAC_FRAME, WALL + u64::from(a))
                .unwrap();
            a += 23;
        }
    }
}

/// Structural check of an MPEG-TS byte string: sync bytes, PAT and PMT first, continuity counters per PID,
/// and a PCR somewhere. Returns the PIDs seen.
fn check_ts(data: &[u8]) -> HashMap<u16, usize> {
    assert_eq!(data.len() % PACKET_LEN, 0, "whole packets");
    let mut cc: HashMap<u16, u8> = HashMap::new();
    let mut seen = HashMap::new();
    let mut pcr = false;
    for (i, p) in data.chunks(PACKET_LEN).enumerate() {
        assert_eq!(p[0], 0x47, "sync byte of packet {i}");
        let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
        if i == 0 {
            assert_eq!(pid, 0, "PAT first");
        }
        if i == 1 {
            assert_eq!(pid, PMT_PID, "PMT second");
        }
        let afc = (p[3] >> 4) & 0x3;
        if afc & 0x2 != 0 {
            let len = usize::from(p[4]);
            assert!(len <= 183);
            if len > 0 && p[5] & 0x10 != 0 {
                pcr = true;
            }
        }
        if afc & 0x1 != 0 {
            let c = p[3] & 0x0F;
            if let Some(prev) = cc.insert(pid, c) {
                assert_eq!(
                    c,
                    (prev + 1) & 0x0F,
                    "continuity of PID {pid:#x} at packet {i}"
                );
            }
        }
        *seen.entry(pid).or_insert(0) += 1;
    }
    assert!(pcr, "a PCR");
    seen
}

#[test]
fn av_segments_are_cut_at_keyframes_after_the_target() {
    let mut seg = Segmenter::new(SegmenterConfig::default());
    seg.handle_frame(FrameKind::Video, 0, &avc_header(), WALL)
        .unwrap();
    seg.handle_frame(FrameKind::Audio, 0, &AAC_HEADER, WALL)
        .unwrap();
    feed_av(&mut seg, 0, 20, 25);
    let segments: Vec<_> = seg.segments().cloned().collect();
    assert_eq!(segments.len(), 6, "the window");
    for s in &segments {
        assert_eq!(s.duration_ms, 2000, "cut at the first keyframe past 2 s");
        let pids = check_ts(&s.data);
        assert!(pids.contains_key(&VIDEO_PID) && pids.contains_key(&AUDIO_PID));
    }
    let seqs: Vec<_> = segments.iter().map(|s| s.sequence).collect();
    assert_eq!(seqs, (3..9).collect::<Vec<_>>());
    assert_eq!(segments[1].program_date_time_ms, WALL + 2000 * 4);
    assert!(seg.segment(2).is_none() && seg.segment(8).is_some() && seg.segment(9).is_none());
}

#[test]
fn audio_only_is_cut_by_duration() {
    let mut seg = Segmenter::new(SegmenterConfig {
        target_duration_ms: 1000,
        window: 3,
    });
    seg.handle_frame(FrameKind::Audio, 0, &AAC_HEADER, WALL)
        .unwrap();
    for i in 0..200u32 {
        seg.handle_frame(FrameKind::Audio, i * 23, &AAC_FRAME, WALL)
            .unwrap();
    }
    let segments: Vec<_> = seg.segments().cloned().collect();
    assert_eq!(segments.len(), 3);
    for s in &segments {
        assert!((1000..1030).contains(&s.duration_ms), "{}", s.duration_ms);
        let pids = check_ts(&s.data);
        assert!(pids.contains_key(&AUDIO_PID) && !pids.contains_key(&VIDEO_PID));
    }
}

#[test]
fn a_discontinuity_marks_the_next_segment_and_counts_when_it_leaves() {
    let mut seg = Segmenter::new(SegmenterConfig {
        target_duration_ms: 2000,
        window: 2,
    });
    seg.handle_frame(FrameKind::Video, 0, &avc_header(), WALL)
        .unwrap();
    seg.handle_frame(FrameKind::Audio, 0, &AAC_HEADER, WALL)
        .unwrap();
    feed_av(&mut seg, 0, 5, 25);
    seg.discontinuity();
    seg.handle_frame(FrameKind::Video, 5000, &avc_header(), WALL)
        .unwrap();
    seg.handle_frame(FrameKind::Audio, 5000, &AAC_HEADER, WALL)
        .unwrap();
    feed_av(&mut seg, 5000, 5, 25);
    let flags: Vec<_> = seg.segments().map(|s| s.discontinuity).collect();
    assert_eq!(flags, [true, false]);
    assert_eq!(seg.discontinuity_sequence(), 0);
    feed_av(&mut seg, 10_000, 4, 25);
    let flags: Vec<_> = seg.segments().map(|s| s.discontinuity).collect();
    assert_eq!(flags, [false, false]);
    assert_eq!(seg.discontinuity_sequence(), 1);
}

#[test]
fn an_instant_segment_is_not_listed_but_keeps_its_discontinuity() {
    let mut seg = Segmenter::new(SegmenterConfig::default());
    seg.handle_frame(FrameKind::Video, 0, &avc_header(), WALL)
        .unwrap();
    seg.handle_frame(FrameKind::Audio, 0, &AAC_HEADER, WALL)
        .unwrap();
    feed_av(&mut seg, 0, 3, 25);
    seg.discontinuity();
    seg.handle_frame(FrameKind::Video, 3000, &picture(true, 0, 10), WALL)
        .unwrap();
    // A second republish before anything lasted: the mark is not lost.
    seg.discontinuity();
    feed_av(&mut seg, 3040, 5, 25);
    let listed: Vec<_> = seg
        .segments()
        .map(|s| (s.duration_ms, s.discontinuity))
        .collect();
    assert!(listed.iter().all(|&(d, _)| d > 0), "{listed:?}");
    assert_eq!(listed.iter().filter(|&&(_, d)| d).count(), 1, "{listed:?}");
}

#[test]
fn frames_before_headers_or_of_other_codecs_are_refused() {
    let mut seg = Segmenter::new(SegmenterConfig::default());
    assert!(seg
        .handle_frame(FrameKind::Video, 0, &picture(true, 0, 10), WALL)
        .is_err());
    assert!(seg
        .handle_frame(FrameKind::Video, 0, &[0x12, 0], WALL)
        .is_err());
    assert!(seg
        .handle_frame(FrameKind::Audio, 0, &[0x2F, 0], WALL)
        .is_err());
    assert!(seg.handle_frame(FrameKind::Audio, 0, &[], WALL).is_err());
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_payloads(
        frames in proptest::collection::vec((any::<bool>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..64)
    ) {
        let mut seg = Segmenter::new(SegmenterConfig { target_duration_ms: 10, window: 3 });
        seg.handle_frame(FrameKind::Video, 0, &avc_header(), WALL).unwrap();
        seg.handle_frame(FrameKind::Audio, 0, &AAC_HEADER, WALL).unwrap();
        for (video, ts, body) in frames {
            let kind = if video { FrameKind::Video } else { FrameKind::Audio };
            let _ = seg.handle_frame(kind, ts, &body, WALL);
        }
        seg.finish();
        for s in seg.segments() {
            prop_assert_eq!(s.data.len() % PACKET_LEN, 0);
            prop_assert!(s.data.chunks(PACKET_LEN).all(|p| p[0] == 0x47));
        }
    }

    #[test]
    fn packets_are_whole_and_counters_continue(
        sizes in proptest::collection::vec((0usize..3000, any::<bool>(), 0u8..100), 1..80),
        audio_only in any::<bool>(),
    ) {
        let mut seg = Segmenter::new(SegmenterConfig { target_duration_ms: 200, window: 100 });
        if !audio_only {
            seg.handle_frame(FrameKind::Video, 0, &avc_header(), WALL).unwrap();
        }
        seg.handle_frame(FrameKind::Audio, 0, &AAC_HEADER, WALL).unwrap();
        let mut ts = 0u32;
        for (i, (len, key, cts)) in sizes.into_iter().enumerate() {
            if !audio_only {
                seg.handle_frame(FrameKind::Video, ts, &picture(key || i == 0, cts, len), WALL).unwrap();
            }
            let mut frame = vec![0xAF, 1];
            frame.extend(std::iter::repeat_n(0x11, len.min(2000)));
            seg.handle_frame(FrameKind::Audio, ts, &frame, WALL).unwrap();
            ts += 40;
        }
        seg.finish();
        let all: Vec<u8> = seg.segments().flat_map(|s| s.data.iter().copied()).collect();
        // Counters continue across segments too, so the concatenation checks them everywhere. (A stream of one
        // instant makes no segment.)
        if !all.is_empty() {
            check_ts(&all);
        }
    }
}
