use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::webrtc::h264::{Annexb, Video};

const SPS: [u8; 8] = [0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16];
const PPS: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];
const MAX: usize = 1 << 20;

fn annexb(units: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for u in units {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(u);
    }
    out
}

#[test]
fn annexb_units_split_on_both_start_codes() {
    let data = [
        9, 9, // garbage before the first start code
        0, 0, 0, 1, 0x67, 1, 2, // 4-byte code
        0, 0, 1, 0x68, 3, // 3-byte code
        0, 0, 0, 1, 0, 0, 1, 0x65, 4, 0, // an empty unit, a unit with a trailing zero
    ];
    let units: Vec<&[u8]> = annexb_nal_units(&data).collect();
    assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4]]);
    assert_eq!(annexb_nal_units(&[]).count(), 0);
    assert_eq!(annexb_nal_units(&[0, 0, 1]).count(), 0);
}

/// A keyframe access unit as Chromium sends it gives the sequence header and an FLV keyframe, which the WHEP side
/// (FLV to Annex B) turns back into the same units; inter frames and repeated parameter sets add nothing more.
#[test]
fn a_keyframe_unit_gives_the_sequence_header_and_round_trips() {
    let mut ingest = H264Ingest::default();
    let idr = [0x65, 0x88, 0x84, 0x21];
    let tags = ingest
        .push(&annexb(&[&[0x09, 0xf0], &SPS, &PPS, &idr]), MAX)
        .unwrap();
    let header = tags.header.expect("a sequence header");
    assert_eq!(&header[..5], &[0x17, 0, 0, 0, 0]);
    let record = AvcDecoderConfig::parse(&header[5..]).unwrap();
    assert_eq!(
        (record.profile, record.level, record.nalu_length_size),
        (0x42, 0x1f, 4)
    );
    assert_eq!(record.sps, vec![Bytes::from_static(&SPS)]);
    assert_eq!(record.pps, vec![Bytes::from_static(&PPS)]);
    let (picture, keyframe) = tags.picture.expect("a picture");
    assert!(keyframe);
    assert_eq!(
        &picture[..],
        &[0x17, 1, 0, 0, 0, 0, 0, 0, 4, 0x65, 0x88, 0x84, 0x21]
    );
    let frame = Frame::new(MediaKind::Video, 0, picture.clone());
    assert!(frame.keyframe && !frame.sequence_header);
    assert!(Frame::new(MediaKind::Video, 0, header.clone()).sequence_header);

    // Back to Annex B the way WHEP viewers get it: SPS and PPS in front of the IDR, the delimiter gone.
    let mut back = Annexb::default();
    assert!(matches!(back.push(&header), Ok(Video::Config)));
    let Ok(Video::Picture(au)) = back.push(&picture) else {
        panic!("a picture");
    };
    assert_eq!(&au.data[..], &annexb(&[&SPS, &PPS, &idr])[..]);

    // An inter frame; then a keyframe repeating the same parameter sets: no new header.
    let tags = ingest.push(&annexb(&[&[0x41, 0x9a, 7]]), MAX).unwrap();
    assert_eq!(tags.header, None);
    let (picture, keyframe) = tags.picture.unwrap();
    assert!(!keyframe);
    assert_eq!(&picture[..], &[0x27, 1, 0, 0, 0, 0, 0, 0, 3, 0x41, 0x9a, 7]);
    let tags = ingest.push(&annexb(&[&SPS, &PPS, &idr]), MAX).unwrap();
    assert_eq!(tags.header, None);
    // Another SPS (a new resolution): a new header.
    let mut sps2 = SPS;
    sps2[7] = 0x17;
    let tags = ingest.push(&annexb(&[&sps2, &PPS, &idr]), MAX).unwrap();
    let header = tags.header.expect("a new header");
    assert_eq!(
        AvcDecoderConfig::parse(&header[5..]).unwrap().sps[0][..],
        sps2
    );
}

