//! Hex vectors for the codec configurations, from real encoders (x264, x265, ffmpeg's AAC) and hand-built edge
//! cases: avcC + SPS, hvcC + SPS, AudioSpecificConfig and ADTS.

mod common;

use common::*;
use flv::aac::{adts_header, AudioSpecificConfig};
use flv::avc::{nal_units, parse_sps, AvcDecoderConfig};
use flv::hevc::HevcDecoderConfig;
use flv::FlvError;

#[test]
fn avcc_540x960_x264() {
    let raw = hex(AVCC_540X960);
    let c = AvcDecoderConfig::parse(&raw).unwrap();
    assert_eq!((c.profile, c.compatibility, c.level), (100, 0, 31));
    assert_eq!(c.nalu_length_size, 4);
    assert_eq!((c.sps.len(), c.pps.len()), (1, 1));
    assert_eq!(c.sps[0].len(), 26);
    assert_eq!(&c.pps[0][..], &hex("68ebe3cb22c0")[..]);
    let info = c.sps_info().unwrap();
    // 34 macroblocks = 544 columns, cropped by 4.
    assert_eq!((info.width, info.height), (540, 960));
    assert_eq!((info.profile_idc, info.level_idc), (100, 31));
    assert_eq!(info.fps, Some(25.0));
    // encode() writes the record without the high-profile extension.
    assert_eq!(&c.encode()[..], &raw[..raw.len() - 4]);
    assert_eq!(AvcDecoderConfig::parse(&c.encode()).unwrap(), c);
}

#[test]
fn avcc_720p_and_1080p_cropped() {
    let c = AvcDecoderConfig::parse(&hex(AVCC_1280X720)).unwrap();
    let i = c.sps_info().unwrap();
    assert_eq!((i.width, i.height, i.fps), (1280, 720, Some(25.0)));

    let c = AvcDecoderConfig::parse(&hex(AVCC_1920X1080_444)).unwrap();
    assert_eq!(c.profile, 244);
    let i = c.sps_info().unwrap();
    assert_eq!(
        (i.width, i.height, i.profile_idc, i.level_idc),
        (1920, 1080, 244, 40)
    );
    assert_eq!(i.fps, Some(30.0));
}

#[test]
fn avcc_every_truncation_is_an_error() {
    let raw = hex(AVCC_540X960);
    // Without the 4-byte extension, the record ends after the PPS.
    let core = raw.len() - 4;
    for n in 0..core {
        let e = AvcDecoderConfig::parse(&raw[..n]).unwrap_err();
        assert!(matches!(e, FlvError::Truncated { .. }), "{n}: {e}");
    }
    for n in core..=raw.len() {
        AvcDecoderConfig::parse(&raw[..n]).unwrap();
    }
}

#[test]
fn avcc_bad_fields() {
    let mut raw = hex(AVCC_540X960);
    raw[0] = 2;
    assert!(matches!(
        AvcDecoderConfig::parse(&raw),
        Err(FlvError::BadConfig { .. })
    ));
    let mut raw = hex(AVCC_540X960);
    raw[4] = 0xFE; // lengthSizeMinusOne = 2
    assert!(matches!(
        AvcDecoderConfig::parse(&raw),
        Err(FlvError::BadConfig { .. })
    ));
    // No SPS at all: parses, but has no picture size.
    let c = AvcDecoderConfig::parse(&hex("0164001fffe000")).unwrap();
    assert!(c.sps.is_empty() && c.pps.is_empty());
    assert!(matches!(c.sps_info(), Err(FlvError::BadConfig { .. })));
    // 31 SPS announced, none present.
    assert!(matches!(
        AvcDecoderConfig::parse(&hex("0164001fffff")),
        Err(FlvError::Truncated { .. })
    ));
}

#[test]
fn sps_errors() {
    assert!(matches!(parse_sps(&[]), Err(FlvError::Truncated { .. })));
    // A PPS is not an SPS.
    assert!(matches!(
        parse_sps(&hex("68ebe3cb22c0")),
        Err(FlvError::Sps(_))
    ));
    // A truncated SPS.
    let sps = &hex(AVCC_540X960)[8..8 + 26];
    assert_eq!(parse_sps(sps).unwrap().width, 540);
    for n in 2..10 {
        assert!(parse_sps(&sps[..n]).is_err(), "{n}");
    }
}

