//! Structure checks with an independent box reader (`common::walk`): init segments, fragments, the writer's
//! decisions, the recorders, and never-panics property tests over odd input.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use flv::MediaKind;
use mp4::fmp4::{
    init_segment, styp, AudioTrack, Fragmenter, Mp4Output, Mp4Writer, Sample, Tracks, VideoTrack,
    WriterConfig, AUDIO_TRACK_ID, VIDEO_TRACK_ID,
};
use mp4::record::{FlvRecorder, Fmp4Recorder};
use mp4::Mp4Error;
use proptest::prelude::*;

/// avcC of a 320x240 x264 stream (High 4:4:4 profile, from `ffmpeg -f lavfi -i testsrc=size=320x240`).
const AVCC: &str =
    "01f4000dffe1001867f4000d91968141fb011000000300100000030320f142aa01000568ce0f1920fff8f800";
/// hvcC of a 320x240 x265 stream (Main profile, VPS/SPS/PPS arrays only).
const HVCC: &str = "0101600000009000000000003cf000fcfdf8f800000f03a00001001840010c01ffff01600000030090000003000003003c959809a10001002a42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003210a2000100074401c172b46240";
/// AudioSpecificConfig: AAC LC, 44.1 kHz, stereo.
const ASC: [u8; 2] = [0x12, 0x10];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn video_header() -> Bytes {
    let mut b = vec![0x17, 0, 0, 0, 0];
    b.extend(hex(AVCC));
    b.into()
}

fn audio_header() -> Bytes {
    Bytes::from(vec![0xAF, 0x00, ASC[0], ASC[1]])
}

fn video(key: bool, cts: i32, len: usize) -> Bytes {
    let mut b = BytesMut::new();
    flv::video::encode_avc_header(&mut b, key, 1, cts);
    b.put_u32(len as u32);
    b.put_u8(if key { 0x65 } else { 0x41 });
    b.put_bytes(0xAB, len - 1);
    b.freeze()
}

fn audio(len: usize) -> Bytes {
    let mut b = vec![0xAF, 0x01];
    b.resize(2 + len, 0x21);
    b.into()
}

fn tracks() -> Tracks {
    Tracks {
        video: Some(VideoTrack::from_avc_config(&hex(AVCC)).unwrap()),
        audio: Some(AudioTrack::from_aac_config(&ASC).unwrap()),
    }
}

#[test]
fn init_segment_structure() {
    let init = init_segment(&tracks());
    let boxes = walk(&init, 0, init.len()).unwrap();
    let names: Vec<_> = boxes.iter().map(BoxNode::name).collect();
    assert_eq!(names, ["ftyp", "moov"]);
    let ftyp = boxes[0].body(&init);
    assert_eq!(&ftyp[..4], b"iso6");
    assert!(ftyp.windows(4).any(|w| w == b"cmfc"));

    let moov = &boxes[1];
    let traks: Vec<_> = moov
        .children
        .iter()
        .filter(|c| &c.kind == b"trak")
        .collect();
    assert_eq!(traks.len(), 2);
    // Video: tkhd id 1 and 320x240, mdhd 90 kHz, avcC verbatim.
    let tkhd = traks[0].child(b"tkhd").unwrap().body(&init);
    assert_eq!(u32_at(tkhd, 12), VIDEO_TRACK_ID);
    assert_eq!((u32_at(tkhd, 76) >> 16, u32_at(tkhd, 80) >> 16), (320, 240));
    let mdhd = traks[0].path(&[b"mdia", b"mdhd"]).unwrap().body(&init);
    assert_eq!(u32_at(mdhd, 12), 90_000);
    let stsd = traks[0]
        .path(&[b"mdia", b"minf", b"stbl", b"stsd"])
        .unwrap();
    let avc1 = stsd.child(b"avc1").unwrap();
    assert_eq!(avc1.child(b"avcC").unwrap().body(&init), &hex(AVCC)[..]);
    // Audio: id 2, timescale = sample rate, esds carries the ASC as DecoderSpecificInfo.
    let tkhd = traks[1].child(b"tkhd").unwrap().body(&init);
    assert_eq!(u32_at(tkhd, 12), AUDIO_TRACK_ID);
    let mdhd = traks[1].path(&[b"mdia", b"mdhd"]).unwrap().body(&init);
    assert_eq!(u32_at(mdhd, 12), 44_100);
    let stsd = traks[1]
        .path(&[b"mdia", b"minf", b"stbl", b"stsd"])
        .unwrap();
    let esds = stsd.path(&[b"mp4a", b"esds"]).unwrap().body(&init);
    assert!(esds
        .windows(7)
        .any(|w| w == [0x05, 0x80, 0x80, 0x80, 0x02, 0x12, 0x10]));
    let trex: Vec<_> = moov.child(b"mvex").unwrap().children.iter().collect();
    assert_eq!(trex.len(), 2);

    let s = styp();
    assert_eq!(walk(&s, 0, s.len()).unwrap()[0].name(), "styp");
}

