//! `connect`, `publish` or `play` with arbitrary AMF0 as the command object and arguments, through a server
//! session after a handshake: every string over `max_field_bytes` (property names and nested values too) is
//! refused with an answer naming it, every other command goes through.
//! The checks live in `rtmp::fuzzing`; crates/rtmp/tests/corpus.rs replays fuzz/corpus/rtmp_command_fields/ on
//! stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rtmp::fuzzing::command_fields(data);
});
