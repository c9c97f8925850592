//! Wire format vectors: basic headers, a real ffmpeg connect command, chunk formats 0-3, extended timestamps,
//! interleaving, AMF0 bytes.

use rtmp::amf0::{self, Value};
use rtmp::bytes::BytesMut;
use rtmp::{encode_media_message, encode_message, ChunkDecoder, ChunkMessage, Error, MediaKind};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode_all(dec: &mut ChunkDecoder, bytes: &[u8]) -> Result<Vec<ChunkMessage>, Error> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(m) = dec.decode(&mut buf)? {
        out.push(m);
    }
    assert!(buf.is_empty(), "{} bytes left", buf.len());
    Ok(out)
}

#[test]
fn basic_header_forms() {
    for (csid, header) in [
        (2u32, "02"),
        (63, "3f"),
        (64, "00 00"),
        (319, "00 ff"),
        (320, "01 00 01"),
        (65599, "01 ff ff"),
    ] {
        let mut out = BytesMut::new();
        encode_message(&mut out, csid, 1, 9, 0x10, &[0xaa], 128);
        let h = hex(header);
        assert_eq!(&out[..h.len()], &h[..], "csid {csid}");
        // Then the 11-byte type 0 message header: ts 0x000010, length 1, type 9, stream 1 (little endian).
        assert_eq!(
            &out[h.len()..],
            &hex("000010 000001 09 01000000 aa")[..],
            "csid {csid}"
        );
        let m = decode_all(&mut ChunkDecoder::new(1000, 8), &out).unwrap();
        assert_eq!(
            (m[0].csid, m[0].timestamp, m[0].stream_id, &m[0].payload[..]),
            (csid, 0x10, 1, &[0xaa][..])
        );
    }
}

/// The connect command ffmpeg 5.1 sent when publishing to rtmp://127.0.0.1:19360/live/test (chunk size 128).
const FFMPEG_CONNECT: &str = "0300000000008c1400000000020007636f6e6e656374003ff000000000000003000361707002\
    00046c69766500047479706502000a6e6f6e707269766174650008666c617368566572020024464d4c452f332e302028636f6d\
    70617469626c653b204c61766635392e32372e313030290005746355726c02001b72746d703a2f2f3132372e302e302e313a31c3\
    393336302f6c697665000009";

#[test]
fn ffmpeg_connect_command() {
    let m = decode_all(&mut ChunkDecoder::new(1 << 20, 8), &hex(FFMPEG_CONNECT)).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0].csid, m[0].type_id, m[0].stream_id, m[0].payload.len()),
        (3, 20, 0, 140)
    );
    let v = amf0::decode_all(&m[0].payload).unwrap();
    assert_eq!(v[0], Value::string("connect"));
    assert_eq!(v[1], Value::Number(1.0));
    assert_eq!(v[2].get("app"), Some(&Value::string("live")));
    assert_eq!(v[2].get("type"), Some(&Value::string("nonprivate")));
    assert_eq!(
        v[2].get("flashVer"),
        Some(&Value::string("FMLE/3.0 (compatible; Lavf59.27.100)"))
    );
    assert_eq!(
        v[2].get("tcUrl"),
        Some(&Value::string("rtmp://127.0.0.1:19360/live"))
    );
    // Our encoder produces the same bytes for the same message.
    let mut out = BytesMut::new();
    encode_message(&mut out, 3, 0, 20, 0, &m[0].payload, 128);
    assert_eq!(&out[..], &hex(FFMPEG_CONNECT)[..]);
}

#[test]
fn formats_1_2_3_apply_deltas() {
    let bytes = hex("04 000064 000002 08 01000000 aabb   \
         44 00000a 000003 09 ccddee          \
         84 000005 1122 33                   \
         c4 445566");
    let m = decode_all(&mut ChunkDecoder::new(1000, 8), &bytes).unwrap();
    let got: Vec<(u32, u8, u32, Vec<u8>)> = m
        .iter()
        .map(|m| (m.timestamp, m.type_id, m.stream_id, m.payload.to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            (100, 8, 1, vec![0xaa, 0xbb]),
            (110, 9, 1, vec![0xcc, 0xdd, 0xee]),
            (115, 9, 1, vec![0x11, 0x22, 0x33]),
            // Format 3 starting a message reuses the last delta (5).
            (120, 9, 1, vec![0x44, 0x55, 0x66]),
        ]
    );
}

#[test]
fn format3_after_format0_uses_its_timestamp_as_delta() {
    let bytes = hex("04 000064 000001 08 01000000 aa  c4 bb");
    let m = decode_all(&mut ChunkDecoder::new(1000, 8), &bytes).unwrap();
    assert_eq!((m[0].timestamp, m[1].timestamp), (100, 200));
}

