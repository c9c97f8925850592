//! Hostile and broken input: errors with context, no panics, no large allocations, sticky errors.

mod common;

use std::time::{Duration, Instant};

use common::RawClient;
use rtmp::bytes::BytesMut;
use rtmp::{ChunkDecoder, ClientSession, Error, ServerSession, SessionConfig};

#[test]
fn truncated_handshake_waits() {
    let now = Instant::now();
    let mut s = ServerSession::new(SessionConfig::default(), now);
    let c0c1 = include_bytes!("data/ffmpeg_c0c1.bin");
    for b in c0c1[..1000].chunks(7) {
        s.handle_input(b, now).unwrap();
    }
    assert_eq!(s.take_transmit(), None);
    s.handle_input(&c0c1[1000..], now).unwrap();
    assert_eq!(s.take_transmit().map(|b| b.len()), Some(1 + 2 * 1536));
    s.handle_input(&[0u8; 1000], now).unwrap();
    assert!(s.poll_timeout().is_some(), "still handshaking");

    let mut c = ClientSession::new(SessionConfig::default(), now);
    c.handle_input(&[3, 0, 0], now).unwrap();
    assert_eq!(c.poll_output(), None);
}

#[test]
fn bad_versions() {
    let now = Instant::now();
    for (v, e) in [
        (0x16u8, Error::BadVersion { got: 0x16 }),
        (6, Error::EncryptedHandshake),
    ] {
        let mut s = ServerSession::new(SessionConfig::default(), now);
        assert_eq!(s.handle_input(&[v], now), Err(e.clone()));
        // Sticky: every later call returns the same error.
        assert_eq!(s.handle_input(&[3], now), Err(e.clone()));
        assert_eq!(s.handle_timeout(now), Err(e.clone()));
        let mut c = ClientSession::new(SessionConfig::default(), now);
        assert_eq!(c.handle_input(&[v, 0, 0], now), Err(e));
    }
}

#[test]
fn handshake_timeout() {
    let now = Instant::now();
    let config = SessionConfig {
        handshake_timeout: Duration::from_secs(5),
        ..SessionConfig::default()
    };
    let mut s = ServerSession::new(config.clone(), now);
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(5));
    s.handle_timeout(now + Duration::from_secs(1)).unwrap();
    let e = Error::HandshakeTimeout;
    assert_eq!(s.handle_timeout(deadline), Err(e.clone()));
    assert_eq!(s.handle_input(&[3], deadline), Err(e));

    let mut c = ClientSession::new(config, now);
    assert!(c.handle_timeout(now + Duration::from_secs(6)).is_err());

    // A completed handshake clears the deadline.
    let r = RawClient::new(SessionConfig::default());
    assert_eq!(r.server.poll_timeout(), None);
}

#[test]
fn set_chunk_size_bounds() {
    for (size, ok) in [
        (0u32, false),
        (1, true),
        (65536, true),
        (65537, false),
        (0x8000_0001, false),
    ] {
        let mut c = RawClient::new(SessionConfig::default());
        let r = c.send(2, 0, 1, 0, &size.to_be_bytes());
        if ok {
            assert_eq!(r, Ok(()), "{size}");
        } else {
            assert_eq!(
                r,
                Err(Error::ChunkSizeInvalid { size, max: 65536 }),
                "{size}"
            );
            assert!(
                c.send(2, 0, 5, 0, &[0, 0, 0, 1]).is_err(),
                "error is sticky"
            );
        }
    }
}

#[test]
fn message_length_beyond_bound_fails_before_allocating() {
    let mut c = RawClient::new(SessionConfig::default());
    c.publish();
    // Format 0 header announcing 0xFFFFFF bytes (16 MiB - 1 > the 1 MiB bound below).
    let header = [0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0];
    let mut small = RawClient::new(SessionConfig {
        message_limits: rtmp::MessageLimits {
            video: 1 << 20,
            ..rtmp::MessageLimits::default()
        },
        ..SessionConfig::default()
    });
    small.publish();
    let refused = small.send_raw(&header);
    assert_eq!(
        refused,
        Err(Error::MessageTooLarge {
            size: 0xFF_FFFF,
            max: 1 << 20,
            csid: 6,
            type_id: 9,
            setting: "[rtmp] max_video_message_size",
        })
    );
    assert_eq!(
        refused.unwrap_err().to_string(),
        "video message (type 9) of 16777215 bytes on chunk stream 6 exceeds the limit of 1048576 bytes \
         ([rtmp] max_video_message_size)"
    );
    // With the default 16 MiB bound the same header is allowed and simply waits for data.
    assert_eq!(c.send_raw(&header), Ok(()));
}

