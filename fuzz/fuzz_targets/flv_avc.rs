//! avcC / hvcC records, SPS parsing and SEI extraction over arbitrary bytes.
//! Mirrored by crates/flv/tests/corpus.rs, which replays fuzz/corpus/flv_avc/ on stable.
#![no_main]

use flv::avc::{nal_units, parse_sps, AvcDecoderConfig};
use flv::hevc::{parse_hevc_sps, HevcDecoderConfig};
use flv::sei::{extract_sei, extract_sei_for, SeiCodec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = AvcDecoderConfig::parse(data) {
        let _ = c.sps_info();
        // What parses re-encodes to the same record.
        assert_eq!(AvcDecoderConfig::parse(&c.encode()).as_ref(), Ok(&c));
    }
    if let Ok(c) = HevcDecoderConfig::parse(data) {
        let _ = c.sps_info();
    }
    let _ = parse_sps(data);
    let _ = parse_hevc_sps(data);
    // Length-prefixed NAL units: SPS go to the SPS parsers, and SEI are extracted.
    for nal in nal_units(data, 4).flatten() {
        let _ = parse_sps(nal);
        let _ = parse_hevc_sps(nal);
    }
    let _ = extract_sei(data, 4);
    let _ = extract_sei_for(SeiCodec::Hevc, data, 4);
});
