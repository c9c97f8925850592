//! [`FlvRecorder`]: an FLV file written tag by tag.

use std::io::Write;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flv::{encode_header, encode_tag, FrameClass, MediaKind, MAX_TAG_BODY};

use crate::error::RecordError;

/// Writes frames as an FLV file: the header first, then each frame as one complete tag in a single
/// `write_all`.
///
/// Between two calls the file is a valid FLV file; a process killed during a call leaves at most one partial
/// tag at the end, which FLV readers skip. Timestamps are rebased so that each file starts at 0. The recorder
/// keeps the last `onMetaData` and sequence headers and writes them at the start of every file after a
/// [`rotate`](Self::rotate), so each file plays on its own.
///
/// The sink is written directly: wrap a `File` in a `BufWriter` only if losing the buffer on a crash is
/// acceptable.
#[derive(Debug)]
pub struct FlvRecorder<W: Write> {
    out: W,
    /// Script, video and audio configuration tags, replayed at the start of each new file.
    headers: [Option<Bytes>; 3],
    first_ms: Option<u32>,
    last_ms: u32,
    bytes: u64,
    buf: BytesMut,
}

impl<W: Write> FlvRecorder<W> {
    /// Starts a file on `out` by writing the FLV header (announcing audio and video).
    pub fn new(mut out: W) -> Result<Self, RecordError> {
        let header = encode_header(true, true);
        out.write_all(&header)?;
        out.flush()?;
        Ok(Self {
            out,
            headers: [None, None, None],
            first_ms: None,
            last_ms: 0,
            bytes: header.len() as u64,
            buf: BytesMut::new(),
        })
    }

    /// Appends one frame as a tag. Sequence headers and `onMetaData` are also remembered for later files.
    ///
    /// A tag header that does not parse is still written (FLV does not care), but not remembered.
    pub fn write_frame(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &Bytes,
    ) -> Result<(), RecordError> {
        if payload.len() > MAX_TAG_BODY {
            return Err(RecordError::TagTooLarge {
                size: payload.len(),
            });
        }
        let slot = match (kind, FrameClass::of(kind, payload)) {
            (MediaKind::Script, _) => Some(0),
            (MediaKind::Video, FrameClass::SequenceHeader) => Some(1),
            (MediaKind::Audio, FrameClass::SequenceHeader) => Some(2),
            _ => None,
        };
        let is_header = slot.is_some();
        if let Some(slot) = slot {
            self.headers[slot] = Some(payload.clone());
        }
        // Configuration tags are written at 0 so a new file always begins with them; media is rebased to the
        // first media frame of the file.
        let ts = if is_header {
            0
        } else {
            let first = *self.first_ms.get_or_insert(timestamp);
            // Wrapping difference: survives the 32-bit wrap-around. A frame slightly older than the file's
            // first one (interleaving) reads as a huge value; clamp it to 0 instead.
            let ts = match timestamp.wrapping_sub(first) {
                d if d > i32::MAX as u32 => 0,
                d => d,
            };
            self.last_ms = self.last_ms.max(ts);
            ts
        };
        self.write_tag(kind, ts, payload)
    }

    /// Milliseconds of media in the current file.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(u64::from(self.last_ms))
    }

    /// Bytes written to the current file.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// The current file holds at least `max` of media: rotate at the next keyframe (for audio-only streams,
    /// at the next frame).
    pub fn should_rotate(&self, max: Duration) -> bool {
        self.first_ms.is_some() && self.duration() >= max
    }

    /// Closes the current file and continues on `next`: writes the FLV header and the remembered
    /// configuration tags there. Returns the old sink. Call it right before writing a keyframe.
    pub fn rotate(&mut self, next: W) -> Result<W, RecordError> {
        self.out.flush()?;
        let old = std::mem::replace(&mut self.out, next);
        let header = encode_header(true, true);
        self.out.write_all(&header)?;
        self.bytes = header.len() as u64;
        self.first_ms = None;
        self.last_ms = 0;
        let headers = self.headers.clone();
        for (tag, kind) in
            headers
                .iter()
                .zip([MediaKind::Script, MediaKind::Video, MediaKind::Audio])
        {
            if let Some(body) = tag {
                self.write_tag(kind, 0, body)?;
            }
        }
        Ok(old)
    }

    /// Flushes and returns the sink.
    pub fn finish(mut self) -> Result<W, RecordError> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_tag(&mut self, kind: MediaKind, ts: u32, body: &[u8]) -> Result<(), RecordError> {
        self.buf.clear();
        // Cannot panic: bodies over MAX_TAG_BODY are refused in write_frame, and remembered headers passed it.
        encode_tag(&mut self.buf, kind, ts, body);
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }
}