/// The x264 SPS (25 fps) with its VUI `num_units_in_tick` and `time_scale` replaced, emulation prevention
/// redone: a way to get an SPS that declares a nonsensical frame rate.
fn sps_with_timing(num_units_in_tick: u32, time_scale: u32) -> Vec<u8> {
    let sps = &hex(AVCC_540X960)[8..8 + 26];
    let rbsp = h264_reader::rbsp::decode_nal(sps).unwrap().into_owned();
    let mut bits: Vec<bool> = rbsp
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1))
        .collect();
    let read = |bits: &[bool], at: usize| {
        bits[at..at + 32]
            .iter()
            .fold(0u32, |a, &b| a << 1 | u32::from(b))
    };
    // 25 fps: the field pair (n, 50 n), found at its bit offset.
    let at = (0..bits.len() - 64)
        .find(|&i| {
            read(&bits, i) != 0 && u64::from(read(&bits, i + 32)) == 50 * u64::from(read(&bits, i))
        })
        .expect("the x264 SPS has VUI timing for 25 fps");
    for (i, v) in [(at, num_units_in_tick), (at + 32, time_scale)] {
        for k in 0..32 {
            bits[i + k] = v >> (31 - k) & 1 == 1;
        }
    }
    let mut nal = vec![sps[0]];
    let mut zeros = 0;
    for byte in bits
        .chunks(8)
        .map(|c| c.iter().fold(0u8, |a, &b| a << 1 | u8::from(b)))
    {
        if zeros >= 2 && byte <= 3 {
            nal.push(3);
            zeros = 0;
        }
        nal.push(byte);
        zeros = if byte == 0 { zeros + 1 } else { 0 };
    }
    nal
}

/// A frame rate is reported only when it is a positive finite number: `time_scale` 0 (0 fps) and
/// `num_units_in_tick` 0 (a division by zero) give none, and the rest of the SPS still parses.
#[test]
fn sps_frame_rate_must_be_positive_and_finite() {
    assert_eq!(parse_sps(&sps_with_timing(1, 50)).unwrap().fps, Some(25.0));
    assert_eq!(
        parse_sps(&sps_with_timing(1001, 60_000))
            .unwrap()
            .fps
            .map(|f| (f * 1000.0).round()),
        Some(29_970.0)
    );
    for (n, t) in [(1, 0), (0, 50), (0, 0)] {
        let info = parse_sps(&sps_with_timing(n, t)).unwrap();
        assert_eq!(
            (info.width, info.height, info.fps),
            (540, 960, None),
            "{n}/{t}"
        );
    }
}

#[test]
fn nal_unit_iteration() {
    let data = hex("00000002 6588 00000001 06 0000000a 41");
    let mut it = nal_units(&data, 4);
    assert_eq!(it.next().unwrap().unwrap(), &[0x65, 0x88]);
    assert_eq!(it.next().unwrap().unwrap(), &[0x06]);
    assert!(matches!(
        it.next(),
        Some(Err(FlvError::Truncated {
            what: "NAL unit",
            need: 10,
            got: 1
        }))
    ));
    assert!(it.next().is_none());

    let data = hex("0002 6588 0001 06");
    let two: Vec<_> = nal_units(&data, 2).collect::<Result<_, _>>().unwrap();
    assert_eq!(two, [&[0x65, 0x88][..], &[0x06][..]]);
    assert!(matches!(
        nal_units(&hex("0000"), 4).next(),
        Some(Err(FlvError::Truncated { .. }))
    ));
    assert!(matches!(
        nal_units(&hex("00"), 0).next(),
        Some(Err(FlvError::BadConfig { .. }))
    ));
    assert!(matches!(
        nal_units(&hex("00"), 5).next(),
        Some(Err(FlvError::BadConfig { .. }))
    ));
    assert!(nal_units(&[], 4).next().is_none());
}

#[test]
fn hvcc_1920x1080_x265() {
    let raw = hex(HVCC_1920X1080);
    let c = HevcDecoderConfig::parse(&raw).unwrap();
    assert_eq!((c.profile_idc, c.level_idc, c.tier_high), (1, 120, false));
    assert_eq!(c.profile_space, 0);
    // general_profile_space is the top two bits of byte 1, above the tier flag and the profile.
    let mut spaced = raw.clone();
    spaced[1] |= 0b1010_0000;
    let s = HevcDecoderConfig::parse(&spaced).unwrap();
    assert_eq!((s.profile_space, s.tier_high, s.profile_idc), (2, true, 1));
    assert_eq!(
        (c.chroma_format, c.bit_depth_luma, c.bit_depth_chroma),
        (1, 8, 8)
    );
    assert_eq!(c.nalu_length_size, 4);
    let types: Vec<u8> = c.arrays.iter().map(|a| a.nal_type).collect();
    assert_eq!(types, [32, 33, 34]);
    // x265 leaves array_completeness at 0; the bit is read from the top of each array's first byte.
    assert!(c.arrays.iter().all(|a| !a.complete));
    let mut flagged = raw.clone();
    assert_eq!(flagged[23], 32, "the VPS array's header byte");
    flagged[23] |= 0x80;
    let f = HevcDecoderConfig::parse(&flagged).unwrap();
    let flags: Vec<(u8, bool)> = f.arrays.iter().map(|a| (a.nal_type, a.complete)).collect();
    assert_eq!(flags, [(32, true), (33, false), (34, false)]);
    let i = c.sps_info().unwrap();
    assert_eq!(
        (
            i.width,
            i.height,
            i.profile_idc,
            i.level_idc,
            i.chroma_format
        ),
        (1920, 1080, 1, 120, 1)
    );
    for n in 0..raw.len() {
        assert!(HevcDecoderConfig::parse(&raw[..n]).is_err(), "{n}");
    }
}

