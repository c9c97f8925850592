//! The room core over arbitrary message sequences from four connections, with the clock advancing; the core must
//! never panic and always agree with its store. The checks live in `rooms::fuzzing`; crates/rooms/tests/corpus.rs
//! replays fuzz/corpus/rooms_messages/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rooms::fuzzing::messages(data);
});
