//! Chunk decoding: per-csid header state, message reassembly, extended timestamps.

use bytes::{Buf, BytesMut};

use super::{ChunkMessage, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP};
use crate::config::{MessageLimits, MAX_CONTROL_MESSAGE_SIZE};
use crate::error::Error;

/// Largest reassembly buffer reserved from a header before any of its bytes arrived.
const MAX_PREALLOC: usize = 1 << 20;

/// The bound of a message type and the setting that sets it; `None` for a type id RTMP does not define.
fn limit_of(type_id: u8, limits: &MessageLimits) -> Option<(u32, &'static str)> {
    Some(match type_id {
        1..=6 => (MAX_CONTROL_MESSAGE_SIZE, "fixed by the RTMP specification"),
        8 => (limits.audio, "[rtmp] max_audio_message_size"),
        9 | 22 => (limits.video, "[rtmp] max_video_message_size"),
        15 | 18 => (limits.script, "[rtmp] max_script_message_size"),
        17 | 20 => (limits.command, "[rtmp] max_command_size"),
        16 | 19 => (limits.shared_object, "[rtmp] max_shared_object_size"),
        _ => return None,
    })
}

/// Audio (8), video (9) and aggregate (22): the types the media gate holds back.
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
/// whole chunk is there, so input can arrive split anywhere. Everything about a message is decided at the header
/// that starts it, before its payload is waited for or allocated: an undefined type id is an error, so is a
/// length above its type's bound ([`MessageLimits`]) and, while the media gate is closed, any audio, video or
/// aggregate message. The number of chunk streams is bounded too.
#[derive(Debug)]
pub struct ChunkDecoder {
    chunk_size: u32,
    limits: MessageLimits,
    /// Whether audio, video and aggregate messages may start (see [`ChunkDecoder::set_media_allowed`]).
    media_allowed: bool,
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
    /// A decoder with chunk size 128 where every message type but protocol control (bounded by
    /// [`MAX_CONTROL_MESSAGE_SIZE`]) may use `max_message_size`, and media is allowed; see
    /// [`ChunkDecoder::with_limits`] for per-type bounds.
    pub fn new(max_message_size: u32, max_chunk_streams: usize) -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            limits: MessageLimits::uniform(max_message_size),
            media_allowed: true,
            max_chunk_streams,
            streams: Vec::new(),
        }
    }

    /// Bounds each message type as `limits` says.
    pub fn with_limits(mut self, limits: MessageLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Opens (`true`, the default) or closes the media gate. While it is closed, the header of an audio, video
    /// or aggregate message is an error ([`Error::MediaBeforePublish`]): a server closes it until the client
    /// sends `publish`, so a peer that never published cannot make it wait for a multi-megabyte frame.
    pub fn set_media_allowed(&mut self, allowed: bool) {
        self.media_allowed = allowed;
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
                self.check_start(h.csid, type_id, length)?;
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
                // the largest bound.
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

    /// Whether a message of `type_id` and `length` may start on `csid`: a defined type, within its bound, and
    /// media only through an open gate.
    fn check_start(&self, csid: u32, type_id: u8, length: u32) -> Result<(), Error> {
        let Some((max, setting)) = limit_of(type_id, &self.limits) else {
            return Err(Error::UnknownMessageType { type_id, csid });
        };
        if is_media(type_id) && !self.media_allowed {
            return Err(Error::MediaBeforePublish {
                type_id,
                size: length,
                csid,
            });
        }
        if length > max {
            return Err(Error::MessageTooLarge {
                size: length,
                max,
                csid,
                type_id,
                setting,
            });
        }
        Ok(())
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
