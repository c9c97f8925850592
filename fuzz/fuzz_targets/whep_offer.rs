//! The WHEP endpoint's SDP entry point (`webrtc::offer::negotiate`): any bytes are answered or refused with a
//! status, never a panic. The checks live in `server::fuzzing`; crates/server/tests/corpus.rs replays
//! fuzz/corpus/whep_offer/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = server::fuzzing::whep_offer(data);
});
