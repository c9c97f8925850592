//! FLV in, classic HLS (MPEG-TS) and LL-HLS (fMP4 parts through `mp4::fmp4::Mp4Writer`) out, with playlists.
//! The checks live in `hls::fuzzing`; crates/hls/tests/corpus.rs replays fuzz/corpus/hls_mux/ on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hls::fuzzing::mux(data);
});
