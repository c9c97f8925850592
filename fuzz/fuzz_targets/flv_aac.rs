//! AudioSpecificConfig, ADTS header and audio tag header parsing over arbitrary bytes.
//! The checks live in `flv::fuzzing`; crates/flv/tests/corpus.rs replays fuzz/corpus/flv_aac/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    flv::fuzzing::aac(data);
});
