//! Chunk encoding: format 0 for the first chunk of every message, format 3 for continuations.
//!
//! Always starting with format 0 costs 7-11 bytes per message compared to delta headers but keeps no per-csid
//! state, so messages encoded elsewhere (shared media bytes) can be interleaved freely with the session's own.

use bytes::{BufMut, BytesMut};

use super::EXTENDED_TIMESTAMP;
use crate::MediaKind;

/// Append `payload` as one message: a format 0 chunk then format 3 continuations of at most `chunk_size` bytes,
/// repeating the extended timestamp on continuations when it is used (as librtmp and ffmpeg expect).
///
/// `chunk_stream_id` must be in `2..=65599` and `chunk_size` at least 1 (0 is treated as 1); the length is
/// truncated to 24 bits, so payloads must be below 16 MiB.
pub fn encode_message(
    out: &mut BytesMut,
    chunk_stream_id: u32,
    message_stream_id: u32,
    type_id: u8,
    timestamp: u32,
    payload: &[u8],
    chunk_size: u32,
) {
    let chunk_size = chunk_size.max(1) as usize;
    let extended = timestamp >= EXTENDED_TIMESTAMP;
    let chunks = payload.len().div_ceil(chunk_size).max(1);
    let cont_header = basic_header_len(chunk_stream_id) + if extended { 4 } else { 0 };
    out.reserve(payload.len() + 11 + cont_header + (chunks - 1) * cont_header + 4);

    put_basic_header(out, 0, chunk_stream_id);
    out.put_uint(u64::from(timestamp.min(EXTENDED_TIMESTAMP)), 3);
    out.put_uint(payload.len() as u64 & 0xFF_FFFF, 3);
    out.put_u8(type_id);
    out.put_u32_le(message_stream_id);
    if extended {
        out.put_u32(timestamp);
    }
    let mut iter = payload.chunks(chunk_size);
    if let Some(first) = iter.next() {
        out.put_slice(first);
    }
    for chunk in iter {
        put_basic_header(out, 3, chunk_stream_id);
        if extended {
            out.put_u32(timestamp);
        }
        out.put_slice(chunk);
    }
}

/// [`encode_message`] for audio (type 8), video (9) or AMF0 data (18); the bytes can be shared by every
/// subscriber that uses the same chunk size and message stream id.
pub fn encode_media_message(
    out: &mut BytesMut,
    chunk_stream_id: u32,
    message_stream_id: u32,
    kind: MediaKind,
    timestamp: u32,
    payload: &[u8],
    chunk_size: u32,
) {
    encode_message(
        out,
        chunk_stream_id,
        message_stream_id,
        crate::message::media_type_id(kind),
        timestamp,
        payload,
        chunk_size,
    );
}

fn basic_header_len(csid: u32) -> usize {
    match csid {
        0..=63 => 1,
        64..=319 => 2,
        _ => 3,
    }
}

/// Basic header: 1 byte for csid 2..=63, 2 bytes for 64..=319, 3 bytes (little-endian id - 64) up to 65599.
pub(crate) fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    // 0 and 1 are escape values in the first byte, not ids.
    let csid = csid.clamp(2, super::MAX_CSID);
    let f = fmt << 6;
    match csid {
        0..=63 => out.put_u8(f | csid as u8),
        64..=319 => {
            out.put_u8(f);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            let id = csid - 64;
            out.put_u8(f | 1);
            out.put_u8((id & 0xff) as u8);
            out.put_u8((id >> 8) as u8);
        }
    }
}