#[test]
fn pictures_without_parameter_sets_and_oversized_units_are_refused() {
    let mut ingest = H264Ingest::default();
    assert_eq!(
        ingest.push(&annexb(&[&[0x65, 1]]), MAX),
        Err(IngestError::NoConfig)
    );
    // Only the SPS so far: still no record.
    let tags = ingest.push(&annexb(&[&SPS]), MAX).unwrap();
    assert_eq!(tags, VideoTags::default());
    assert_eq!(
        ingest.push(&annexb(&[&[0x65, 1]]), MAX),
        Err(IngestError::NoConfig)
    );
    // The PPS alone completes it.
    assert!(ingest.push(&annexb(&[&PPS]), MAX).unwrap().header.is_some());
    assert!(ingest
        .push(&annexb(&[&[0x65, 1]]), MAX)
        .unwrap()
        .picture
        .is_some());
    assert!(matches!(
        ingest.push(&annexb(&[&[0x41; 100]]), 50),
        Err(IngestError::TooLarge { len: 104, max: 50 })
    ));
    assert!(matches!(
        ingest.push(&annexb(&[&[0x67, 0x42]]), MAX),
        Err(IngestError::BadParameterSet {
            what: "SPS",
            len: 2
        })
    ));
}

proptest! {
    /// Any bytes: an error or tags, never a panic, and every tag body parses as FLV video.
    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut ingest = H264Ingest::default();
        for chunk in [&data[..], &annexb(&[&SPS, &PPS])[..], &data[..]] {
            if let Ok(tags) = ingest.push(chunk, MAX) {
                for body in tags.header.iter().chain(tags.picture.as_ref().map(|(b, _)| b)) {
                    prop_assert!(flv::video::VideoTagInfo::parse(body).is_ok());
                }
            }
        }
    }

    /// Real-looking access units (NAL units without zero bytes, as emulation prevention keeps start codes out)
    /// survive Annex B -> FLV -> Annex B unchanged (apart from the parameter sets WHEP puts before keyframes).
    #[test]
    fn slices_round_trip(
        units in proptest::collection::vec(
            (prop_oneof![Just(1u8), Just(5u8), Just(6u8)], proptest::collection::vec(1u8..=255, 1..300)),
            1..6,
        )
    ) {
        let mut ingest = H264Ingest::default();
        let header = ingest.push(&annexb(&[&SPS, &PPS]), MAX).unwrap().header.unwrap();
        let nals: Vec<Vec<u8>> = units
            .iter()
            .map(|(kind, rest)| {
                let mut nal = vec![0x60 | kind];
                nal.extend_from_slice(rest);
                nal
            })
            .collect();
        let refs: Vec<&[u8]> = nals.iter().map(|n| n.as_slice()).collect();
        let tags = ingest.push(&annexb(&refs), MAX).unwrap();
        let has_slice = units.iter().any(|(k, _)| *k != 6);
        prop_assert_eq!(tags.picture.is_some(), has_slice);
        if let Some((picture, keyframe)) = tags.picture {
            prop_assert_eq!(keyframe, units.iter().any(|(k, _)| *k == 5));
            let mut back = Annexb::default();
            back.push(&header).unwrap();
            let Ok(Video::Picture(au)) = back.push(&picture) else {
                return Err(TestCaseError::fail("no picture"));
            };
            let mut expected = if keyframe { annexb(&[&SPS, &PPS]) } else { Vec::new() };
            expected.extend_from_slice(&annexb(&refs));
            prop_assert_eq!(&au.data[..], &expected[..]);
        }
    }
}

/// Each track counts its own clock from its first frame's arrival; the timeline starts at 0.
#[test]
fn rtp_times_map_to_one_timeline_from_zero() {
    let t0 = Instant::now();
    let mut tl = Timeline::default();
    let v0 = 4_000_000_000u64; // near the 32-bit wrap: the times are extended
    assert_eq!(tl.map(TrackKind::Video, v0, t0, None), 0);
    assert_eq!(
        tl.map(
            TrackKind::Video,
            v0 + 3000,
            t0 + Duration::from_millis(40),
            None
        ),
        33_333
    );
    // Audio starts 10 ms later; its 20 ms packets are 960 ticks apart whatever their arrival jitter.
    let a0 = 123_456u64;
    assert_eq!(
        tl.map(TrackKind::Audio, a0, t0 + Duration::from_millis(10), None),
        10_000
    );
    assert_eq!(
        tl.map(
            TrackKind::Audio,
            a0 + 960,
            t0 + Duration::from_millis(45),
            None
        ),
        30_000
    );
    // Past the 32-bit wrap of the video's RTP time: still counting.
    assert_eq!(tl.map(TrackKind::Video, v0 + 900_000, t0, None), 10_000_000);
    assert!(!tl.synced());
}

