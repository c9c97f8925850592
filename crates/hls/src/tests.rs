//! Segmenter tests over synthetic FLV streams, and property tests of the MPEG-TS output.

use std::collections::HashMap;

use bytes::Bytes;
use flv::MediaKind;
use proptest::prelude::*;

use crate::ts::{AUDIO_PID, PACKET_LEN, PMT_PID, VIDEO_PID};
use crate::{Segmenter, SegmenterConfig};

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
                MediaKind::Video,
                v,
                &picture(n % gop == 0, 40, 300),
                WALL + u64::from(v),
            )
            .unwrap();
            n += 1;
            v += 40;
        } else {
            seg.handle_frame(MediaKind::Audio, a, &AAC_FRAME, WALL + u64::from(a))
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
    seg.handle_frame(MediaKind::Video, 0, &avc_header(), WALL)
        .unwrap();
    seg.handle_frame(MediaKind::Audio, 0, &AAC_HEADER, WALL)
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
    seg.handle_frame(MediaKind::Audio, 0, &AAC_HEADER, WALL)
        .unwrap();
    for i in 0..200u32 {
        seg.handle_frame(MediaKind::Audio, i * 23, &AAC_FRAME, WALL)
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
    seg.handle_frame(MediaKind::Video, 0, &avc_header(), WALL)
        .unwrap();
    seg.handle_frame(MediaKind::Audio, 0, &AAC_HEADER, WALL)
        .unwrap();
    feed_av(&mut seg, 0, 5, 25);
    seg.discontinuity();
    seg.handle_frame(MediaKind::Video, 5000, &avc_header(), WALL)
        .unwrap();
    seg.handle_frame(MediaKind::Audio, 5000, &AAC_HEADER, WALL)
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
    seg.handle_frame(MediaKind::Video, 0, &avc_header(), WALL)
        .unwrap();
    seg.handle_frame(MediaKind::Audio, 0, &AAC_HEADER, WALL)
        .unwrap();
    feed_av(&mut seg, 0, 3, 25);
    seg.discontinuity();
    seg.handle_frame(MediaKind::Video, 3000, &picture(true, 0, 10), WALL)
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
        .handle_frame(MediaKind::Video, 0, &picture(true, 0, 10), WALL)
        .is_err());
    assert!(seg
        .handle_frame(MediaKind::Video, 0, &[0x12, 0], WALL)
        .is_err());
    assert!(seg
        .handle_frame(MediaKind::Audio, 0, &[0x2F, 0], WALL)
        .is_err());
    assert!(seg.handle_frame(MediaKind::Audio, 0, &[], WALL).is_err());
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_payloads(
        frames in proptest::collection::vec((any::<bool>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..64)
    ) {
        let mut seg = Segmenter::new(SegmenterConfig { target_duration_ms: 10, window: 3 });
        seg.handle_frame(MediaKind::Video, 0, &avc_header(), WALL).unwrap();
        seg.handle_frame(MediaKind::Audio, 0, &AAC_HEADER, WALL).unwrap();
        for (video, ts, body) in frames {
            let kind = if video { MediaKind::Video } else { MediaKind::Audio };
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
            seg.handle_frame(MediaKind::Video, 0, &avc_header(), WALL).unwrap();
        }
        seg.handle_frame(MediaKind::Audio, 0, &AAC_HEADER, WALL).unwrap();
        let mut ts = 0u32;
        for (i, (len, key, cts)) in sizes.into_iter().enumerate() {
            if !audio_only {
                seg.handle_frame(MediaKind::Video, ts, &picture(key || i == 0, cts, len), WALL).unwrap();
            }
            let mut frame = vec![0xAF, 1];
            frame.extend(std::iter::repeat_n(0x11, len.min(2000)));
            seg.handle_frame(MediaKind::Audio, ts, &frame, WALL).unwrap();
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

mod low_latency {
    use bytes::Bytes;
    use flv::MediaKind;

    use crate::ll::{render, BlockingRequest, LlConfig, LlSegmenter, LlUris, LlWindow};

    use super::{picture, AAC_FRAME, AAC_HEADER, WALL};

    /// An AVC sequence header of x264 (baseline, 160x120): the fMP4 track needs an SPS that parses.
    fn real_avc_header() -> Bytes {
        let record =
            "0142c00bffe100176742c00bd902847e5c0440000003004000000c83c50a9201000568cb83cb20";
        let mut tag = vec![0x17, 0, 0, 0, 0];
        tag.extend(
            (0..record.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&record[i..i + 2], 16).unwrap()),
        );
        Bytes::from(tag)
    }

    /// `secs` seconds of 25 fps video with a keyframe every `gop` pictures, and 44.1 kHz AAC.
    fn feed(seg: &mut LlSegmenter, secs: u32, gop: u32) {
        seg.handle_frame(MediaKind::Video, 0, &real_avc_header(), WALL)
            .unwrap();
        seg.handle_frame(MediaKind::Audio, 0, &Bytes::from_static(&AAC_HEADER), WALL)
            .unwrap();
        let end = secs * 1000;
        let (mut v, mut a, mut n) = (0u32, 0u32, 0u32);
        while v < end || a < end {
            if v <= a {
                let pic = Bytes::from(picture(n % gop == 0, 40, 300));
                seg.handle_frame(MediaKind::Video, v, &pic, WALL + u64::from(v))
                    .unwrap();
                n += 1;
                v += 40;
            } else {
                let frame = Bytes::from_static(&AAC_FRAME);
                seg.handle_frame(MediaKind::Audio, a, &frame, WALL + u64::from(a))
                    .unwrap();
                a += 23;
            }
        }
    }

    fn config() -> LlConfig {
        LlConfig {
            target_duration_ms: 2000,
            part_target_ms: 334,
            window: 4,
        }
    }

    #[test]
    fn parts_stay_under_the_target_and_segments_start_independent() {
        let mut seg = LlSegmenter::new(config());
        feed(&mut seg, 12, 25);
        let segments: Vec<_> = seg.segments().collect();
        assert_eq!(segments.len(), 4, "the window bounds the segments");
        for s in &segments {
            assert!(
                s.parts[0].independent,
                "segment {} starts with a keyframe",
                s.sequence
            );
            assert!(
                (2000..=2040).contains(&s.duration_ms()),
                "{}",
                s.duration_ms()
            );
            for p in &s.parts {
                assert!(p.duration_ms <= 334, "part of {} ms", p.duration_ms);
                assert_eq!(&p.data[4..8], b"moof");
            }
            // Parts reach 85% of the target (RFC 8216bis 4.4.4.9), except where a keyframe cuts one short.
            for w in s.parts.windows(2) {
                if !w[1].independent {
                    assert!(
                        w[0].duration_ms * 100 >= 334 * 85,
                        "short part of {} ms",
                        w[0].duration_ms
                    );
                }
            }
        }
        assert!(seg.open_segment().is_some());
        let init = seg.init(segments[0].init).expect("init of the window");
        assert_eq!(&init[4..8], b"ftyp");
    }

    #[test]
    fn the_playlist_lists_parts_near_the_edge_and_a_preload_hint() {
        let mut seg = LlSegmenter::new(config());
        feed(&mut seg, 13, 25);
        let window = LlWindow::of(&seg, false);
        let text = render(
            &window,
            LlUris {
                prefix: "cam/ll/",
                query: Some("txSecret=a&txTime=b"),
            },
        );
        assert!(
            text.starts_with("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n"),
            "{text}"
        );
        assert!(
            text.contains("#EXT-X-PART-INF:PART-TARGET=0.334\n"),
            "{text}"
        );
        assert!(text.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002\n"));
        assert!(text.contains("#EXT-X-MAP:URI=\"cam/ll/init-0.mp4?txSecret=a&txTime=b\"\n"));
        let (msn, part) = window.edge();
        assert!(
            text.ends_with(&format!(
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam/ll/{msn}.{part}.m4s?txSecret=a&txTime=b\"\n"
            )),
            "{text}"
        );
        // The oldest segment is beyond three target durations: listed whole, without parts.
        let first = window.segments[0].sequence;
        assert!(!text.contains(&format!("cam/ll/{first}.0.m4s")), "{text}");
        assert!(text.contains(&format!("cam/ll/{first}.m4s?")), "{text}");
        let last = window.segments.last().unwrap().sequence;
        assert!(text.contains(&format!(
            "URI=\"cam/ll/{last}.0.m4s?txSecret=a&txTime=b\",INDEPENDENT=YES\n"
        )));
    }

    #[test]
    fn blocking_requests_are_judged_against_the_edge() {
        let mut seg = LlSegmenter::new(config());
        feed(&mut seg, 5, 25);
        let window = LlWindow::of(&seg, false);
        let (msn, parts) = window.edge();
        assert!(parts > 0);
        let req = |msn, part| BlockingRequest { msn, part };
        assert!(window.satisfies(req(msn - 1, None)));
        assert!(!window.satisfies(req(msn, None)));
        assert!(window.satisfies(req(msn, Some(parts as u64 - 1))));
        assert!(!window.satisfies(req(msn, Some(parts as u64))));
        assert!(!window.too_far_ahead(req(msn + 1, Some(0))));
        assert!(window.too_far_ahead(req(msn + 2, None)));
        assert!(window.too_far_ahead(req(msn, Some(parts as u64 + 4))));
        assert!(!LlWindow::default().satisfies(req(0, None)));
    }

    #[test]
    fn a_discontinuity_starts_a_new_segment_with_a_new_timeline() {
        let mut seg = LlSegmenter::new(config());
        feed(&mut seg, 3, 25);
        let before = seg.segments().len();
        seg.discontinuity(WALL + 3000);
        assert!(seg.open_segment().is_none());
        assert_eq!(
            seg.segments().len(),
            before + 1,
            "the open segment was closed"
        );
        feed(&mut seg, 3, 25);
        let marked: Vec<_> = seg.segments().filter(|s| s.discontinuity).collect();
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0].init, 1, "new tracks, new init segment");
        assert!(seg.init(1).is_some());
    }

    #[test]
    fn audio_only_streams_are_cut_by_duration() {
        let mut seg = LlSegmenter::new(config());
        seg.handle_frame(MediaKind::Audio, 0, &Bytes::from_static(&AAC_HEADER), WALL)
            .unwrap();
        for i in 0..400u32 {
            let frame = Bytes::from_static(&AAC_FRAME);
            seg.handle_frame(MediaKind::Audio, i * 23, &frame, WALL)
                .unwrap();
        }
        assert!(seg.segments().len() >= 3);
        for s in seg.segments() {
            assert!(s
                .parts
                .iter()
                .all(|p| p.independent && p.duration_ms <= 334));
        }
    }
}