/// Commands and script data carry names and metadata: the default session refuses one above 64 KiB before
/// allocating, and a protocol control message above 64 bytes, while (after publish) a video or audio message of
/// the same size is fine.
#[test]
fn command_and_data_messages_have_their_own_smaller_bound() {
    let size: u32 = 64 * 1024 + 1;
    let [_, a, b, c] = size.to_be_bytes();
    for (type_id, max) in [
        (20u8, 64 * 1024),
        (18, 64 * 1024),
        (17, 64 * 1024),
        (15, 64 * 1024),
        (16, 64 * 1024),
        (4, 64),
    ] {
        let mut client = RawClient::new(SessionConfig::default());
        let header = [0x03, 0, 0, 0, a, b, c, type_id, 0, 0, 0, 0];
        let refused = client.send_raw(&header);
        assert!(
            matches!(refused, Err(Error::MessageTooLarge { size: s, max: m, csid: 3, type_id: t, .. })
                if s == size && m == max && t == type_id),
            "type {type_id}: {refused:?}"
        );
    }
    for type_id in [8u8, 9, 22] {
        let mut client = RawClient::new(SessionConfig::default());
        client.publish();
        let header = [0x06, 0, 0, 0, a, b, c, type_id, 1, 0, 0, 0];
        assert_eq!(client.send_raw(&header), Ok(()), "type {type_id}");
    }
    // A format 1 header on a chunk stream that carried audio announces a command: the command's bound applies.
    let mut client = RawClient::new(SessionConfig::default());
    client.publish();
    let audio = [0x04, 0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0xaf];
    assert_eq!(client.send_raw(&audio), Ok(()));
    let bigger = [0x44, 0, 0, 0, a, b, c, 20];
    assert!(matches!(
        client.send_raw(&bigger),
        Err(Error::MessageTooLarge { type_id: 20, .. })
    ));
}

#[test]
fn missing_header_and_too_many_chunk_streams() {
    let mut dec = ChunkDecoder::new(1000, 2);
    let mut buf = BytesMut::from(&[0xc5u8, 0][..]);
    assert_eq!(dec.decode(&mut buf), Err(Error::MissingHeader { csid: 5 }));
    let mut dec = ChunkDecoder::new(1000, 2);
    let mut buf = BytesMut::new();
    for csid in [3u8, 4, 5] {
        buf.extend_from_slice(&[csid, 0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0xaa]);
    }
    assert!(dec.decode(&mut buf).unwrap().is_some());
    assert!(dec.decode(&mut buf).unwrap().is_some());
    assert_eq!(
        dec.decode(&mut buf),
        Err(Error::TooManyChunkStreams { max: 2 })
    );
}

#[test]
fn short_control_message_is_an_error() {
    let mut c = RawClient::new(SessionConfig::default());
    assert_eq!(
        c.send(2, 0, 1, 0, &[0, 1]),
        Err(Error::ControlTooShort {
            message_type: 1,
            expected: 4,
            got: 2
        })
    );
}

#[test]
fn amf0_limits() {
    use rtmp::amf0::{decode_all, MAX_DEPTH};
    use rtmp::Amf0ErrorKind;
    // Deep nesting.
    let deep = [0x0au8, 0, 0, 0, 1].repeat(MAX_DEPTH + 5);
    assert!(matches!(
        decode_all(&deep),
        Err(Error::Amf0 {
            kind: Amf0ErrorKind::DepthLimit,
            ..
        })
    ));
    // Nested objects and ECMA arrays count towards the depth too: MAX_DEPTH levels decode, one more does not.
    for (open, n_len) in [(vec![0x03u8], 0), (vec![0x08u8, 0, 0, 0, 1], 4)] {
        let nested = |levels: usize| {
            let mut b = Vec::new();
            for _ in 0..levels - 1 {
                b.extend_from_slice(&open);
                b.extend_from_slice(&[0, 1, b'k']);
            }
            b.extend_from_slice(&open);
            b.extend_from_slice(&[0, 0, 9]);
            b.extend_from_slice(&[0, 0, 9].repeat(levels - 1));
            b
        };
        assert_eq!(
            decode_all(&nested(MAX_DEPTH)).map(|v| v.len()),
            Ok(1),
            "{n_len}"
        );
        assert!(
            matches!(
                decode_all(&nested(MAX_DEPTH + 1)),
                Err(Error::Amf0 {
                    kind: Amf0ErrorKind::DepthLimit,
                    ..
                })
            ),
            "{n_len}"
        );
    }
    // A strict array whose count is larger than the bytes left is refused at the count, before any element.
    assert_eq!(
        decode_all(&[0x0a, 0, 0, 0, 3, 5]),
        Err(Error::Amf0 {
            offset: 5,
            kind: Amf0ErrorKind::Truncated
        })
    );
    // A strict array claiming 4 billion elements in a few bytes.
    assert!(matches!(
        decode_all(&[0x0a, 0xff, 0xff, 0xff, 0xff, 5]),
        Err(Error::Amf0 {
            kind: Amf0ErrorKind::Truncated,
            ..
        })
    ));
    // Too many values overall; exactly the limit is fine.
    let nulls = vec![0x05u8; rtmp::amf0::MAX_VALUES];
    assert_eq!(
        decode_all(&nulls).map(|v| v.len()),
        Ok(rtmp::amf0::MAX_VALUES)
    );
    let nulls = vec![0x05u8; rtmp::amf0::MAX_VALUES + 1];
    assert!(matches!(
        decode_all(&nulls),
        Err(Error::Amf0 {
            kind: Amf0ErrorKind::TooManyValues,
            ..
        })
    ));
    // Reference is refused, unknown markers named.
    assert!(matches!(
        decode_all(&[0x07, 0, 1]),
        Err(Error::Amf0 {
            kind: Amf0ErrorKind::Unsupported(7),
            offset: 0
        })
    ));
    assert!(matches!(
        decode_all(&[0x05, 0x42]),
        Err(Error::Amf0 {
            kind: Amf0ErrorKind::UnknownMarker(0x42),
            offset: 1
        })
    ));
    assert!(matches!(
        decode_all(&[0x02, 0, 2, 0xff, 0xfe]),
        Err(Error::Amf0 {
            kind: Amf0ErrorKind::InvalidUtf8,
            ..
        })
    ));
}