#[test]
fn aac_configs() {
    let c = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
    assert_eq!(
        c,
        AudioSpecificConfig {
            object_type: 2,
            sample_rate: 44100,
            channels: 2
        }
    );
    let c = AudioSpecificConfig::parse(&[0x11, 0x88]).unwrap();
    assert_eq!(
        c,
        AudioSpecificConfig {
            object_type: 2,
            sample_rate: 48000,
            channels: 1
        }
    );
    // ffmpeg's encoder on a 44100 Hz mono sine (with a GASpecificConfig tail it ignores).
    let c = AudioSpecificConfig::parse(&hex("120856e500")).unwrap();
    assert_eq!((c.sample_rate, c.channels), (44100, 1));
    // Explicit HE-AAC: SBR object 5 at 24000 Hz core, extension 48000 Hz, core AAC LC.
    let c = AudioSpecificConfig::parse(&hex("2b1188")).unwrap();
    assert_eq!(
        c,
        AudioSpecificConfig {
            object_type: 2,
            sample_rate: 24000,
            channels: 2
        }
    );
    // Escape object type 31 + 6 bits (32) and explicit frequency index 15 (16000 Hz).
    let c = AudioSpecificConfig::parse(&hex("f81e007d0020")).unwrap();
    assert_eq!(
        c,
        AudioSpecificConfig {
            object_type: 32,
            sample_rate: 16000,
            channels: 1
        }
    );
    // Escape to object type 42 (USAC), 44100 Hz stereo.
    assert_eq!(
        AudioSpecificConfig::parse(&hex("f94840"))
            .unwrap()
            .object_type,
        42
    );
    // 7.1
    assert_eq!(
        AudioSpecificConfig::parse(&[0x11, 0xB8]).unwrap().channels,
        8
    );
}

#[test]
fn aac_errors() {
    assert!(matches!(
        AudioSpecificConfig::parse(&[]),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        AudioSpecificConfig::parse(&[0x12]),
        Err(FlvError::Truncated { .. })
    ));
    // Frequency index 13 is reserved.
    assert!(matches!(
        AudioSpecificConfig::parse(&[0x16, 0x90]),
        Err(FlvError::BadConfig { .. })
    ));
    // Object type 0.
    assert!(matches!(
        AudioSpecificConfig::parse(&[0x02, 0x10]),
        Err(FlvError::BadConfig { .. })
    ));
    // Explicit frequency cut short.
    assert!(matches!(
        AudioSpecificConfig::parse(&hex("f81e00")),
        Err(FlvError::Truncated { .. })
    ));
}

#[test]
fn adts_headers() {
    let lc = AudioSpecificConfig {
        object_type: 2,
        sample_rate: 44100,
        channels: 2,
    };
    // frame length 371 + 7 = 378 = 0x17A
    assert_eq!(
        adts_header(&lc, 371),
        [0xFF, 0xF1, 0x50, 0x80, 0x2F, 0x5F, 0xFC]
    );
    let mono48 = AudioSpecificConfig {
        object_type: 2,
        sample_rate: 48000,
        channels: 1,
    };
    // frame length 0x100: profile 1, index 3, channel config 1
    assert_eq!(
        adts_header(&mono48, 0x100 - 7),
        [0xFF, 0xF1, 0x4C, 0x40, 0x20, 0x1F, 0xFC]
    );
    // The ADTS profile is the object type minus one for the four MPEG-2 profiles (Main, LC, SSR, LTP); others,
    // such as HE-AAC's SBR (5), are written as LC.
    for (object_type, profile) in [(1, 0), (2, 1), (3, 2), (4, 3), (5, 1), (29, 1), (42, 1)] {
        let c = AudioSpecificConfig { object_type, ..lc };
        assert_eq!(
            adts_header(&c, 100)[2] >> 6,
            profile,
            "object type {object_type}"
        );
    }
    // Saturates instead of wrapping or panicking.
    let h = adts_header(&lc, usize::MAX);
    assert_eq!(
        ((h[3] as usize & 3) << 11) | ((h[4] as usize) << 3) | (h[5] as usize >> 5),
        0x1FFF
    );
}

/// An explicit frequency (index 15) maps to the nearest standard index for ADTS; halfway between two standard
/// rates, the higher rate (the lower index) wins.
#[test]
fn sample_rate_index_is_exact_or_nearest() {
    let at = |sample_rate| {
        AudioSpecificConfig {
            object_type: 2,
            sample_rate,
            channels: 2,
        }
        .sample_rate_index()
    };
    assert_eq!(at(44100), 4);
    assert_eq!(at(7350), 12);
    assert_eq!(at(44000), 4);
    assert_eq!(at(1), 12);
    assert_eq!(at(1_000_000), 0);
    // Halfway: 96000/88200, 48000/44100, 8000/7350.
    assert_eq!(at(92100), 0);
    assert_eq!(at(46050), 3);
    assert_eq!(at(7675), 11);
}
