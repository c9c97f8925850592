//! avcC / hvcC records, SPS parsing and SEI extraction over arbitrary bytes.
//! The checks live in `flv::fuzzing`; crates/flv/tests/corpus.rs replays fuzz/corpus/flv_avc/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    flv::fuzzing::avc(data);
});
