//! `ChunkDecoder` edges: a message of exactly the size bound, the chunk size in effect, and a new message header
//! on a chunk stream whose previous message is incomplete.

use rtmp::bytes::BytesMut;
use rtmp::{encode_message, ChunkDecoder, Error, MessageLimits};

fn encoded(csid: u32, type_id: u8, payload: &[u8], chunk_size: u32) -> BytesMut {
    let mut out = BytesMut::new();
    encode_message(&mut out, csid, 1, type_id, 1000, payload, chunk_size);
    out
}

/// The bounds are the largest sizes accepted: a message of exactly its type's bound decodes, one byte more is
/// refused from its header, naming the setting.
#[test]
fn messages_of_exactly_the_bound_decode() {
    let limits = MessageLimits {
        video: 300,
        audio: 250,
        script: 150,
        command: 200,
        shared_object: 100,
    };
    for (type_id, max, setting) in [
        (9u8, 300u32, "[rtmp] max_video_message_size"),
        (22, 300, "[rtmp] max_video_message_size"),
        (8, 250, "[rtmp] max_audio_message_size"),
        (18, 150, "[rtmp] max_script_message_size"),
        (15, 150, "[rtmp] max_script_message_size"),
        (20, 200, "[rtmp] max_command_size"),
        (17, 200, "[rtmp] max_command_size"),
        (19, 100, "[rtmp] max_shared_object_size"),
        (4, 64, "fixed by the RTMP specification"),
    ] {
        let mut dec = ChunkDecoder::new(1 << 20, 8).with_limits(limits);
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
                type_id,
                setting,
            })
        );
    }
}

/// A type id RTMP does not define is refused at its header, whatever length it announces: bytes after a valid
/// basic header are not read as a message still to come.
#[test]
fn undefined_message_types_are_refused_at_the_header() {
    for type_id in [0u8, 7, 10, 14, 21, 23, 99, 255] {
        let mut dec = ChunkDecoder::new(1 << 20, 8);
        // The 3-byte basic header (csid 65599), then a format 0 message header announcing 0xFFFFFF bytes.
        let mut buf = BytesMut::from(
            &[
                0x01, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, type_id, 0, 0, 0, 0,
            ][..],
        );
        assert_eq!(
            dec.decode(&mut buf),
            Err(Error::UnknownMessageType {
                type_id,
                csid: 65599
            }),
            "type {type_id}"
        );
    }
    let e = Error::UnknownMessageType {
        type_id: 99,
        csid: 3,
    };
    assert!(e.to_string().contains("type 99"), "{e}");
}

/// A closed media gate refuses audio, video and aggregate headers, and only them; opened, they decode.
#[test]
fn the_media_gate_holds_back_media_headers_only() {
    for type_id in [8u8, 9, 22] {
        let mut dec = ChunkDecoder::new(1 << 24, 8);
        dec.set_media_allowed(false);
        let mut buf = BytesMut::from(&[0x06, 0, 0, 0, 0x3d, 0x09, 0x00, type_id, 1, 0, 0, 0][..]);
        let e = dec.decode(&mut buf).unwrap_err();
        assert_eq!(
            e,
            Error::MediaBeforePublish {
                type_id,
                size: 4_000_000,
                csid: 6
            }
        );
        assert!(
            e.to_string()
                .contains(&format!("media message (type {type_id}, 4000000 bytes)")),
            "{e}"
        );
    }
    let mut dec = ChunkDecoder::new(1 << 20, 8);
    dec.set_media_allowed(false);
    let mut buf = encoded(3, 20, &[2, 0, 1, b'x'], 128);
    assert!(dec.decode(&mut buf).unwrap().is_some(), "a command passes");
    dec.set_media_allowed(true);
    let mut buf = encoded(6, 9, &[0x17; 10], 128);
    assert!(
        dec.decode(&mut buf).unwrap().is_some(),
        "media passes once open"
    );
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
