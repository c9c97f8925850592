//! [`FlvRecorder`]: an FLV file written tag by tag.

use std::io::{Seek, SeekFrom, Write};
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
/// The source's `onMetaData` is kept, except for its `duration` and `filesize`, which describe the source (a
/// pushed file of 60 s, say) and not this file: they are written as 0, which players and ffprobe read as unknown
/// (ffprobe then takes the duration from the last tag), and on a seekable sink
/// [`write_final_metadata`](Self::write_final_metadata) fills in the real values when the file is complete.
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
    /// Where the current file's `onMetaData` holds its duration and file size (the offsets of their 8-byte
    /// numbers), filled in by [`write_final_metadata`](Self::write_final_metadata).
    meta_numbers: Vec<(u64, MetaNumber)>,
}

/// A number of `onMetaData` that is about the file, not the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetaNumber {
    /// `duration`, seconds.
    Duration,
    /// `filesize`, bytes.
    FileSize,
}

impl MetaNumber {
    /// The AMF0 bytes before the value: the key's length and name, and the number marker (0).
    fn pattern(self) -> &'static [u8] {
        match self {
            MetaNumber::Duration => b"\x00\x08duration\x00",
            MetaNumber::FileSize => b"\x00\x08filesize\x00",
        }
    }
}

/// Where in a script tag body the 8-byte value of each of `duration` and `filesize` starts (the first occurrence:
/// `onMetaData`'s own properties come before any nested object's).
fn meta_number_offsets(body: &[u8]) -> Vec<(usize, MetaNumber)> {
    let mut found = Vec::new();
    for what in [MetaNumber::Duration, MetaNumber::FileSize] {
        let pattern = what.pattern();
        if let Some(at) = body.windows(pattern.len()).position(|w| w == pattern) {
            let value = at + pattern.len();
            if value + 8 <= body.len() {
                found.push((value, what));
            }
        }
    }
    found
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
            meta_numbers: Vec::new(),
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
        self.meta_numbers.clear();
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
        if kind == MediaKind::Script {
            // The body follows the 11-byte tag header.
            const TAG_HEADER: usize = 11;
            self.meta_numbers.clear();
            for (at, what) in meta_number_offsets(body) {
                let at = TAG_HEADER + at;
                self.buf[at..at + 8].copy_from_slice(&0f64.to_be_bytes());
                self.meta_numbers.push((self.bytes + at as u64, what));
            }
        }
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }
}

impl<W: Write + Seek> FlvRecorder<W> {
    /// Writes the current file's real duration and size into its `onMetaData` (where the source's had them), and
    /// goes back to the end. Call it when the file is complete: before [`rotate`](Self::rotate) and
    /// [`finish`](Self::finish).
    pub fn write_final_metadata(&mut self) -> Result<(), RecordError> {
        if self.meta_numbers.is_empty() {
            return Ok(());
        }
        for (at, what) in &self.meta_numbers {
            let value = match what {
                MetaNumber::Duration => f64::from(self.last_ms) / 1000.0,
                // Exact up to 2^53 bytes.
                MetaNumber::FileSize => self.bytes as f64,
            };
            self.out.seek(SeekFrom::Start(*at))?;
            self.out.write_all(&value.to_be_bytes())?;
        }
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// `onMetaData` as an encoder writes it: a string, then an ECMA array of (key, number).
    fn metadata(entries: &[(&str, f64)]) -> Bytes {
        let mut b = vec![2u8, 0, 10];
        b.extend_from_slice(b"onMetaData");
        b.push(8);
        b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for (k, v) in entries {
            b.extend_from_slice(&(k.len() as u16).to_be_bytes());
            b.extend_from_slice(k.as_bytes());
            b.push(0);
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&[0, 0, 9]);
        Bytes::from(b)
    }

    fn number_after(file: &[u8], key: &str) -> f64 {
        let mut pattern = (key.len() as u16).to_be_bytes().to_vec();
        pattern.extend_from_slice(key.as_bytes());
        pattern.push(0);
        let at = file
            .windows(pattern.len())
            .position(|w| w == pattern.as_slice())
            .unwrap_or_else(|| panic!("no {key}"))
            + pattern.len();
        f64::from_be_bytes(file[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn the_source_duration_and_size_are_replaced_by_the_files_own() {
        let meta = metadata(&[("duration", 60.0), ("width", 540.0), ("filesize", 9e6)]);
        let mut rec = FlvRecorder::new(Cursor::new(Vec::new())).unwrap();
        rec.write_frame(MediaKind::Script, 0, &meta).unwrap();
        // Audio frames (not sequence headers: AAC raw, packet type 1) over 8 s.
        for i in 0..=80u32 {
            rec.write_frame(
                MediaKind::Audio,
                1000 + i * 100,
                &Bytes::from_static(&[0xaf, 1, 0x21]),
            )
            .unwrap();
        }
        // Until the file is complete, the numbers read as unknown.
        let written = rec.out.get_ref().clone();
        assert_eq!(number_after(&written, "duration"), 0.0);
        assert_eq!(number_after(&written, "filesize"), 0.0);
        assert_eq!(number_after(&written, "width"), 540.0);
        rec.write_final_metadata().unwrap();
        let file = rec.finish().unwrap().into_inner();
        assert_eq!(number_after(&file, "duration"), 8.0);
        assert_eq!(number_after(&file, "filesize"), file.len() as f64);
        assert_eq!(
            file.len(),
            written.len(),
            "patched in place, nothing appended"
        );
    }

    #[test]
    fn each_file_after_a_rotation_gets_its_own_numbers() {
        let meta = metadata(&[("duration", 60.0)]);
        let mut rec = FlvRecorder::new(Cursor::new(Vec::new())).unwrap();
        rec.write_frame(MediaKind::Script, 0, &meta).unwrap();
        let frame = Bytes::from_static(&[0xaf, 1, 0x21]);
        rec.write_frame(MediaKind::Audio, 0, &frame).unwrap();
        rec.write_frame(MediaKind::Audio, 3000, &frame).unwrap();
        rec.write_final_metadata().unwrap();
        let first = rec.rotate(Cursor::new(Vec::new())).unwrap().into_inner();
        rec.write_frame(MediaKind::Audio, 4000, &frame).unwrap();
        rec.write_frame(MediaKind::Audio, 5000, &frame).unwrap();
        rec.write_final_metadata().unwrap();
        let second = rec.finish().unwrap().into_inner();
        assert_eq!(number_after(&first, "duration"), 3.0);
        assert_eq!(number_after(&second, "duration"), 1.0);
    }
}
