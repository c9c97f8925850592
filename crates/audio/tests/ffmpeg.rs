//! Both directions against ffmpeg: its AAC and Opus in, ours decoded by it, checked for a 440 Hz tone of the
//! right duration and for timestamps that count samples.

mod common;

use audio::{AacToOpus, OpusToAac, OPUS_FRAME};
use common::*;

/// Transcodes an ffmpeg AAC tone at `rate` with `channels` and has ffmpeg decode the Ogg/Opus result.
fn aac_to_opus(rate: u32, channels: u32) {
    let dir = scratch(&format!("a2o-{rate}-{channels}"));
    let secs = 5;
    let (asc, asc_rate, frames) =
        split_adts(&std::fs::read(aac_tone(&dir, rate, channels, secs)).unwrap());
    assert_eq!(asc_rate, rate);
    let mut t = AacToOpus::new(&asc).unwrap();
    let mut packets = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        // FLV's millisecond timestamps, rounded as a muxer rounds them.
        let pts_ms = (i as u64 * 1024 * 1000 / u64::from(rate)) as u32;
        packets.extend(t.push(frame, pts_ms).unwrap());
    }
    assert_eq!(t.channels(), channels.min(2) as usize);
    // Contiguous 20 ms packets from the first frame's timestamp.
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.pts_48k, i as u64 * OPUS_FRAME as u64, "packet {i}");
        assert_eq!(p.samples, 960);
    }
    let input_secs = frames.len() as f64 * 1024.0 / f64::from(rate);
    let output_secs = packets.len() as f64 * 0.02;
    assert!(
        (input_secs - output_secs).abs() < 0.05,
        "{input_secs} s in, {output_secs} s out"
    );

    let path = dir.join("out.opus");
    let head = opus_pure::OpusHead::new(t.channels() as u8, rate).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = opus_pure::OggOpusWriter::new(std::io::BufWriter::new(file), head).unwrap();
    for p in &packets {
        writer.write_packet(&p.data).unwrap();
    }
    writer.finish().unwrap();

    let pcm = decode_pcm(&path, 48_000, 1);
    // ffmpeg trims the Ogg pre-skip: what it plays is what went in, give or take the last partial packet.
    let duration = pcm.len() as f64 / 48_000.0;
    assert!(
        (duration - input_secs).abs() < 0.05,
        "ffmpeg decodes {duration} s"
    );
    let middle = &pcm[48_000..pcm.len() - 48_000];
    let f = tone_frequency(middle, 48_000);
    assert!((f - 440.0).abs() < 2.0, "dominant frequency {f} Hz");
    assert!(rms(middle) > 0.05, "tone level {}", rms(middle));
}

#[test]
fn aac_44k_stereo_to_opus_plays_in_ffmpeg() {
    aac_to_opus(44_100, 2);
}

#[test]
fn aac_48k_mono_to_opus_plays_in_ffmpeg() {
    aac_to_opus(48_000, 1);
}

#[test]
fn aac_22k_mono_to_opus_plays_in_ffmpeg() {
    aac_to_opus(22_050, 1);
}

/// ffmpeg's libopus packets (as a browser's) to AAC, wrapped as ADTS and decoded by ffmpeg.
#[test]
fn opus_from_ffmpeg_to_aac_plays_in_ffmpeg() {
    let dir = scratch("o2a");
    let src = dir.join("in.opus");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=5",
        "-ac",
        "2",
        "-c:a",
        "libopus",
        "-b:a",
        "64k",
        "-frame_duration",
        "20",
        src.to_str().unwrap(),
    ]);
    let mut reader = opus_pure::OggOpusReader::new(std::fs::File::open(&src).unwrap()).unwrap();
    let mut t = OpusToAac::new(2).unwrap();
    let asc = t.audio_specific_config();
    let config = flv::aac::AudioSpecificConfig::parse(&asc).unwrap();
    assert_eq!(
        (config.object_type, config.sample_rate, config.channels),
        (2, 48_000, 2)
    );
    // RTP-like timestamps from an arbitrary base, counted in samples.
    let base = 1_000_000u64;
    let mut pts = base;
    let mut frames = Vec::new();
    while let Some(packet) = reader.read_packet().unwrap() {
        frames.extend(t.push(&packet.data, pts).unwrap());
        pts += opus_pure::packet::samples_48k(&packet.data).unwrap() as u64;
    }
    assert!(!frames.is_empty());
    // Frame j starts at input sample j * 1024 - 1024 (the encoder's delay), in ms from the base.
    for (j, f) in frames.iter().enumerate() {
        let expected = ((base as i64 + j as i64 * 1024 - 1024) / 48) as u32;
        assert_eq!(f.pts_ms, expected, "frame {j}");
    }
    let mut adts = Vec::new();
    for f in &frames {
        adts.extend_from_slice(&flv::aac::adts_header(&config, f.data.len()));
        adts.extend_from_slice(&f.data);
    }
    let path = dir.join("out.aac");
    std::fs::write(&path, &adts).unwrap();
    let pcm = decode_pcm(&path, 48_000, 1);
    let secs = pcm.len() as f64 / 48_000.0;
    let input_secs = (pts - base) as f64 / 48_000.0;
    assert!(
        (secs - input_secs).abs() < 0.05,
        "{secs} s decoded from {input_secs} s"
    );
    let middle = &pcm[48_000..pcm.len() - 48_000];
    let f = tone_frequency(middle, 48_000);
    assert!((f - 440.0).abs() < 2.0, "dominant frequency {f} Hz");
    assert!(rms(middle) > 0.05, "tone level {}", rms(middle));
}
