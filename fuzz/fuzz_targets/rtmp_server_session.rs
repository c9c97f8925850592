//! A server session after a valid simple handshake, fed arbitrary chunk stream bytes; its output must be a valid
//! chunk stream.
//! The checks live in `rtmp::fuzzing`; crates/rtmp/tests/corpus.rs replays fuzz/corpus/rtmp_server_session/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rtmp::fuzzing::server_session(data);
});
