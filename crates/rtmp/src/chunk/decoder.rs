//! Chunk decoding: per-csid header state, message reassembly, extended timestamps.

use bytes::{Buf, BytesMut};

use super::{ChunkMessage, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP};
use crate::error::Error;

/// Largest reassembly buffer reserved from a header before any of its bytes arrived.
const MAX_PREALLOC: usize = 1 << 20;

/// Audio (8), video (9) and aggregate (22) messages carry media and may be as large as `max_message_size`; every
/// other type (commands, data, shared objects, protocol control) is bounded by `max_command_size`.
fn is_media(type_id: u8) -> bool {
    matches!(type_id, 8 | 9 | 22)
}

/// Header state of one chunk stream.
#[derive(Debug)]
struct StreamState {
    csid: u32,
    /// Absolute timestamp of the current (or last) message.
    timestamp: u32,
    /// Timestamp delta applied by a format 3 chunk that starts a new message (the spec says it is the absolute
    /// timestamp after a format 0 header).
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The extended timestamp field of the last format 0-2 header, if it had one. A format 3 chunk may repeat it.
    extended: Option<u32>,
    /// The message being reassembled and how many bytes it still needs.
    partial: Option<BytesMut>,
}

/// Reassembles RTMP messages from the chunk stream.
///
/// Sans-IO: [`ChunkDecoder::decode`] parses from a caller-owned `BytesMut` and consumes a chunk only once the
/// whole chunk is there, so input can arrive split anywhere. Message lengths are checked against the bound
/// before the reassembly buffer is allocated; the number of chunk streams is bounded too.
#[derive(Debug)]
pub struct ChunkDecoder {
    chunk_size: u32,
    max_message_size: u32,
    max_command_size: u32,
    max_chunk_streams: usize,
    streams: Vec<StreamState>,
}

