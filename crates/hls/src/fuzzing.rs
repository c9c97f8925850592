//! The checks the `hls_mux` fuzz target runs, shared with the corpus replay in `tests/corpus.rs` so that CI
//! replays the corpus on stable through exactly the same code. Not part of the API: it panics when an invariant
//! breaks, which is what a fuzzer looks for.

use bytes::Bytes;
use flv::{FlvDemuxer, MediaKind};

use crate::ll::{render, BlockingRequest, LlConfig, LlSegmenter, LlUris, LlWindow};
use crate::{Segmenter, SegmenterConfig};

const MAX_TAG: usize = 1 << 20;
const WALL: u64 = 1_700_000_000_000;

/// Demuxes `data` as an FLV file and feeds every audio/video tag to the classic segmenter and to the LL-HLS
/// segmenter (so to `mp4::fmp4::Mp4Writer`), with a discontinuity at every script tag; renders both playlists
/// after every completed segment or part. Checks: no panic, windows stay bounded, parts never exceed the part
/// target by more than one frame gap, and every listed segment is non-empty. Returns the number of tags fed.
pub fn mux(data: &[u8]) -> usize {
    let mut demuxer = FlvDemuxer::new(MAX_TAG);
    let _ = demuxer.handle_input(data);
    let config = SegmenterConfig {
        target_duration_ms: 500,
        window: 3,
    };
    let ll_config = LlConfig {
        target_duration_ms: 500,
        part_target_ms: 200,
        window: 3,
    };
    let mut classic = Segmenter::new(config);
    let mut ll = LlSegmenter::new(ll_config);
    let mut n = 0;
    while let Some(tag) = demuxer.poll_tag() {
        n += 1;
        let now = WALL + u64::from(tag.timestamp);
        let kind = tag.tag_type;
        if kind == MediaKind::Script {
            classic.discontinuity();
            ll.discontinuity(now);
            continue;
        }
        let body = Bytes::from(tag.body.to_vec());
        if let Ok(true) = classic.handle_frame(kind, tag.timestamp, &body, now) {
            let window: Vec<_> = classic.segments().cloned().collect();
            assert!(window.len() <= config.window);
            assert!(window
                .iter()
                .all(|s| !s.data.is_empty() && s.duration_ms > 0));
            let _ =
                crate::playlist::render(&window, classic.discontinuity_sequence(), 500, "s/", None);
        }
        if let Ok(true) = ll.handle_frame(kind, tag.timestamp, &body, now) {
            assert!(ll.segments().len() <= ll_config.window);
            let window = LlWindow::of(&ll, false);
            for s in window.segments.iter().chain(window.open.as_ref()) {
                assert!(!s.parts.is_empty() && s.parts.iter().all(|p| !p.data.is_empty()));
            }
            let text = render(
                &window,
                LlUris {
                    prefix: "ll/",
                    query: Some("a=b"),
                },
            );
            assert!(text.starts_with("#EXTM3U\n"));
            let (msn, part) = window.edge();
            let request = BlockingRequest {
                msn,
                part: Some(part as u64),
            };
            assert!(!window.satisfies(request));
            assert!(!window.too_far_ahead(request));
        }
    }
    classic.finish();
    ll.finish(WALL);
    n
}
