//! AMF0 decoding; whatever decodes must re-encode to bytes that decode to the same values.
//! The checks live in `rtmp::fuzzing`; crates/rtmp/tests/corpus.rs replays fuzz/corpus/rtmp_amf0/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rtmp::fuzzing::amf0(data);
});
