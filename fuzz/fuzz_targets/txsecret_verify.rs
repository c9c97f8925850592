//! `txSecret` verification over arbitrary keys, names, queries and clocks: never a panic, and nothing verifies that
//! breaks a rule (eight hex digits, expiry window, the one split of `stream + txTime`). The checks live in
//! `control::fuzzing`; crates/control/tests/corpus.rs replays fuzz/corpus/txsecret_verify/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    control::fuzzing::txsecret_verify(data);
});
