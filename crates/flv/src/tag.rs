//! FLV file header and tag framing: the encoder functions and the streaming [`FlvDemuxer`].

mod demux;

use bytes::{BufMut, BytesMut};

use crate::kind::MediaKind;

pub use demux::{FlvDemuxer, FlvHeader, Tag};

/// Bytes an FLV tag adds around its body: the 11-byte tag header plus the 4-byte PreviousTagSize after it.
pub const TAG_OVERHEAD: usize = 15;

/// Size of the tag header that precedes each body.
pub const TAG_HEADER_LEN: usize = 11;

/// Size of the FLV file header (without the PreviousTagSize0 that follows it).
pub const FILE_HEADER_LEN: usize = 9;

/// Largest body a tag can carry: its data size is a 24-bit field.
pub const MAX_TAG_BODY: usize = 0xFF_FFFF;

/// The 9-byte FLV file header followed by the 4-byte PreviousTagSize0, ready to start an FLV stream.
pub fn encode_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// Appends one complete tag to `out`: the 11-byte header (timestamp low 24 bits, then the extended byte, stream id
/// 0), the body, and the PreviousTagSize (11 + body length). Adds exactly `body.len() + TAG_OVERHEAD` bytes.
///
/// # Panics
///
/// If `body` is longer than [`MAX_TAG_BODY`] (16 MiB - 1), which FLV cannot express. RTMP message lengths are
/// 24-bit as well, so a body relayed from RTMP always fits.
pub fn encode_tag(out: &mut BytesMut, kind: MediaKind, timestamp: u32, body: &[u8]) {
    assert!(
        body.len() <= MAX_TAG_BODY,
        "FLV tag body of {} bytes exceeds the 24-bit size field",
        body.len()
    );
    // Cast is lossless: checked against MAX_TAG_BODY just above.
    let size = body.len() as u32;
    out.reserve(body.len() + TAG_OVERHEAD);
    out.put_u8(kind.tag_type());
    put_u24(out, size);
    put_u24(out, timestamp & 0xFF_FFFF);
    out.put_u8((timestamp >> 24) as u8);
    put_u24(out, 0);
    out.put_slice(body);
    out.put_u32(size + TAG_HEADER_LEN as u32);
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes() {
        assert_eq!(
            encode_header(true, true),
            [0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 0x09, 0, 0, 0, 0]
        );
        assert_eq!(encode_header(false, true)[4], 0x01);
        assert_eq!(encode_header(true, false)[4], 0x04);
    }

    #[test]
    fn tag_bytes_with_extended_timestamp() {
        let mut out = BytesMut::new();
        encode_tag(&mut out, MediaKind::Video, 0x1234_5678, &[0xAA, 0xBB]);
        assert_eq!(
            &out[..],
            &[
                0x09, 0x00, 0x00, 0x02, // type, size
                0x34, 0x56, 0x78, 0x12, // timestamp low 24, extended
                0x00, 0x00, 0x00, // stream id
                0xAA, 0xBB, // body
                0x00, 0x00, 0x00, 0x0D, // PreviousTagSize = 11 + 2
            ]
        );
        assert_eq!(out.len(), 2 + TAG_OVERHEAD);
    }

    #[test]
    fn demuxer_and_tags_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<FlvDemuxer>();
        assert_send_sync::<Tag>();
        assert_send_sync::<crate::FlvError>();
    }
}
