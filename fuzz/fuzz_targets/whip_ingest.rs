//! The WHIP ingest's entry point (`webrtc::ingest::Converter`): depacketized H.264 access units and Opus packets,
//! any bytes, become hub frames or are refused, never a panic. The input format and the checks live in
//! `server::fuzzing::whip_ingest`; crates/server/tests/corpus.rs replays fuzz/corpus/whip_ingest/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = server::fuzzing::whip_ingest(data);
});
