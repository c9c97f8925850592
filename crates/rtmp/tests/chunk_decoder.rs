//! `ChunkDecoder` edges: a message of exactly the size bound, the chunk size in effect, and a new message header
//! on a chunk stream whose previous message is incomplete.

use rtmp::bytes::BytesMut;
use rtmp::{encode_message, ChunkDecoder, Error};

fn encoded(csid: u32, type_id: u8, payload: &[u8], chunk_size: u32) -> BytesMut {
    let mut out = BytesMut::new();
    encode_message(&mut out, csid, 1, type_id, 1000, payload, chunk_size);
    out
}

/// The bounds are the largest sizes accepted: a message of exactly `max_message_size` (media) or
/// `max_command_size` (other types) decodes, one byte more is refused from its header.
#[test]
fn messages_of_exactly_the_bound_decode() {
    for (type_id, media) in [(9u8, true), (20, false)] {
        let mut dec = ChunkDecoder::new(300, 8).with_max_command_size(200);
        let max = if media { 300 } else { 200 };
        let payload: Vec<u8> = (0..max).map(|i| i as u8).collect();
        let mut buf = encoded(4, type_id, &payload, 128);
        let msg = dec.decode(&mut buf).unwrap().expect("a whole message");
        assert_eq!((msg.type_id, &msg.payload[..]), (type_id, &payload[..]));
        assert!(buf.is_empty());
        let mut buf = encoded(4, type_id, &[0; 301][..max as usize + 1], 128);
        assert_eq!(
            dec.decode(&mut buf),
            Err(Error::MessageTooLarge {
                size: max + 1,
                max,
                csid: 4,
                type_id
            })
        );
    }
}

#[test]
fn chunk_size_in_effect() {
    let mut dec = ChunkDecoder::new(1 << 20, 8);
    assert_eq!(dec.chunk_size(), 128);
    dec.set_chunk_size(4096);
    assert_eq!(dec.chunk_size(), 4096);
    let payload = vec![7u8; 5000];
    let mut buf = encoded(6, 9, &payload, 4096);
    assert_eq!(
        dec.decode(&mut buf).unwrap().map(|m| m.payload.len()),
        Some(5000)
    );
    dec.set_chunk_size(0);
    assert_eq!(dec.chunk_size(), 1);
}

/// A format 0 header on a chunk stream in the middle of a message starts a new message: the partial one is
/// dropped, and the new one is read from its own first byte.
#[test]
fn a_new_header_drops_the_incomplete_message() {
    let mut dec = ChunkDecoder::new(1 << 20, 8);
    let first = encoded(5, 9, &[1; 300], 128);
    // The first chunk only (12-byte header + 128 bytes): 128 of 300 bytes received.
    let mut buf = BytesMut::from(&first[..12 + 128]);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    assert!(buf.is_empty());
    let mut buf = encoded(5, 8, &[2; 50], 128);
    let msg = dec.decode(&mut buf).unwrap().expect("the new message");
    assert_eq!((msg.type_id, &msg.payload[..]), (8, &[2u8; 50][..]));
    assert!(buf.is_empty());
}
