//! The first look at an HTTP connection's bytes (`could_be_request_line`): refused bytes stay refused as more
//! arrive, and a well-formed request line is never refused.
//! The checks live in `server::fuzzing`; crates/server/tests/corpus.rs replays fuzz/corpus/http_request_line/ on
//! stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = server::fuzzing::request_line(data);
});
