//! The GOP cache: every frame since the last video keyframe, within a bound.

use std::sync::Arc;

use crate::frame::{MediaFrame, MediaKind};

/// Frames since the last keyframe, so that a new subscriber gets a picture at once.
///
/// It holds every frame pushed after the keyframe (audio, and script frames too), so a subscriber replaying it
/// sees the same consecutive sequence numbers as one that was there live. Past its bound it is emptied and
/// stays empty until the next keyframe: a partial GOP without its keyframe is of no use.
#[derive(Debug)]
pub(crate) struct GopCache {
    frames: Vec<Arc<MediaFrame>>,
    bytes: usize,
    valid: bool,
    enabled: bool,
    max_bytes: usize,
    max_frames: usize,
}

impl GopCache {
    pub(crate) fn new(enabled: bool, max_bytes: usize, max_frames: usize) -> GopCache {
        GopCache {
            frames: Vec::new(),
            bytes: 0,
            valid: false,
            enabled,
            max_bytes,
            max_frames,
        }
    }

    /// Records a pushed frame; `keyframe` starts a new GOP.
    pub(crate) fn push(&mut self, frame: &Arc<MediaFrame>, keyframe: bool) {
        if !self.enabled {
            return;
        }
        if keyframe {
            self.clear();
            self.valid = true;
        }
        if !self.valid {
            return;
        }
        self.bytes += frame.frame().payload.len();
        self.frames.push(Arc::clone(frame));
        if self.frames.len() > self.max_frames || self.bytes > self.max_bytes {
            self.invalidate();
        }
    }

    /// Drops the cache until the next keyframe (bound passed, codec changed, new publishing session).
    pub(crate) fn invalidate(&mut self) {
        self.clear();
        self.valid = false;
    }

    fn clear(&mut self) {
        // `clear` keeps the allocation: the steady state pushes without allocating.
        self.frames.clear();
        self.bytes = 0;
    }

    /// The cached GOP, starting with its keyframe; empty if there is none.
    pub(crate) fn frames(&self) -> &[Arc<MediaFrame>] {
        &self.frames
    }

    /// The cached video pictures (no headers, no audio, no script).
    pub(crate) fn video_frames(&self) -> impl Iterator<Item = &Arc<MediaFrame>> {
        self.frames
            .iter()
            .filter(|f| f.frame().kind == MediaKind::Video && !f.frame().sequence_header)
    }
}