#[test]
fn extended_timestamp_repeated_or_not() {
    // 4-byte message at chunk size 2: fmt 0 with extended timestamp 0x01000000, then a fmt 3 continuation.
    let repeated = hex("04 ffffff 000004 09 01000000 01000000 aabb  c4 01000000 ccdd");
    let not_repeated = hex("04 ffffff 000004 09 01000000 01000000 aabb  c4 ccdd");
    for bytes in [repeated, not_repeated] {
        let mut dec = ChunkDecoder::new(1000, 8);
        dec.set_chunk_size(2);
        let m = decode_all(&mut dec, &bytes).unwrap();
        assert_eq!(
            (m[0].timestamp, &m[0].payload[..]),
            (0x0100_0000, &[0xaa, 0xbb, 0xcc, 0xdd][..])
        );
    }
    // Our encoder repeats it, as librtmp and ffmpeg expect.
    let mut out = BytesMut::new();
    encode_media_message(
        &mut out,
        4,
        1,
        MediaKind::Video,
        0x0100_0000,
        &[0xaa, 0xbb, 0xcc, 0xdd],
        2,
    );
    assert_eq!(
        &out[..],
        &hex("04 ffffff 000004 09 01000000 01000000 aabb  c4 01000000 ccdd")[..]
    );
}

#[test]
fn interleaved_chunk_streams() {
    // Audio on csid 4 and video on csid 6, chunk size 2, chunks alternating.
    let bytes = hex("04 000001 000004 08 01000000 a1a2 \
         06 000002 000005 09 01000000 b1b2 \
         c4 a3a4 \
         c6 b3b4 \
         c6 b5");
    let mut dec = ChunkDecoder::new(1000, 8);
    dec.set_chunk_size(2);
    let m = decode_all(&mut dec, &bytes).unwrap();
    assert_eq!((m[0].csid, &m[0].payload[..]), (4, &hex("a1a2a3a4")[..]));
    assert_eq!((m[1].csid, &m[1].payload[..]), (6, &hex("b1b2b3b4b5")[..]));
}

#[test]
fn abort_drops_partial_message() {
    let mut dec = ChunkDecoder::new(1000, 8);
    dec.set_chunk_size(2);
    let mut buf = BytesMut::from(&hex("04 000001 000004 08 01000000 a1a2")[..]);
    assert_eq!(dec.decode(&mut buf).unwrap(), None);
    dec.abort(4);
    // A fresh format 3 chunk now starts a new 4-byte message.
    buf.extend_from_slice(&hex("c4 0102 c4 0304"));
    let m = dec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(&m.payload[..], &[1, 2, 3, 4]);
}

#[test]
fn zero_length_message() {
    let m = decode_all(
        &mut ChunkDecoder::new(1000, 8),
        &hex("03 000000 000000 14 00000000"),
    )
    .unwrap();
    assert!(m[0].payload.is_empty());
}

#[test]
fn amf0_bytes() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::Number(1.0), "00 3ff0000000000000"),
        (Value::Boolean(true), "01 01"),
        (Value::string("ab"), "02 0002 6162"),
        (Value::object([("a", Value::Null)]), "03 0001 61 05 000009"),
        (Value::Undefined, "06"),
        (
            Value::EcmaArray(vec![("k".into(), Value::Boolean(false))]),
            "08 00000001 0001 6b 0100 000009",
        ),
        (
            Value::StrictArray(vec![Value::Null, Value::Number(0.0)]),
            "0a 00000002 05 00 0000000000000000",
        ),
        (
            Value::Date {
                millis: 0.0,
                timezone: 0,
            },
            "0b 0000000000000000 0000",
        ),
        (Value::LongString("x".into()), "0c 00000001 78"),
    ];
    for (v, h) in cases {
        let mut out = BytesMut::new();
        amf0::encode(&v, &mut out);
        assert_eq!(&out[..], &hex(h)[..], "{v:?}");
        assert_eq!(amf0::decode_all(&out).unwrap(), vec![v]);
    }
    // Typed object reads as an object, XML as a long string, 0x0d as undefined.
    assert_eq!(
        amf0::decode_all(&hex("10 0001 43 0001 61 05 000009  0f 00000001 78  0d")).unwrap(),
        vec![
            Value::object([("a", Value::Null)]),
            Value::LongString("x".into()),
            Value::Undefined
        ]
    );
    // An ECMA array without its end marker at the end of a body (seen from some encoders).
    assert_eq!(
        amf0::decode_all(&hex("08 00000001 0001 6b 0101")).unwrap(),
        vec![Value::EcmaArray(vec![("k".into(), Value::Boolean(true))])]
    );
    let v = Value::object([("a", Value::Number(2.0)), ("b", Value::string("c"))]);
    assert_eq!(v.get("b").and_then(Value::as_str), Some("c"));
    assert_eq!(v.get("a").and_then(Value::as_number), Some(2.0));
    assert_eq!(v.get("z"), None);
}
