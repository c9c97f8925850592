//! Chunk stream decoding: byte 0 picks how the rest is split into reads; decoded messages must re-encode and decode
//! the same, whatever the split.
//! The checks live in `rtmp::fuzzing`; crates/rtmp/tests/corpus.rs replays fuzz/corpus/rtmp_chunk/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rtmp::fuzzing::chunk(data);
});
