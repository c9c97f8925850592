//! Per-format encodings of a hub frame, made once per frame and shared by every subscriber of that format.
//!
//! The hub keeps a small cache of encoded bytes on each frame (`media::MediaFrame::encoded`); the first subscriber
//! that needs a format encodes it, all others clone the `Bytes` (a reference count, no copy).

use bytes::{Bytes, BytesMut};
use media::{EncodingSlot, Frame, MediaFrame};

/// Cache slot of the FLV tag encoding (HTTP-FLV players).
pub(crate) const SLOT_FLV: EncodingSlot = EncodingSlot(0);
/// Cache slot of the RTMP chunk encoding for message stream 1 at the server's chunk size (RTMP players).
pub(crate) const SLOT_RTMP: EncodingSlot = EncodingSlot(1);

/// The message stream id that the shared RTMP encoding is made for. Every client we know plays on the first stream it
/// creates, which is 1; a player on another stream id gets its own encoding.
pub(crate) const SHARED_RTMP_STREAM_ID: u32 = 1;

/// The frame as a complete FLV tag (header, body, previous-tag-size).
pub(crate) fn flv_tag(frame: &MediaFrame) -> Bytes {
    frame.encoded(SLOT_FLV, encode_flv)
}

fn encode_flv(frame: &Frame) -> Bytes {
    let mut out = BytesMut::with_capacity(frame.payload.len() + flv::TAG_OVERHEAD);
    flv::encode_tag(&mut out, frame.kind, frame.timestamp, &frame.payload);
    out.freeze()
}

/// The frame as RTMP chunks for `stream_id` at `chunk_size`; shared when the stream id is the common one.
pub(crate) fn rtmp_chunks(frame: &MediaFrame, stream_id: u32, chunk_size: u32) -> Bytes {
    if stream_id == SHARED_RTMP_STREAM_ID {
        frame.encoded(SLOT_RTMP, |f| encode_rtmp(f, stream_id, chunk_size))
    } else {
        encode_rtmp(frame.frame(), stream_id, chunk_size)
    }
}

fn encode_rtmp(frame: &Frame, stream_id: u32, chunk_size: u32) -> Bytes {
    let chunks = frame.payload.len() / chunk_size.max(1) as usize + 1;
    let mut out = BytesMut::with_capacity(frame.payload.len() + 16 + chunks * 5);
    rtmp::encode_media_message(
        &mut out,
        rtmp::media_chunk_stream_id(frame.kind),
        stream_id,
        frame.kind,
        frame.timestamp,
        &frame.payload,
        chunk_size,
    );
    out.freeze()
}
