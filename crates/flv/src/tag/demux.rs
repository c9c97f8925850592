//! Sans-IO streaming FLV reader.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::{FILE_HEADER_LEN, TAG_HEADER_LEN};
use crate::error::FlvError;
use crate::kind::MediaKind;

/// Largest DataOffset we skip over in a file header; real files use 9.
const MAX_DATA_OFFSET: u32 = 1024;

/// Flags of the FLV file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlvHeader {
    /// The TypeFlagsAudio bit.
    pub has_audio: bool,
    /// The TypeFlagsVideo bit.
    pub has_video: bool,
}

/// One demuxed FLV tag. `body` shares the demuxer's buffer (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Audio, video or script.
    pub tag_type: MediaKind,
    /// Milliseconds: the 24-bit timestamp with the extended byte as bits 24..32.
    pub timestamp: u32,
    /// The tag data: an audio/video packet as carried in RTMP, or AMF0 script data.
    pub body: Bytes,
}

#[derive(Debug)]
enum State {
    /// Waiting for the 9-byte file header (then its DataOffset padding and PreviousTagSize0).
    FileHeader,
    /// Skipping `skip` bytes of header padding, then reading PreviousTagSize0.
    PreviousTagSize0 { skip: usize },
    /// Reading tags.
    Tags,
    /// A fatal error happened; every later input returns it again.
    Failed(FlvError),
}

/// Sans-IO FLV reader: feed bytes in any split with [`handle_input`](Self::handle_input), take tags out with
/// [`poll_tag`](Self::poll_tag) until it returns `None`.
///
/// Checks the `FLV` signature and version, refuses a tag whose declared size exceeds `max_tag_size` as soon as
/// its header arrives (before buffering its body), and checks each PreviousTagSize. Unknown tag types and tags
/// with the filter (encryption) bit are errors unless [`skip_unknown`](Self::skip_unknown) is set. After an error
/// the demuxer is dead: tags completed before the error can still be polled, and every later `handle_input`
/// returns [`FlvError::Failed`].
///
/// Buffered bytes are bounded by one tag (`max_tag_size + 15`) plus what a single `handle_input` call passes in.
#[derive(Debug)]
pub struct FlvDemuxer {
    max_tag_size: usize,
    skip_unknown: bool,
    buf: BytesMut,
    state: State,
    header: Option<FlvHeader>,
    ready: VecDeque<Tag>,
}

impl FlvDemuxer {
    /// A demuxer for a whole FLV stream (file header first) whose tag bodies are at most `max_tag_size` bytes.
    pub fn new(max_tag_size: usize) -> Self {
        Self {
            max_tag_size,
            skip_unknown: false,
            buf: BytesMut::new(),
            state: State::FileHeader,
            header: None,
            ready: VecDeque::new(),
        }
    }

    /// A demuxer for a bare sequence of tags, each followed by its PreviousTagSize, without the file header: the
    /// layout of an RTMP aggregate message body.
    pub fn without_file_header(max_tag_size: usize) -> Self {
        let mut d = Self::new(max_tag_size);
        d.state = State::Tags;
        d
    }

    /// Skip tags with an unknown type or the filter bit set instead of failing on them.
    pub fn skip_unknown(mut self, skip: bool) -> Self {
        self.skip_unknown = skip;
        self
    }

    /// The file header flags, once the header has been read.
    pub fn header(&self) -> Option<FlvHeader> {
        self.header
    }

    /// Bytes received but not yet part of a polled or queued tag.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes from the stream. Parses every tag they complete; take them with [`poll_tag`](Self::poll_tag).
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), FlvError> {
        if let State::Failed(e) = &self.state {
            return Err(FlvError::Failed(Box::new(e.clone())));
        }
        self.buf.extend_from_slice(data);
        match self.parse() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.state = State::Failed(e.clone());
                self.buf = BytesMut::new();
                Err(e)
            }
        }
    }

    /// The next complete tag, if any.
    pub fn poll_tag(&mut self) -> Option<Tag> {
        self.ready.pop_front()
    }

    fn parse(&mut self) -> Result<(), FlvError> {
        loop {
            match self.state {
                State::FileHeader => {
                    if self.buf.len() < FILE_HEADER_LEN {
                        // Fail early on a wrong signature rather than waiting for 9 bytes.
                        check_signature_prefix(&self.buf)?;
                        return Ok(());
                    }
                    let h = &self.buf[..FILE_HEADER_LEN];
                    check_signature_prefix(h)?;
                    let flags = h[4];
                    let offset = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
                    if !(FILE_HEADER_LEN as u32..=MAX_DATA_OFFSET).contains(&offset) {
                        return Err(FlvError::BadConfig {
                            what: "FLV header DataOffset",
                            detail: format!("{offset} is outside 9..={MAX_DATA_OFFSET}"),
                        });
                    }
                    self.header = Some(FlvHeader {
                        has_audio: flags & 0x04 != 0,
                        has_video: flags & 0x01 != 0,
                    });
                    self.buf.advance(FILE_HEADER_LEN);
                    self.state = State::PreviousTagSize0 {
                        skip: offset as usize - FILE_HEADER_LEN,
                    };
                }
                State::PreviousTagSize0 { skip } => {
                    if self.buf.len() < skip + 4 {
                        return Ok(());
                    }
                    self.buf.advance(skip);
                    let got = self.buf.get_u32();
                    if got != 0 {
                        return Err(FlvError::PreviousTagSizeMismatch { expected: 0, got });
                    }
                    self.state = State::Tags;
                }
                State::Tags => {
                    if !self.parse_tag()? {
                        return Ok(());
                    }
                }
                State::Failed(_) => return Ok(()),
            }
        }
    }

    /// Reads one tag if complete; `Ok(false)` when more bytes are needed.
    fn parse_tag(&mut self) -> Result<bool, FlvError> {
        let Some(h) = self.buf.get(..TAG_HEADER_LEN) else {
            return Ok(false);
        };
        let raw_type = h[0];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let size_usize = size as usize;
        if size_usize > self.max_tag_size {
            return Err(FlvError::TagTooLarge {
                size: size_usize,
                max: self.max_tag_size,
            });
        }
        let total = TAG_HEADER_LEN + size_usize + 4;
        if self.buf.len() < total {
            return Ok(false);
        }
        let expected = size + TAG_HEADER_LEN as u32;
        let p = &self.buf[total - 4..total];
        let got = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
        if got != expected {
            return Err(FlvError::PreviousTagSizeMismatch { expected, got });
        }
        let tag_type = if raw_type & 0x20 != 0 {
            if !self.skip_unknown {
                return Err(FlvError::FilteredTag { value: raw_type });
            }
            None
        } else {
            let t = MediaKind::from_tag_type(raw_type & 0x1F);
            if t.is_none() && !self.skip_unknown {
                return Err(FlvError::UnknownTagType {
                    value: raw_type & 0x1F,
                });
            }
            t
        };
        self.buf.advance(TAG_HEADER_LEN);
        let body = self.buf.split_to(size_usize).freeze();
        self.buf.advance(4);
        if let Some(tag_type) = tag_type {
            self.ready.push_back(Tag {
                tag_type,
                timestamp,
                body,
            });
        }
        Ok(true)
    }
}

fn check_signature_prefix(data: &[u8]) -> Result<(), FlvError> {
    const SIG: [u8; 4] = [b'F', b'L', b'V', 1];
    let n = data.len().min(4);
    if data[..n] != SIG[..n] {
        let mut got = [0u8; 4];
        got[..n].copy_from_slice(&data[..n]);
        return Err(FlvError::BadSignature { got });
    }
    Ok(())
}
