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
    assert_eq!(
        (c.chroma_format, c.bit_depth_luma, c.bit_depth_chroma),
        (1, 8, 8)
    );
    assert_eq!(c.nalu_length_size, 4);
    let types: Vec<u8> = c.arrays.iter().map(|a| a.nal_type).collect();
    assert_eq!(types, [32, 33, 34]);
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
    // Saturates instead of wrapping or panicking.
    let h = adts_header(&lc, usize::MAX);
    assert_eq!(
        ((h[3] as usize & 3) << 11) | ((h[4] as usize) << 3) | (h[5] as usize >> 5),
        0x1FFF
    );
}
