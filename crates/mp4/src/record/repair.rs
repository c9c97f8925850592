//! Where a recording cut by a crash stops being whole: the recorders write each unit (an FLV tag, an MP4
//! fragment) with one `write_all`, so a process killed mid-write leaves at most one partial unit at the end. The
//! server cuts it off when it starts again, so the file ends on a unit boundary, as a cleanly closed one does.
//!
//! Only box and tag headers are read (seeking over the bodies), so a long recording is checked in milliseconds.

use std::io::{self, ErrorKind, Read, Seek, SeekFrom};

/// The whole part of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole {
    /// Bytes from the start that hold complete units; cut the file there.
    pub len: u64,
    /// Milliseconds between the first and the last media timestamp in that part, when the format tells cheaply
    /// (FLV: from the tag headers); `None` for fragmented MP4.
    pub duration_ms: Option<u64>,
}

/// The whole part of an FLV file: the header and every complete tag (header, body and trailing size).
pub fn flv_whole<R: Read + Seek>(mut r: R) -> io::Result<Whole> {
    let file_len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let mut header = [0u8; 9];
    if !read_full(&mut r, &mut header)? || &header[..3] != b"FLV" {
        return Ok(Whole {
            len: 0,
            duration_ms: None,
        });
    }
    let data_offset = u64::from(u32::from_be_bytes([
        header[5], header[6], header[7], header[8],
    ]));
    // The header and the first (zero) previous-tag size.
    let mut pos = data_offset.max(9) + 4;
    if pos > file_len {
        return Ok(Whole {
            len: 0,
            duration_ms: None,
        });
    }
    let (mut first, mut last) = (None::<u32>, 0u32);
    loop {
        let mut tag = [0u8; 11];
        r.seek(SeekFrom::Start(pos))?;
        if !read_full(&mut r, &mut tag)? {
            break;
        }
        let size = u64::from(u32::from_be_bytes([0, tag[1], tag[2], tag[3]]));
        let end = pos + 11 + size + 4;
        if end > file_len {
            break;
        }
        let ts = u32::from_be_bytes([tag[7], tag[4], tag[5], tag[6]]);
        // Audio and video tags; script data (onMetaData) carries no media time.
        if matches!(tag[0] & 0x1f, 8 | 9) {
            first.get_or_insert(ts);
            last = last.max(ts);
        }
        pos = end;
    }
    Ok(Whole {
        len: pos,
        duration_ms: first.map(|f| u64::from(last.saturating_sub(f))),
    })
}

/// The whole part of a fragmented MP4 file: every complete top-level box, except a `moof` whose `mdat` is not
/// complete (a fragment is its `moof` and its `mdat`).
pub fn fmp4_whole<R: Read + Seek>(mut r: R) -> io::Result<Whole> {
    let file_len = r.seek(SeekFrom::End(0))?;
    let (mut pos, mut whole) = (0u64, 0u64);
    loop {
        r.seek(SeekFrom::Start(pos))?;
        let mut head = [0u8; 8];
        if !read_full(&mut r, &mut head)? {
            break;
        }
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let size = match size32 {
            // A 64-bit size follows the type.
            1 => {
                let mut large = [0u8; 8];
                if !read_full(&mut r, &mut large)? {
                    break;
                }
                u64::from_be_bytes(large)
            }
            // 0 means "to the end of the file": only a final box being written has it, never a complete one here.
            0 => break,
            n => u64::from(n),
        };
        if size < 8 || pos.saturating_add(size) > file_len {
            break;
        }
        pos += size;
        if &head[4..8] != b"moof" {
            whole = pos;
        }
    }
    Ok(Whole {
        len: whole,
        duration_ms: None,
    })
}

/// Fills `buf`; `false` when the input ends first.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use bytes::Bytes;
    use flv::MediaKind;

    use super::*;
    use crate::fmp4::WriterConfig;
    use crate::record::{FlvRecorder, Fmp4Recorder};

    /// AAC LC 44.1 kHz stereo sequence header, then raw frames (FLV audio tag bodies).
    fn aac_header() -> Bytes {
        Bytes::from_static(&[0xaf, 0x00, 0x12, 0x10])
    }
    fn aac_frame() -> Bytes {
        Bytes::from_static(&[0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c])
    }

    #[test]
    fn flv_cut_anywhere_keeps_the_complete_tags() {
        let mut rec = FlvRecorder::new(Vec::new()).unwrap();
        rec.write_frame(MediaKind::Audio, 0, &aac_header()).unwrap();
        let mut ends = Vec::new();
        for i in 0..10u32 {
            rec.write_frame(MediaKind::Audio, i * 23, &aac_frame())
                .unwrap();
            ends.push(rec.bytes_written());
        }
        let file = rec.finish().unwrap();
        let full = flv_whole(Cursor::new(&file)).unwrap();
        assert_eq!(full.len, file.len() as u64);
        assert_eq!(full.duration_ms, Some(9 * 23));
        for cut in 0..file.len() {
            let whole = flv_whole(Cursor::new(&file[..cut])).unwrap();
            assert!(whole.len <= cut as u64);
            // The cut keeps every tag that was complete before it.
            let complete = ends.iter().filter(|&&e| e <= cut as u64).max();
            if let Some(&e) = complete {
                assert!(whole.len >= e, "cut {cut}: kept {} < {e}", whole.len);
            }
        }
        assert_eq!(flv_whole(Cursor::new(b"not flv")).unwrap().len, 0);
    }

    #[test]
    fn fmp4_cut_anywhere_ends_on_a_fragment() {
        let mut rec = Fmp4Recorder::new(Vec::new(), WriterConfig::default());
        rec.write_frame(MediaKind::Audio, 0, &aac_header()).unwrap();
        for i in 0..200u32 {
            rec.write_frame(MediaKind::Audio, i * 23, &aac_frame())
                .unwrap();
        }
        let file = rec.finish().unwrap();
        let full = fmp4_whole(Cursor::new(&file)).unwrap();
        assert_eq!(full.len, file.len() as u64);
        for cut in (0..file.len()).step_by(7) {
            let whole = fmp4_whole(Cursor::new(&file[..cut])).unwrap();
            assert!(whole.len <= cut as u64);
            // What is kept reads again as whole: it ends on a box boundary that is not a lone moof.
            let again = fmp4_whole(Cursor::new(&file[..whole.len as usize])).unwrap();
            assert_eq!(again.len, whole.len, "cut {cut}");
        }
    }
}
