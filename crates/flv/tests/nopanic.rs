//! Property tests: no parser panics on random input, and tag bodies and configs survive small mutations.

mod common;

use common::*;
use flv::aac::{adts_header, AudioSpecificConfig};
use flv::audio::AudioTagInfo;
use flv::avc::{nal_units, parse_sps, AvcDecoderConfig};
use flv::hevc::{parse_hevc_sps, HevcDecoderConfig};
use flv::video::VideoTagInfo;
use proptest::prelude::*;

fn mutate(
    mut base: Vec<u8>,
    flips: &[(prop::sample::Index, u8)],
    cut: prop::sample::Index,
) -> Vec<u8> {
    for (i, v) in flips {
        let i = i.index(base.len());
        base[i] ^= v;
    }
    let n = cut.index(base.len() + 1);
    base.truncate(n);
    base
}

fn check_header_lens(data: &[u8]) {
    if let Ok(v) = VideoTagInfo::parse(data) {
        assert!(v.header_len <= data.len());
    }
    if let Ok(a) = AudioTagInfo::parse(data) {
        assert!(a.header_len <= data.len());
    }
}

proptest! {
    #[test]
    fn tag_headers(data in proptest::collection::vec(any::<u8>(), 0..16)) {
        check_header_lens(&data);
    }

    #[test]
    fn avc_random(data in proptest::collection::vec(any::<u8>(), 0..200), len_size in 0u8..6) {
        if let Ok(c) = AvcDecoderConfig::parse(&data) {
            let _ = c.sps_info();
        }
        let _ = parse_sps(&data);
        for n in nal_units(&data, len_size) {
            let _ = n;
        }
    }

    #[test]
    fn avc_mutated(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut: prop::sample::Index,
        which in 0usize..3,
    ) {
        let base = hex([AVCC_540X960, AVCC_1280X720, AVCC_1920X1080_444][which]);
        let data = mutate(base, &flips, cut);
        if let Ok(c) = AvcDecoderConfig::parse(&data) {
            let _ = c.sps_info();
        }
    }

    #[test]
    fn hevc_mutated(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut: prop::sample::Index,
    ) {
        let data = mutate(hex(HVCC_1920X1080), &flips, cut);
        if let Ok(c) = HevcDecoderConfig::parse(&data) {
            let _ = c.sps_info();
        }
        let _ = parse_hevc_sps(&data);
    }

    #[test]
    fn hevc_random(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(c) = HevcDecoderConfig::parse(&data) {
            let _ = c.sps_info();
        }
        let _ = parse_hevc_sps(&data);
    }

    #[test]
    fn aac_random(data in proptest::collection::vec(any::<u8>(), 0..12), len: usize) {
        if let Ok(c) = AudioSpecificConfig::parse(&data) {
            let h = adts_header(&c, len);
            prop_assert_eq!(&h[..2], &[0xFF, 0xF1]);
        }
    }

    #[test]
    fn adts_any_config(object_type: u8, sample_rate: u32, channels: u8, len in 0usize..8000) {
        let h = adts_header(&AudioSpecificConfig { object_type, sample_rate, channels }, len);
        let frame_len = ((h[3] as usize & 3) << 11) | ((h[4] as usize) << 3) | (h[5] as usize >> 5);
        prop_assert_eq!(frame_len, (len + 7).min(0x1FFF));
    }
}
