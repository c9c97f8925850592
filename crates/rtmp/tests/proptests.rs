//! Property tests: chunk and AMF0 round trips, and no panics on arbitrary input.

mod common;

use std::time::Instant;

use proptest::prelude::*;
use rtmp::amf0::{self, Value};
use rtmp::bytes::BytesMut;
use rtmp::{encode_message, ChunkDecoder, ServerSession, SessionConfig};

#[derive(Debug, Clone)]
struct Msg {
    csid: u32,
    stream_id: u32,
    type_id: u8,
    timestamp: u32,
    payload: Vec<u8>,
}

fn msg() -> impl Strategy<Value = Msg> {
    (
        prop_oneof![2u32..64, 64u32..320, 320u32..=65599],
        any::<u32>(),
        // The message types RTMP defines (the decoder refuses any other at its header).
        prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22]),
        prop_oneof![any::<u32>(), 0xFF_FFF0u32..0x100_0010],
        prop::collection::vec(any::<u8>(), 0..2000),
    )
        .prop_map(|(csid, stream_id, type_id, timestamp, mut payload)| {
            // Protocol control messages have fixed tiny sizes (bounded by MAX_CONTROL_MESSAGE_SIZE).
            if type_id <= 6 {
                payload.truncate(rtmp::MAX_CONTROL_MESSAGE_SIZE as usize);
            }
            Msg {
                csid,
                stream_id,
                type_id,
                timestamp,
                payload,
            }
        })
}

fn splits(total: usize, cuts: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = cuts.iter().map(|c| c % (total + 1)).collect();
    v.push(0);
    v.push(total);
    v.sort_unstable();
    v.dedup();
    v
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<f64>()
            .prop_filter("NaN never equals itself", |f| !f.is_nan())
            .prop_map(Value::Number),
        any::<bool>().prop_map(Value::Boolean),
        ".{0,20}".prop_map(Value::String),
        Just(Value::Null),
        Just(Value::Undefined),
        (any::<i64>(), any::<i16>()).prop_map(|(m, timezone)| Value::Date {
            millis: m as f64,
            timezone
        }),
        ".{0,20}".prop_map(Value::LongString),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec((".{0,8}", inner.clone()), 0..8).prop_map(Value::Object),
            prop::collection::vec((".{0,8}", inner.clone()), 0..8).prop_map(Value::EcmaArray),
            prop::collection::vec(inner, 0..8).prop_map(Value::StrictArray),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn chunk_round_trip(msgs in prop::collection::vec(msg(), 1..12), chunk_size in 1u32..5000,
                        cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let mut wire = BytesMut::new();
        for m in &msgs {
            encode_message(&mut wire, m.csid, m.stream_id, m.type_id, m.timestamp, &m.payload, chunk_size);
        }
        let mut dec = ChunkDecoder::new(1 << 20, 1000);
        dec.set_chunk_size(chunk_size);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let points = splits(wire.len(), &cuts);
        for w in points.windows(2) {
            buf.extend_from_slice(&wire[w[0]..w[1]]);
            while let Some(m) = dec.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            prop_assert_eq!((g.csid, g.stream_id, g.type_id, g.timestamp), (m.csid, m.stream_id, m.type_id, m.timestamp));
            prop_assert_eq!(&g.payload[..], &m.payload[..]);
        }
    }

    #[test]
    fn chunk_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..4000),
                                  cuts in prop::collection::vec(any::<usize>(), 0..20),
                                  chunk_size in 1u32..300) {
        let mut dec = ChunkDecoder::new(1 << 16, 16);
        dec.set_chunk_size(chunk_size);
        let mut buf = BytesMut::new();
        let points = splits(bytes.len(), &cuts);
        'outer: for w in points.windows(2) {
            buf.extend_from_slice(&bytes[w[0]..w[1]]);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(m)) => prop_assert!(m.payload.len() <= 1 << 16),
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
    }

    #[test]
    fn server_session_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..3000),
                                   cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        let now = Instant::now();
        let mut s = ServerSession::new(SessionConfig::default(), now);
        let mut hs = vec![3u8];
        hs.resize(1 + 2 * 1536, 0);
        s.handle_input(&hs, now).unwrap();
        let points = splits(bytes.len(), &cuts);
        for w in points.windows(2) {
            if s.handle_input(&bytes[w[0]..w[1]], now).is_err() {
                break;
            }
            while let Some(e) = s.poll_output() {
                if let rtmp::ServerEvent::Connect { .. } = e {
                    s.accept_connect();
                }
            }
            let _ = s.take_transmit();
        }
    }

    #[test]
    fn amf0_round_trip(values in prop::collection::vec(value(), 0..6)) {
        let mut out = BytesMut::new();
        for v in &values {
            amf0::encode(v, &mut out);
        }
        prop_assert_eq!(amf0::decode_all(&out).unwrap(), values);
    }

    #[test]
    fn amf0_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        if let Ok(values) = amf0::decode_all(&bytes) {
            let mut out = BytesMut::new();
            for v in &values {
                amf0::encode(v, &mut out);
            }
            prop_assert!(amf0::decode_all(&out).is_ok());
        }
    }
}