/// Once both tracks have a sender report, the audio is placed where the sender's capture clock says, relative
/// to the video; the video does not move.
#[test]
fn sender_reports_align_audio_to_video() {
    let t0 = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut tl = Timeline::default();
    // Video captured at `wall` (rtp 9000), audio captured 100 ms later (rtp 48_000), but the audio's first packet
    // arrived 150 ms after the video's (the video encoder was quicker): 50 ms off by arrival.
    assert_eq!(tl.map(TrackKind::Video, 9_000, t0, None), 0);
    assert_eq!(
        tl.map(
            TrackKind::Audio,
            48_000,
            t0 + Duration::from_millis(150),
            None
        ),
        150_000
    );
    let video_sr = SenderReport {
        ntp: wall + Duration::from_secs(1),
        rtp: 9_000 + 90_000,
    };
    let audio_sr = SenderReport {
        ntp: wall + Duration::from_secs(1),
        rtp: 48_000 + 43_200,
    };
    assert_eq!(
        tl.map(
            TrackKind::Video,
            9_000 + 90_000,
            t0 + Duration::from_secs(1),
            Some(video_sr)
        ),
        1_000_000
    );
    assert!(!tl.synced(), "one report is not enough");
    let at = tl.map(
        TrackKind::Audio,
        48_000 + 43_200,
        t0 + Duration::from_secs(1),
        Some(audio_sr),
    );
    assert!(tl.synced());
    // Audio rtp 48_000 was captured at wall + 1 s - 0.9 s = wall + 100 ms: 100 ms after the video's first frame.
    assert_eq!(at, 100_000 + 900_000);
    assert_eq!(tl.map(TrackKind::Audio, 48_000, t0, None), 100_000);
    assert_eq!(tl.map(TrackKind::Video, 9_000, t0, None), 0);
}

/// A report that would move the audio by more than 5 s is not believed.
#[test]
fn absurd_sender_reports_are_ignored() {
    let t0 = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut tl = Timeline::default();
    tl.map(
        TrackKind::Video,
        0,
        t0,
        Some(SenderReport { ntp: wall, rtp: 0 }),
    );
    let far = SenderReport {
        ntp: wall + Duration::from_secs(3600),
        rtp: 0,
    };
    assert_eq!(
        tl.map(
            TrackKind::Audio,
            0,
            t0 + Duration::from_millis(20),
            Some(far)
        ),
        20_000
    );
    assert!(tl.synced());
}

#[test]
fn the_gate_drops_until_a_keyframe_and_asks_once_a_second() {
    let t0 = Instant::now();
    let second = Duration::from_secs(1);
    let mut gate = KeyframeGate::new(second, None);
    // Waiting from the start: the first request goes out at once, the next not before a second.
    assert!(gate.poll(t0));
    assert_eq!(
        gate.frame(false, true, t0 + Duration::from_millis(10)),
        (false, false)
    );
    assert_eq!(gate.frame(false, true, t0 + second), (false, true));
    assert_eq!(gate.frame(true, true, t0 + second), (true, false));
    assert_eq!(gate.frame(false, true, t0 + second), (true, false));
    assert!(!gate.poll(t0 + 3 * second), "not waiting: no request");
    // A gap: dropped, and a request (a second after the last one has passed).
    assert_eq!(gate.frame(false, false, t0 + 3 * second), (false, true));
    assert_eq!(gate.frame(false, true, t0 + 3 * second), (false, false));
    // A keyframe that is not contiguous is still a fresh start.
    assert_eq!(gate.frame(true, false, t0 + 3 * second), (true, false));
    // A frame lost on the way to the hub: waiting again.
    gate.lost();
    assert_eq!(gate.frame(false, true, t0 + 5 * second), (false, true));
    assert_eq!((gate.requests, gate.dropped), (4, 5));
}

