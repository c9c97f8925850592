//! An ICE-TCP connection's bytes (RFC 4571 framing, `webrtc::framing`): never a panic, the same frames however the
//! bytes are cut into reads, frames within the bound, a round trip. The checks live in `server::fuzzing`;
//! crates/server/tests/corpus.rs replays fuzz/corpus/ice_tcp_frames/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = server::fuzzing::ice_tcp_frames(data);
});
