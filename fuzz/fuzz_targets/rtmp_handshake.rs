//! Handshake parsing on both sides: the input is what a peer sends first (C0+C1+C2 to a server, S0+S1+S2 to a
//! client), fed whole and in pieces.
//! The checks live in `rtmp::fuzzing`; crates/rtmp/tests/corpus.rs replays fuzz/corpus/rtmp_handshake/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rtmp::fuzzing::handshake(data);
});