/// Opus packets (made by the AAC -> Opus transcoder from a silent AAC stream) become an AAC sequence header and AAC
/// frames at 48 kHz on the timeline; H.264 becomes the AVC header and pictures; all timestamps start near 0.
#[test]
fn the_converter_makes_avc_and_aac_frames() {
    // AAC-LC 44.1 kHz stereo and a silent frame of it.
    const ASC: [u8; 2] = [0x12, 0x10];
    const SILENT: [u8; 9] = [0x21, 0x00, 0x49, 0x90, 0x02, 0x19, 0x00, 0x23, 0x80];
    let mut encoder = audio::AacToOpus::new(&ASC).unwrap();
    let mut opus = Vec::new();
    for i in 0..60u32 {
        opus.extend(encoder.push(&SILENT, i * 1024 * 1000 / 44_100).unwrap());
    }
    assert!(opus.len() > 50);
    let t0 = Instant::now();
    let (mut conv, error) = Converter::new(OpusToAacConfig::default(), MAX, true);
    assert_eq!(error, None);
    let video = Received {
        kind: TrackKind::Video,
        data: annexb(&[&SPS, &PPS, &[0x65, 1, 2]]).into(),
        rtp: 90_000,
        arrival: t0,
        report: None,
    };
    // The AAC sequence header comes first, before the video's: both tracks are there from the start.
    let frames = conv.push(&video).unwrap();
    assert_eq!(frames.len(), 3);
    assert!(frames[0].sequence_header && frames[0].kind == MediaKind::Audio);
    assert_eq!(&frames[0].payload[..2], &[0xAE, 0]);
    let asc = flv::aac::AudioSpecificConfig::parse(&frames[0].payload[2..]).unwrap();
    assert_eq!(asc.sample_rate_index(), 3, "48 kHz");
    assert!(frames[1].sequence_header && frames[2].keyframe);
    assert!(frames.iter().all(|f| f.timestamp == 0));
    let mut aac = Vec::new();
    for (i, p) in opus.iter().enumerate() {
        let item = Received {
            kind: TrackKind::Audio,
            data: Arc::from(p.data.as_ref()),
            rtp: 1_000 + i as u64 * 960,
            arrival: t0 + Duration::from_millis(5 + 20 * i as u64),
            report: None,
        };
        aac.extend(conv.push(&item).unwrap());
    }
    assert!(aac
        .iter()
        .all(|f| !f.sequence_header && f.payload[..2] == [0xAE, 1]));
    let frames: Vec<&Frame> = aac.iter().collect();
    // Every 20 ms packet is 960 samples, every AAC frame 1024, less the encoder's delay of one frame.
    let expected = opus.len() * 960 / 1024;
    assert!(
        (expected - 3..=expected + 1).contains(&frames.len()),
        "{} AAC frames from {} Opus packets",
        frames.len(),
        opus.len()
    );
    for pair in frames.windows(2) {
        let step = pair[1].timestamp - pair[0].timestamp;
        assert!((21..=22).contains(&step), "{step}");
    }
    assert!(frames[0].timestamp <= 30, "{}", frames[0].timestamp);
    // Garbage is an error for the log, not a panic, and the next packet still converts.
    let junk = Received {
        kind: TrackKind::Audio,
        data: Arc::from(&[0xffu8; 3][..]),
        rtp: 1_000 + 60 * 960,
        arrival: t0,
        report: None,
    };
    let _ = conv.push(&junk);
}

/// A keyframe older than `every` is asked for, at most once per interval, while frames keep passing.
#[test]
fn an_old_keyframe_is_renewed() {
    let t0 = Instant::now();
    let mut gate = KeyframeGate::new(Duration::from_secs(1), Some(Duration::from_secs(2)));
    assert_eq!(gate.frame(true, true, t0), (true, false));
    assert_eq!(
        gate.frame(false, true, t0 + Duration::from_millis(1500)),
        (true, false)
    );
    assert_eq!(
        gate.frame(false, true, t0 + Duration::from_secs(2)),
        (true, true)
    );
    assert_eq!(
        gate.frame(false, true, t0 + Duration::from_millis(2500)),
        (true, false),
        "asked a second ago"
    );
    assert_eq!(
        gate.frame(false, true, t0 + Duration::from_secs(3)),
        (true, true),
        "still no keyframe"
    );
    assert_eq!(
        gate.frame(true, true, t0 + Duration::from_millis(3100)),
        (true, false)
    );
    assert!(!gate.poll(t0 + Duration::from_secs(5)));
    assert!(gate.poll(t0 + Duration::from_millis(5100)));
}
