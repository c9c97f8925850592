//! FlvDemuxer over arbitrary bytes (whole, then in two halves; with and without the file header), then the
//! audio/video tag header parsers and the codec parsers on every tag it yields.
//! The checks live in `flv::fuzzing`; crates/flv/tests/corpus.rs replays fuzz/corpus/flv_tag/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    flv::fuzzing::tag(data);
});