#[test]
fn hevc_track_from_an_enhanced_rtmp_sequence_start() {
    // Enhanced RTMP: IsExHeader | key frame | SequenceStart, FourCC hvc1, then the record.
    let mut header = vec![0x90, b'h', b'v', b'c', b'1'];
    header.extend(hex(HVCC));
    // IsExHeader | key frame | CodedFrames, FourCC, 24-bit composition time, one NAL unit (IDR, 3 bytes).
    let frame = vec![
        0x91, b'h', b'v', b'c', b'1', 0, 0, 0, 0, 0, 0, 3, 0x26, 0x01, 0xAF,
    ];
    let mut w = Mp4Writer::new(WriterConfig::default());
    w.handle_frame(MediaKind::Video, 0, &header.into()).unwrap();
    w.handle_frame(MediaKind::Video, 0, &frame.into()).unwrap();
    let Some(Mp4Output::Init { data, tracks }) = w.poll_output() else {
        panic!("init segment");
    };
    let v = tracks.video.unwrap();
    assert_eq!((v.width, v.height), (320, 240));
    let boxes = walk(&data, 0, data.len()).unwrap();
    let stsd = boxes[1]
        .path(&[b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
        .unwrap();
    let hvcc = stsd.path(&[b"hvc1", b"hvcC"]).unwrap();
    assert_eq!(hvcc.body(&data), &hex(HVCC)[..]);
    w.finish();
    let Some(Mp4Output::Fragment(f)) = w.poll_output() else {
        panic!("one fragment");
    };
    assert!(
        f.data.ends_with(&[0, 0, 0, 3, 0x26, 0x01, 0xAF]),
        "CodedFrames payload after the CTS"
    );
}

#[test]
fn fragment_timing_flags_and_offsets() {
    let mut f = Fragmenter::new(&tracks());
    let push = |f: &mut Fragmenter, id, dts, cts, key, len| {
        f.push(Sample {
            track_id: id,
            dts_ms: dts,
            cts_offset_ms: cts,
            keyframe: key,
            data: Bytes::from(vec![7u8; len]),
        })
        .unwrap()
    };
    push(&mut f, VIDEO_TRACK_ID, 0, 80, true, 100);
    push(&mut f, AUDIO_TRACK_ID, 0, 0, true, 10);
    push(&mut f, VIDEO_TRACK_ID, 40, 120, false, 50);
    push(&mut f, AUDIO_TRACK_ID, 23, 0, true, 11);
    push(&mut f, AUDIO_TRACK_ID, 46, 0, true, 12);
    push(&mut f, VIDEO_TRACK_ID, 80, -40, false, 30);
    assert_eq!(f.pending_duration_ms(), 120);
    let frag = f.flush().unwrap();
    assert_eq!(
        (frag.sequence, frag.start_ms, frag.duration_ms),
        (1, 0, 120)
    );
    assert!(frag.independent);
    assert!(f.flush().is_none());

    let data = &frag.data;
    let boxes = walk(data, 0, data.len()).unwrap();
    assert_eq!(check_fragments(data, &boxes), 1);
    let trafs: Vec<_> = boxes[0]
        .children
        .iter()
        .filter(|c| &c.kind == b"traf")
        .collect();
    let (_, v) = parse_trun(trafs[0].child(b"trun").unwrap().body(data));
    assert_eq!(
        v,
        [
            (3600, 100, 0x0200_0000, 7200),
            (3600, 50, 0x0101_0000, 10800),
            (3600, 30, 0x0101_0000, -3600),
        ]
    );
    let (_, a) = parse_trun(trafs[1].child(b"trun").unwrap().body(data));
    // Millisecond jitter is ironed out: every AAC frame lasts 1024 samples.
    assert!(a.iter().all(|s| s.0 == 1024 && s.2 == 0x0200_0000));

    // Next fragment: tfdt is the real start, the lone video sample reuses the previous duration.
    push(&mut f, VIDEO_TRACK_ID, 120, 0, false, 5);
    let frag = f.flush().unwrap();
    assert_eq!(frag.sequence, 2);
    assert!(!frag.independent);
    let boxes = walk(&frag.data, 0, frag.data.len()).unwrap();
    let traf = boxes[0].child(b"traf").unwrap();
    assert_eq!(
        u64_at(traf.child(b"tfdt").unwrap().body(&frag.data), 4),
        120 * 90
    );
    let (_, v) = parse_trun(traf.child(b"trun").unwrap().body(&frag.data));
    assert_eq!(v[0].0, 3600);
}

#[test]
fn fragmenter_refuses_unknown_tracks_and_clamps_time_travel() {
    let mut f = Fragmenter::new(&Tracks {
        video: None,
        audio: Some(AudioTrack::from_aac_config(&ASC).unwrap()),
    });
    let sample = |id, dts| Sample {
        track_id: id,
        dts_ms: dts,
        cts_offset_ms: 0,
        keyframe: true,
        data: Bytes::from_static(b"x"),
    };
    assert_eq!(
        f.push(sample(VIDEO_TRACK_ID, 0)),
        Err(Mp4Error::UnknownTrack { track_id: 1 })
    );
    f.push(sample(AUDIO_TRACK_ID, 1000)).unwrap();
    f.push(sample(AUDIO_TRACK_ID, 0)).unwrap();
    let frag = f.flush().unwrap();
    let boxes = walk(&frag.data, 0, frag.data.len()).unwrap();
    let (_, a) = parse_trun(boxes[0].path(&[b"traf", b"trun"]).unwrap().body(&frag.data));
    assert_eq!(
        a[0].0, 0,
        "a backwards jump gives duration 0, not a negative one"
    );
}

#[test]
fn writer_starts_at_a_keyframe_and_rebases_time() {
    let mut w = Mp4Writer::new(WriterConfig::default());
    w.handle_frame(MediaKind::Video, 5000, &video_header())
        .unwrap();
    w.handle_frame(MediaKind::Audio, 5000, &audio_header())
        .unwrap();
    // Before the first keyframe: dropped.
    w.handle_frame(MediaKind::Audio, 5000, &audio(8)).unwrap();
    w.handle_frame(MediaKind::Video, 5000, &video(false, 0, 20))
        .unwrap();
    assert!(w.poll_output().is_none());
    w.handle_frame(MediaKind::Video, 5040, &video(true, 0, 20))
        .unwrap();
    let Some(Mp4Output::Init { tracks, .. }) = w.poll_output() else {
        panic!("init segment first");
    };
    assert!(tracks.video.is_some() && tracks.audio.is_some());
    for i in 1..30 {
        w.handle_frame(MediaKind::Audio, 5040 + i * 23, &audio(8))
            .unwrap();
        w.handle_frame(MediaKind::Video, 5040 + i * 40, &video(i % 25 == 0, 0, 20))
            .unwrap();
    }
    let Some(Mp4Output::Fragment(f)) = w.poll_output() else {
        panic!("a fragment cut at the second keyframe");
    };
    assert_eq!((f.start_ms, f.duration_ms, f.independent), (0, 1000, true));
    w.finish();
    assert!(matches!(w.poll_output(), Some(Mp4Output::Fragment(_))));
    assert!(w.poll_output().is_none());
}

#[test]
fn writer_refuses_bad_frames_and_goes_on() {
    let mut w = Mp4Writer::new(WriterConfig::default());
    assert!(matches!(
        w.handle_frame(MediaKind::Audio, 0, &Bytes::from_static(&[0x2F, 1, 2])),
        Err(Mp4Error::UnsupportedCodec { .. })
    ));
    assert!(matches!(
        w.handle_frame(
            MediaKind::Video,
            0,
            &Bytes::from_static(&[0x17, 0, 0, 0, 0, 1])
        ),
        Err(Mp4Error::Flv { .. })
    ));
    assert!(w.handle_frame(MediaKind::Video, 0, &Bytes::new()).is_err());
    w.handle_frame(MediaKind::Script, 0, &Bytes::from_static(b"junk"))
        .unwrap();
    w.handle_frame(MediaKind::Video, 0, &video_header())
        .unwrap();
    w.handle_frame(MediaKind::Video, 0, &video(true, 0, 4))
        .unwrap();
    assert!(matches!(w.poll_output(), Some(Mp4Output::Init { .. })));
}

#[test]
fn fmp4_recorder_holds_new_codecs_for_the_next_file() {
    let mut rec = Fmp4Recorder::new(Vec::new(), WriterConfig::default());
    rec.write_frame(MediaKind::Video, 0, &video_header())
        .unwrap();
    rec.write_frame(MediaKind::Video, 0, &video(true, 0, 10))
        .unwrap();
    rec.write_frame(MediaKind::Video, 40, &video(false, 0, 10))
        .unwrap();
    assert!(!rec.should_rotate(std::time::Duration::from_secs(10)));
    // Audio appears: the tracks change, the file cannot take them.
    rec.write_frame(MediaKind::Audio, 60, &audio_header())
        .unwrap();
    rec.write_frame(MediaKind::Audio, 60, &audio(5)).unwrap();
    assert!(rec.should_rotate(std::time::Duration::from_secs(10)));
    let first = rec.rotate(Vec::new()).unwrap();
    rec.write_frame(MediaKind::Video, 1000, &video(true, 0, 10))
        .unwrap();
    let second = rec.finish().unwrap();

    let boxes = walk(&first, 0, first.len()).unwrap();
    assert_eq!(check_fragments(&first, &boxes), 1);
    let traks = boxes[1].children.iter().filter(|c| &c.kind == b"trak");
    assert_eq!(traks.count(), 1);
    // The new file starts at the next keyframe: the audio frame at 60 ms waited for it (and was dropped, its
    // picture being in the old file), so one fragment.
    let boxes = walk(&second, 0, second.len()).unwrap();
    assert_eq!(check_fragments(&second, &boxes), 1);
    let traks = boxes[1].children.iter().filter(|c| &c.kind == b"trak");
    assert_eq!(traks.count(), 2);
}

#[test]
fn flv_recorder_rotation_replays_headers_and_rebases() {
    let mut rec = FlvRecorder::new(Vec::new()).unwrap();
    rec.write_frame(MediaKind::Script, 0, &Bytes::from_static(b"\x02meta"))
        .unwrap();
    rec.write_frame(MediaKind::Video, 0, &video_header())
        .unwrap();
    rec.write_frame(MediaKind::Video, 100, &video(true, 0, 10))
        .unwrap();
    // Audio interleaved slightly behind the first picture: clamped to 0, not read as 49 days later.
    rec.write_frame(MediaKind::Audio, 90, &audio(4)).unwrap();
    assert!(!rec.should_rotate(std::time::Duration::from_secs(2)));
    rec.write_frame(MediaKind::Video, 2100, &video(false, 0, 10))
        .unwrap();
    assert!(rec.should_rotate(std::time::Duration::from_secs(2)));
    let first = rec.rotate(Vec::new()).unwrap();
    rec.write_frame(MediaKind::Video, 2140, &video(true, 0, 10))
        .unwrap();
    let second = rec.finish().unwrap();

    let tags = |file: &[u8]| {
        let mut d = flv::FlvDemuxer::new(1 << 20);
        d.handle_input(file).unwrap();
        assert_eq!(d.buffered_len(), 0, "only complete tags");
        std::iter::from_fn(|| d.poll_tag())
            .map(|t| (t.tag_type, t.timestamp))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tags(&first),
        [
            (MediaKind::Script, 0),
            (MediaKind::Video, 0),
            (MediaKind::Video, 0),
            (MediaKind::Audio, 0),
            (MediaKind::Video, 2000)
        ]
    );
    assert_eq!(
        tags(&second),
        [
            (MediaKind::Script, 0),
            (MediaKind::Video, 0),
            (MediaKind::Video, 0)
        ]
    );
}

/// A frame that is sometimes well formed, sometimes not.
fn any_frame() -> impl Strategy<Value = (MediaKind, u32, Bytes)> {
    let kind = prop_oneof![
        Just(MediaKind::Video),
        Just(MediaKind::Audio),
        Just(MediaKind::Script)
    ];
    let payload = prop_oneof![
        Just(video_header()),
        Just(audio_header()),
        (any::<bool>(), -100i32..200, 1usize..64).prop_map(|(k, c, l)| video(k, c, l)),
        (0usize..64).prop_map(audio),
        proptest::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from),
    ];
    (kind, any::<u32>(), payload)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn recorder_never_panics_and_boxes_add_up(
        frames in proptest::collection::vec(any_frame(), 0..80),
        fragment_ms in 0u64..3000,
    ) {
        let mut rec = Fmp4Recorder::new(Vec::new(), WriterConfig { fragment_duration_ms: fragment_ms, ..WriterConfig::default() });
        let mut sorted = frames;
        // Mostly increasing time, like a live source; the u32 range still exercises the wrap-around.
        sorted.sort_by_key(|f| f.1 / 4);
        for (kind, ts, payload) in &sorted {
            let _ = rec.write_frame(*kind, *ts, payload);
            if rec.should_rotate(std::time::Duration::from_secs(1)) {
                let file = rec.rotate(Vec::new()).unwrap();
                let boxes = walk(&file, 0, file.len()).map_err(TestCaseError::fail)?;
                check_fragments(&file, &boxes);
            }
        }
        let file = rec.finish().unwrap();
        let boxes = walk(&file, 0, file.len()).map_err(TestCaseError::fail)?;
        check_fragments(&file, &boxes);
    }

    #[test]
    fn fragmenter_boxes_add_up(
        samples in proptest::collection::vec(
            (any::<bool>(), any::<u32>(), any::<i32>(), any::<bool>(), 0usize..100), 0..60),
    ) {
        let mut f = Fragmenter::new(&tracks());
        for (i, (video, dts, cts, key, len)) in samples.into_iter().enumerate() {
            let track_id = if video { VIDEO_TRACK_ID } else { AUDIO_TRACK_ID };
            f.push(Sample { track_id, dts_ms: u64::from(dts), cts_offset_ms: cts, keyframe: key,
                data: Bytes::from(vec![0; len]) }).unwrap();
            if i % 7 == 6 {
                let frag = f.flush().unwrap();
                let boxes = walk(&frag.data, 0, frag.data.len()).map_err(TestCaseError::fail)?;
                prop_assert_eq!(check_fragments(&frag.data, &boxes), 1);
            }
        }
    }

    #[test]
    fn flv_recorder_output_always_demuxes(frames in proptest::collection::vec(any_frame(), 0..40)) {
        let mut rec = FlvRecorder::new(Vec::new()).unwrap();
        for (kind, ts, payload) in &frames {
            rec.write_frame(*kind, *ts, payload).unwrap();
        }
        let file = rec.finish().unwrap();
        let mut d = flv::FlvDemuxer::new(1 << 20);
        d.handle_input(&file).unwrap();
        let mut n = 0;
        while d.poll_tag().is_some() { n += 1; }
        prop_assert_eq!(n, frames.len());
    }
}

/// An AAC sequence header after the first picture (as a publisher may send it) restarts the output with both
/// tracks; what follows the new init segment must decode on its own, so it starts at the next keyframe (a recorder
/// starts a new file there: pictures referring to one in the old file would not decode).
#[test]
fn a_late_audio_header_restarts_at_the_next_keyframe() {
    let mut w = Mp4Writer::new(WriterConfig::default());
    w.handle_frame(MediaKind::Video, 0, &video_header())
        .unwrap();
    w.handle_frame(MediaKind::Video, 0, &video(true, 0, 100))
        .unwrap();
    w.handle_frame(MediaKind::Audio, 0, &audio_header())
        .unwrap();
    for i in 1..5 {
        w.handle_frame(MediaKind::Video, i * 40, &video(false, 0, 50))
            .unwrap();
        w.handle_frame(MediaKind::Audio, i * 40, &audio(20))
            .unwrap();
    }
    w.handle_frame(MediaKind::Video, 200, &video(true, 0, 100))
        .unwrap();
    w.handle_frame(MediaKind::Audio, 200, &audio(20)).unwrap();
    w.finish();
    let mut outputs = Vec::new();
    while let Some(o) = w.poll_output() {
        outputs.push(o);
    }
    let shape: Vec<String> = outputs
        .iter()
        .map(|o| match o {
            Mp4Output::Init { tracks, .. } => {
                format!("init(audio={})", tracks.audio.is_some())
            }
            Mp4Output::Fragment(f) => format!("fragment(independent={})", f.independent),
        })
        .collect();
    assert_eq!(
        shape,
        [
            "init(audio=false)",
            "fragment(independent=true)",
            "init(audio=true)",
            "fragment(independent=true)"
        ],
        "{shape:?}"
    );
    // The fragment after the restart holds the keyframe and its audio, none of the pictures before it.
    let Mp4Output::Fragment(last) = &outputs[3] else {
        unreachable!()
    };
    assert_eq!(last.start_ms, 200);
}