/// A parsed (not yet consumed) chunk header.
struct Header {
    fmt: u8,
    csid: u32,
    /// Bytes of basic + message header + extended timestamp.
    len: usize,
    /// Timestamp or delta field (extended value substituted).
    ts_field: u32,
    extended: Option<u32>,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

impl ChunkDecoder {
    /// A decoder with chunk size 128 and the given bounds; messages of every type may use `max_message_size`
    /// until [`ChunkDecoder::with_max_command_size`] sets a lower bound for non-media messages.
    pub fn new(max_message_size: u32, max_chunk_streams: usize) -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_message_size,
            max_command_size: max_message_size,
            max_chunk_streams,
            streams: Vec::new(),
        }
    }

    /// Bounds every message that is not audio, video or aggregate (types other than 8, 9 and 22) to `max` bytes.
    pub fn with_max_command_size(mut self, max: u32) -> Self {
        self.max_command_size = max;
        self
    }

    /// Use `size` as the peer's chunk size from the next chunk on (validated by the caller; 0 is treated as 1).
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.max(1);
    }

    /// The peer's chunk size in effect.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Drop the partly received message on `csid` (Abort message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.csid == csid) {
            s.partial = None;
        }
    }

    /// Consume whole chunks from `buf` until one message is complete (returned) or more input is needed
    /// (`Ok(None)`, with any incomplete chunk left in `buf`).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ChunkMessage>, Error> {
        loop {
            let Some(h) = self.peek_header(buf)? else {
                return Ok(None);
            };
            let idx = self.streams.iter().position(|s| s.csid == h.csid);
            // What the message will look like once this header is applied, computed before touching state.
            let (starts_message, length, type_id) = match (idx, h.fmt) {
                (_, 0) => (true, h.length, h.type_id),
                (None, _) => return Err(Error::MissingHeader { csid: h.csid }),
                (Some(_), 1) => (true, h.length, h.type_id),
                (Some(i), 2) => (true, self.streams[i].length, self.streams[i].type_id),
                (Some(i), _) => {
                    let s = &self.streams[i];
                    (s.partial.is_none(), s.length, s.type_id)
                }
            };
            if starts_message {
                let max = if is_media(type_id) {
                    self.max_message_size
                } else {
                    self.max_command_size.min(self.max_message_size)
                };
                if length > max {
                    return Err(Error::MessageTooLarge {
                        size: length,
                        max,
                        csid: h.csid,
                        type_id,
                    });
                }
            }
            let already = match idx {
                Some(i) if !starts_message => {
                    self.streams[i].partial.as_ref().map_or(0, |p| p.len())
                }
                _ => 0,
            };
            let take = (length as usize - already).min(self.chunk_size as usize);
            if buf.len() < h.len + take {
                return Ok(None);
            }
            let i = match idx {
                Some(i) => i,
                None => {
                    if self.streams.len() >= self.max_chunk_streams {
                        return Err(Error::TooManyChunkStreams {
                            max: self.max_chunk_streams,
                        });
                    }
                    self.streams.push(StreamState {
                        csid: h.csid,
                        timestamp: 0,
                        delta: 0,
                        length: 0,
                        type_id: 0,
                        stream_id: 0,
                        extended: None,
                        partial: None,
                    });
                    self.streams.len() - 1
                }
            };
            buf.advance(h.len);
            let s = &mut self.streams[i];
            if starts_message {
                match h.fmt {
                    0 => {
                        s.timestamp = h.ts_field;
                        s.delta = h.ts_field;
                        s.stream_id = h.stream_id;
                    }
                    1 | 2 => {
                        s.delta = h.ts_field;
                        s.timestamp = s.timestamp.wrapping_add(h.ts_field);
                    }
                    _ => s.timestamp = s.timestamp.wrapping_add(s.delta),
                }
                if h.fmt <= 1 {
                    s.length = h.length;
                    s.type_id = h.type_id;
                }
                if h.fmt <= 2 {
                    s.extended = h.extended;
                }
                // Sized from the header, but a huge announced length only reserves MAX_PREALLOC up front: the peer
                // must send the bytes to make it grow, so headers alone cannot reserve max_chunk_streams times
                // max_message_size.
                s.partial = Some(BytesMut::with_capacity((length as usize).min(MAX_PREALLOC)));
            }
            // Invariant: `partial` was set above for a new message, or existed for a continuation.
            let Some(partial) = s.partial.as_mut() else {
                continue;
            };
            partial.extend_from_slice(&buf[..take]);
            buf.advance(take);
            if partial.len() >= s.length as usize {
                let payload = s.partial.take().map(BytesMut::freeze).unwrap_or_default();
                return Ok(Some(ChunkMessage {
                    csid: s.csid,
                    timestamp: s.timestamp,
                    type_id: s.type_id,
                    stream_id: s.stream_id,
                    payload,
                }));
            }
        }
    }

    /// Parse the chunk header at the start of `buf` without consuming it; `None` if more bytes are needed.
    fn peek_header(&self, buf: &[u8]) -> Result<Option<Header>, Error> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fmt = b0 >> 6;
        let (csid, mut pos) = match b0 & 0x3f {
            0 => match buf.get(1) {
                Some(&b1) => (64 + u32::from(b1), 2),
                None => return Ok(None),
            },
            1 => match (buf.get(1), buf.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + u32::from(b1) + (u32::from(b2) << 8), 3),
                _ => return Ok(None),
            },
            id => (u32::from(id), 1),
        };
        let mh_len = [11usize, 7, 3, 0][fmt as usize];
        let Some(mh) = buf.get(pos..pos + mh_len) else {
            return Ok(None);
        };
        pos += mh_len;
        let mut h = Header {
            fmt,
            csid,
            len: 0,
            ts_field: 0,
            extended: None,
            length: 0,
            type_id: 0,
            stream_id: 0,
        };
        if fmt <= 2 {
            h.ts_field = be24(&mh[0..3]);
        }
        if fmt <= 1 {
            h.length = be24(&mh[3..6]);
            h.type_id = mh[6];
        }
        if fmt == 0 {
            h.stream_id = u32::from_le_bytes([mh[7], mh[8], mh[9], mh[10]]);
        }
        if fmt <= 2 && h.ts_field == EXTENDED_TIMESTAMP {
            let Some(ext) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            let v = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            h.ts_field = v;
            h.extended = Some(v);
            pos += 4;
        } else if fmt == 3 {
            // librtmp and ffmpeg repeat the extended timestamp on format 3 chunks, some peers do not: take the
            // next four bytes as the repeat only when they equal the stored value.
            let stored = self
                .streams
                .iter()
                .find(|s| s.csid == csid)
                .and_then(|s| s.extended);
            if let Some(v) = stored {
                // Decide on a partial prefix when it already differs, so a short final chunk from a peer that
                // does not repeat is not left waiting for bytes that never come.
                let avail = &buf[pos.min(buf.len())..];
                let n = avail.len().min(4);
                if avail[..n] == v.to_be_bytes()[..n] {
                    if n < 4 {
                        return Ok(None);
                    }
                    pos += 4;
                }
            }
        }
        h.len = pos;
        Ok(Some(h))
    }
}

fn be24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}
