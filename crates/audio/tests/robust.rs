//! Arbitrary bytes never panic either transcoder, and gaps, duplicates and restarted timelines keep timestamps
//! increasing and true to the sample count.

mod common;

use audio::{AacToOpus, OpusToAac, OPUS_FRAME};
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn aac_to_opus_never_panics(asc in proptest::collection::vec(any::<u8>(), 0..8),
                                frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8)) {
        // Any configuration, and a valid one (AAC-LC 44.1 kHz stereo) so the frames reach the decoder.
        for config in [asc.as_slice(), &[0x12, 0x10]] {
            if let Ok(mut t) = AacToOpus::new(config) {
                for (i, f) in frames.iter().enumerate() {
                    let _ = t.push(f, i as u32 * 23);
                }
            }
        }
    }

    #[test]
    fn opus_to_aac_never_panics(packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 0..8),
                                pts in proptest::collection::vec(any::<u64>(), 8)) {
        let mut t = OpusToAac::new(2).unwrap();
        for (p, ts) in packets.iter().zip(&pts) {
            let _ = t.push(p, *ts);
        }
    }
}

fn tone_frames(name: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let dir = scratch(name);
    let (asc, _, frames) = split_adts(&std::fs::read(aac_tone(&dir, 44_100, 2, 4)).unwrap());
    (asc, frames)
}

fn ms(i: usize) -> u32 {
    (i as u64 * 1024 * 1000 / 44_100) as u32
}

#[test]
fn aac_gaps_are_filled_and_long_ones_restart_the_timeline() {
    let (asc, frames) = tone_frames("gaps");
    let mut t = AacToOpus::new(&asc).unwrap();
    let mut packets = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        // Frames 40..50 are lost (232 ms: filled); from frame 100 on the timestamps jump 5 s (a new timeline).
        if (40..50).contains(&i) {
            continue;
        }
        let pts = if i >= 100 { ms(i) + 5000 } else { ms(i) };
        packets.extend(t.push(f, pts).unwrap());
    }
    let jump = packets
        .windows(2)
        .position(|w| w[1].pts_48k != w[0].pts_48k + OPUS_FRAME as u64);
    let jump = jump.expect("a new timeline after the 5 s jump");
    // Before the jump: contiguous packets covering frames 0..100 including the filled gap.
    let covered = (jump + 1) as f64 * 0.02;
    assert!(
        (covered - 100.0 * 1024.0 / 44_100.0).abs() < 0.03,
        "{covered} s before the jump"
    );
    // After it: starts at the new timestamp, contiguous again.
    let restart = &packets[jump + 1..];
    assert_eq!(restart[0].pts_48k, u64::from(ms(100) + 5000) * 48);
    assert!(restart
        .windows(2)
        .all(|w| w[1].pts_48k == w[0].pts_48k + 960));
}

#[test]
fn aac_timestamps_going_back_keep_counting() {
    let (asc, frames) = tone_frames("back");
    let mut t = AacToOpus::new(&asc).unwrap();
    let mut packets = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        // The source restarts its clock at frame 80.
        let pts = if i >= 80 { ms(i - 80) } else { ms(i) + 10_000 };
        packets.extend(t.push(f, pts).unwrap());
    }
    assert!(packets
        .windows(2)
        .all(|w| w[1].pts_48k == w[0].pts_48k + 960));
    assert_eq!(packets[0].pts_48k, 10_000 * 48);
}

#[test]
fn aac_garbage_between_frames_keeps_the_timeline() {
    let (asc, frames) = tone_frames("garbage");
    let mut t = AacToOpus::new(&asc).unwrap();
    let mut packets = Vec::new();
    let mut errors = 0;
    for (i, f) in frames.iter().enumerate() {
        let input = if i % 10 == 5 {
            f[..2].to_vec()
        } else {
            f.clone()
        };
        match t.push(&input, ms(i)) {
            Ok(p) => packets.extend(p),
            Err(_) => errors += 1,
        }
    }
    assert!(errors > 0);
    assert!(packets
        .windows(2)
        .all(|w| w[1].pts_48k == w[0].pts_48k + 960));
    let covered = packets.len() as f64 * 0.02;
    let input = frames.len() as f64 * 1024.0 / 44_100.0;
    assert!(
        (covered - input).abs() < 0.05,
        "{covered} s out of {input} s"
    );
}

/// Opus packets made by our own encoder (via AacToOpus) with losses, duplicates and a restart.
#[test]
fn opus_losses_are_concealed_and_duplicates_dropped() {
    let (asc, frames) = tone_frames("opus-loss");
    let mut a2o = AacToOpus::new(&asc).unwrap();
    let mut packets = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        packets.extend(a2o.push(f, ms(i)).unwrap());
    }
    let mut t = OpusToAac::new(2).unwrap();
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if (50..55).contains(&i) {
            continue; // lost: 100 ms concealed
        }
        out.extend(t.push(&p.data, p.pts_48k).unwrap());
        if i % 7 == 0 {
            // A duplicate is dropped.
            assert!(t.push(&p.data, p.pts_48k).unwrap().is_empty());
        }
    }
    // Every frame 1024 samples after the one before: the gap was filled, duplicates added nothing.
    let pts: Vec<u32> = out.iter().map(|f| f.pts_ms).collect();
    for (j, w) in pts.windows(2).enumerate() {
        let expected = ((j as i64 + 2) * 1024 - 1024) / 48 - ((j as i64 + 1) * 1024 - 1024) / 48;
        assert_eq!(i64::from(w[1] - w[0]), expected, "frame {j}");
    }
    let secs = out.len() as f64 * 1024.0 / 48_000.0;
    let input = packets.len() as f64 * 0.02;
    assert!(
        (secs - input).abs() < 0.05,
        "{secs} s of AAC from {input} s of Opus"
    );
}

#[test]
fn refuses_oversized_input_and_bad_channel_counts() {
    let mut t = OpusToAac::new(1).unwrap();
    assert!(t.push(&vec![0u8; 5000], 0).is_err());
    assert!(t.push(&[], 0).is_err());
    assert!(OpusToAac::new(0).is_err());
    assert!(OpusToAac::new(3).is_err());
    let mut a = AacToOpus::new(&[0x12, 0x10]).unwrap();
    assert!(a.push(&vec![0u8; 9000], 0).is_err());
    assert!(AacToOpus::new(&[]).is_err());
}
