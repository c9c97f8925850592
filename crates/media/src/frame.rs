//! The one frame type that travels through the hub, and the shared, once-encoded form subscribers receive.

use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use flv::FrameClass;

/// What a frame carries: video, audio or script data (the FLV tag type and RTMP message type of its payload).
pub use flv::MediaKind;

/// Index of a kind into per-kind arrays (the cached headers).
pub(crate) fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Script => 0,
        MediaKind::Video => 1,
        MediaKind::Audio => 2,
    }
}

/// One media packet on the hub timeline.
///
/// `payload` is the FLV tag body, which is byte for byte the RTMP message payload, so every output format can be
/// produced from it without the hub knowing any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Milliseconds on the hub timeline (the publisher's timestamps, shifted after a republish so that they stay
    /// monotonic for the subscribers).
    pub timestamp: u32,
    /// Video, audio or script.
    pub kind: MediaKind,
    /// A video picture that starts a GOP (a keyframe that is not a sequence header).
    pub keyframe: bool,
    /// A codec configuration (AVC/HEVC decoder configuration record, AAC AudioSpecificConfig, ...) or a script
    /// frame: kept by the hub and replayed first to every new subscriber.
    pub sequence_header: bool,
    /// The FLV tag body (== the RTMP message payload).
    pub payload: Bytes,
}

impl Frame {
    /// Builds a frame and classifies it (keyframe, sequence header) from its FLV header with
    /// [`FrameClass::of`].
    ///
    /// Script frames count as sequence headers. A payload that does not parse becomes a plain frame (neither
    /// keyframe nor header); this never panics.
    pub fn new(kind: MediaKind, timestamp: u32, payload: Bytes) -> Frame {
        let class = FrameClass::of(kind, &payload);
        let keyframe = class.is_keyframe();
        let sequence_header = matches!(class, FrameClass::SequenceHeader | FrameClass::Script);
        Frame {
            timestamp,
            kind,
            keyframe,
            sequence_header,
            payload,
        }
    }

    /// A video keyframe that starts a GOP (not a sequence header).
    pub(crate) fn is_video_keyframe(&self) -> bool {
        self.kind == MediaKind::Video && self.keyframe && !self.sequence_header
    }
}

/// Which cached encoding of a frame to use (0 = FLV tag, 1 = RTMP chunks, ... as the server assigns them).
///
/// The hub does not know the formats; it only keeps one cached result per slot. Slots at or above
/// [`MAX_ENCODING_SLOTS`] are encoded on every call, without caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodingSlot(pub u8);

/// Number of cached encodings per frame.
pub const MAX_ENCODING_SLOTS: usize = 4;

/// A published frame as every subscriber receives it: one allocation per frame, shared through `Arc`.
///
/// Besides the [`Frame`], it carries the hub's sequence number (consecutive per stream, across republishes),
/// when it was published, and up to [`MAX_ENCODING_SLOTS`] cached encodings, so that N subscribers of the same
/// format cost one encoding and N reference-count increments.
#[derive(Debug)]
pub struct MediaFrame {
    frame: Frame,
    seq: u64,
    offset: u64,
    published_at: Instant,
    unclassified: bool,
    encoded: [OnceLock<Bytes>; MAX_ENCODING_SLOTS],
}

impl MediaFrame {
    pub(crate) fn new(frame: Frame, seq: u64, offset: u64, published_at: Instant) -> MediaFrame {
        MediaFrame {
            frame,
            seq,
            offset,
            published_at,
            unclassified: false,
            encoded: Default::default(),
        }
    }

    /// Marks a video frame whose header the hub could not read (see [`MediaFrame::is_unclassified`]).
    pub(crate) fn with_unclassified(mut self, unclassified: bool) -> MediaFrame {
        self.unclassified = unclassified;
        self
    }

    /// A copy with another timestamp (same sequence number): used for the rare rewritten frames (fast start,
    /// re-sent headers). Its encodings are not shared with the original.
    pub(crate) fn restamped(&self, timestamp: u32) -> MediaFrame {
        let frame = Frame {
            timestamp,
            ..self.frame.clone()
        };
        MediaFrame::new(frame, self.seq, self.offset, self.published_at)
            .with_unclassified(self.unclassified)
    }

    /// A video frame the hub cannot classify (unknown or unsupported header): it has no keyframes, so readers
    /// may start and resume at any such frame rather than wait forever.
    pub(crate) fn is_unclassified(&self) -> bool {
        self.unclassified
    }

    /// The frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// When the publisher pushed it.
    pub fn published_at(&self) -> Instant {
        self.published_at
    }

    /// The hub's sequence number: consecutive for the frames of a stream, so a gap tells how many were skipped.
    /// Re-sent sequence headers keep the number they were first published with.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Payload bytes published on this stream before this frame (the running byte offset used for lag bounds).
    pub fn byte_offset(&self) -> u64 {
        self.offset
    }

    /// The bytes of this frame in the format of `slot`: the first caller runs `encode`, later callers get a
    /// clone of its result (a reference-count increment).
    pub fn encoded(&self, slot: EncodingSlot, encode: impl FnOnce(&Frame) -> Bytes) -> Bytes {
        match self.encoded.get(usize::from(slot.0)) {
            Some(cell) => cell.get_or_init(|| encode(&self.frame)).clone(),
            None => encode(&self.frame),
        }
    }

    /// Payload bytes pushed up to and including this frame.
    pub(crate) fn end_offset(&self) -> u64 {
        self.offset + self.frame.payload.len() as u64
    }
}
