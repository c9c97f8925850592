//! AudioSpecificConfig, ADTS header and audio tag header parsing over arbitrary bytes.
//! Mirrored by crates/flv/tests/corpus.rs, which replays fuzz/corpus/flv_aac/ on stable.
#![no_main]

use flv::aac::{adts_header, AudioSpecificConfig};
use flv::audio::AudioTagInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = AudioSpecificConfig::parse(data) {
        let h = adts_header(&c, data.len());
        assert_eq!(&h[..2], &[0xFF, 0xF1]);
    }
    if let Ok(a) = AudioTagInfo::parse(data) {
        assert!(a.header_len <= data.len());
        let _ = AudioSpecificConfig::parse(&data[a.header_len..]);
    }
});
