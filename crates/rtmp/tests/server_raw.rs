//! The server session driven by hand-written chunks: command replies, control messages, odd inputs.

mod common;

use common::{command, info_code, RawClient};
use rtmp::amf0::{self, Value};
use rtmp::bytes::{BufMut, BytesMut};
use rtmp::{MediaKind, ServerEvent, SessionConfig};

fn connected() -> RawClient {
    let mut c = RawClient::new(SessionConfig::default());
    c.connect();
    c
}

#[test]
fn connect_reply_sequence() {
    let mut c = RawClient::new(SessionConfig::default());
    let obj = Value::object([
        ("app", Value::string("live")),
        ("tcUrl", Value::string("rtmp://h/live?k=v")),
        ("objectEncoding", Value::Number(3.0)),
    ]);
    c.send_command(0, "connect", 1.0, obj, &[]);
    assert_eq!(
        c.events,
        vec![ServerEvent::Connect {
            app: "live".into(),
            tc_url: Some("rtmp://h/live?k=v".into()),
            query: Some("k=v".into())
        }]
    );
    assert!(
        c.received().is_empty(),
        "nothing is sent before the application decides"
    );
    c.server.accept_connect();
    let msgs = c.received();
    let types: Vec<u8> = msgs.iter().map(|m| m.type_id).collect();
    assert_eq!(types, vec![5, 6, 1, 20]);
    assert_eq!(&msgs[0].payload[..], &2_500_000u32.to_be_bytes());
    assert_eq!(&msgs[1].payload[..], &[0x00, 0x26, 0x25, 0xa0, 0x02]);
    assert_eq!(&msgs[2].payload[..], &4096u32.to_be_bytes());
    assert_eq!(c.server.out_chunk_size(), 4096);
    let v = amf0::decode_all(&msgs[3].payload).unwrap();
    assert_eq!(v[0], Value::string("_result"));
    assert_eq!(v[1], Value::Number(1.0));
    assert_eq!(
        v[2].get("fmsVer").and_then(Value::as_str),
        Some("FMS/3,0,1,123")
    );
    assert_eq!(info_code(&v), Some("NetConnection.Connect.Success"));
    assert_eq!(v[3].get("objectEncoding"), Some(&Value::Number(3.0)));
}

#[test]
fn plain_publish_without_fmle_commands() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    let r = c.received_commands();
    assert_eq!(
        r[0].1,
        vec![
            Value::string("_result"),
            Value::Number(2.0),
            Value::Null,
            Value::Number(1.0)
        ]
    );
    c.send_command(
        1,
        "publish",
        3.0,
        Value::Null,
        &[Value::string("s1"), Value::string("record")],
    );
    assert_eq!(
        c.events.pop(),
        Some(ServerEvent::Publish {
            stream_id: 1,
            name: "s1".into(),
            query: None,
            publish_type: "record".into()
        })
    );
    c.server.accept_publish(1);
    let msgs = c.received();
    assert_eq!(msgs[0].type_id, 4);
    assert_eq!(&msgs[0].payload[..], &[0, 0, 0, 0, 0, 1], "StreamBegin 1");
    let v = amf0::decode_all(&msgs[1].payload).unwrap();
    assert_eq!(
        (msgs[1].stream_id, info_code(&v)),
        (1, Some("NetStream.Publish.Start"))
    );

    // Media, AMF3 data and aggregate messages.
    c.send(6, 1, 9, 100, &[0x17, 1]).unwrap();
    let mut amf3_meta = BytesMut::from(&[0u8][..]);
    amf0::encode(&Value::string("onMetaData"), &mut amf3_meta);
    amf0::encode(&Value::object([("a", Value::Number(1.0))]), &mut amf3_meta);
    c.send(5, 1, 15, 0, &amf3_meta).unwrap();
    let mut agg = BytesMut::new();
    for (t, ts, body) in [(8u8, 1000u32, &[0xaf, 1][..]), (9, 1040, &[0x27, 1, 2][..])] {
        agg.put_u8(t);
        agg.put_uint(body.len() as u64, 3);
        agg.put_uint(u64::from(ts & 0xFF_FFFF), 3);
        agg.put_u8((ts >> 24) as u8);
        agg.put_uint(0, 3);
        agg.put_slice(body);
        agg.put_u32(11 + body.len() as u32);
    }
    c.send(6, 1, 22, 5000, &agg).unwrap();
    let media: Vec<_> = c
        .events
        .drain(..)
        .filter_map(|e| match e {
            ServerEvent::Media {
                kind,
                timestamp,
                payload,
                ..
            } => Some((kind, timestamp, payload.to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(
        media,
        vec![
            (MediaKind::Video, 100, vec![0x17, 1]),
            (MediaKind::Data, 0, amf3_meta[1..].to_vec()),
            (MediaKind::Audio, 5000, vec![0xaf, 1]),
            (MediaKind::Video, 5040, vec![0x27, 1, 2]),
        ]
    );

    c.send_command(0, "deleteStream", 4.0, Value::Null, &[Value::Number(1.0)]);
    assert_eq!(c.events, vec![ServerEvent::Unpublish { stream_id: 1 }]);
}

#[test]
fn fmle_helper_commands_are_answered() {
    let mut c = connected();
    c.send_command(0, "releaseStream", 2.0, Value::Null, &[Value::string("s")]);
    c.send_command(0, "FCPublish", 3.0, Value::Null, &[Value::string("s")]);
    c.send_command(
        0,
        "getStreamLength",
        4.0,
        Value::Null,
        &[Value::string("s")],
    );
    c.send_command(0, "_checkbw", 5.0, Value::Null, &[]);
    c.send_command(0, "receiveAudio", 0.0, Value::Null, &[Value::Boolean(true)]);
    let names: Vec<(String, f64)> = c
        .received_commands()
        .into_iter()
        .map(|(_, v)| (v[0].as_str().unwrap().to_owned(), v[1].as_number().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("_result".into(), 2.0),
            ("onFCPublish".into(), 0.0),
            ("_result".into(), 3.0),
            ("_result".into(), 4.0),
            ("_result".into(), 5.0)
        ]
    );
    assert!(c.events.is_empty());
}

#[test]
fn unknown_command_gets_error_and_session_continues() {
    let mut c = connected();
    c.send_command(0, "fooBar", 7.0, Value::Null, &[]);
    let r = c.received_commands();
    assert_eq!(r[0].1[0], Value::string("_error"));
    assert_eq!(r[0].1[1], Value::Number(7.0));
    assert_eq!(info_code(&r[0].1), Some("NetConnection.Call.Failed"));
    assert!(matches!(
        c.events.pop(),
        Some(ServerEvent::Unhandled { .. })
    ));
    // Unknown notification (transaction 0): no reply.
    c.send_command(0, "someNotify", 0.0, Value::Null, &[]);
    assert!(c.received().is_empty());
    c.send_command(0, "createStream", 8.0, Value::Null, &[]);
    assert_eq!(c.received_commands()[0].1[0], Value::string("_result"));
}

#[test]
fn amf3_command_is_decoded() {
    let mut c = connected();
    let mut body = BytesMut::from(&[0u8][..]);
    body.extend_from_slice(&command("createStream", 2.0, Value::Null, &[]));
    c.send(3, 0, 17, 0, &body).unwrap();
    let r = c.received_commands();
    assert_eq!(
        r[0].1,
        vec![
            Value::string("_result"),
            Value::Number(2.0),
            Value::Null,
            Value::Number(1.0)
        ]
    );
}

#[test]
fn garbage_amf_in_a_command_gets_a_polite_reply() {
    let mut c = connected();
    let mut body = BytesMut::new();
    amf0::encode(&Value::string("createStream"), &mut body);
    amf0::encode(&Value::Number(9.0), &mut body);
    body.extend_from_slice(&[0x03, 0x00, 0x05, b'a']); // truncated object
    c.send(3, 0, 20, 0, &body).unwrap();
    let r = c.received_commands();
    assert_eq!(
        (r[0].1[0].as_str(), info_code(&r[0].1)),
        (Some("_error"), Some("NetConnection.Call.Failed"))
    );
    assert!(matches!(
        c.events.pop(),
        Some(ServerEvent::Unhandled { .. })
    ));
    // Complete garbage: no reply, still alive.
    c.send(3, 0, 20, 0, &[0xff, 0xfe, 0x00]).unwrap();
    assert!(c.received().is_empty());
    c.send_command(0, "createStream", 10.0, Value::Null, &[]);
    assert_eq!(c.received_commands().len(), 1);
}

#[test]
fn unknown_message_type_is_reported_not_fatal() {
    let mut c = connected();
    c.send(3, 0, 0x42, 0, &[1, 2, 3]).unwrap();
    match c.events.pop() {
        Some(ServerEvent::Unhandled { description, .. }) => {
            assert!(description.contains("66"), "{description}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ping_request_is_answered_and_server_acknowledges() {
    let mut c = connected();
    c.send(2, 0, 4, 0, &[0, 6, 0, 0, 0x12, 0x34]).unwrap();
    let m = c.received();
    assert_eq!(
        (m[0].type_id, &m[0].payload[..]),
        (4, &[0, 7, 0, 0, 0x12, 0x34][..])
    );
    // Window Acknowledgement Size from the client: the server acknowledges every 2000 bytes.
    c.send(2, 0, 5, 0, &2000u32.to_be_bytes()).unwrap();
    c.send(3, 0, 0x42, 0, &[0u8; 3000]).unwrap();
    let acks: Vec<_> = c
        .received()
        .into_iter()
        .filter(|m| m.type_id == 3)
        .collect();
    assert_eq!(acks.len(), 1);
    let seq = u32::from_be_bytes(acks[0].payload[..4].try_into().unwrap());
    assert_eq!(u64::from(seq), c.server.bytes_received());
}

#[test]
fn play_sequence_and_close_stream() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.received();
    let args = [
        Value::string("cam"),
        Value::Number(-1000.0),
        Value::Number(-1.0),
        Value::Boolean(false),
    ];
    c.send_command(1, "play", 3.0, Value::Null, &args);
    assert_eq!(
        c.events.pop(),
        Some(ServerEvent::Play {
            stream_id: 1,
            name: "cam".into(),
            query: None,
            start: -1000.0,
            duration: -1.0,
            reset: false
        })
    );
    c.server.accept_play(1);
    let msgs = c.received();
    let summary: Vec<(u8, Option<String>)> = msgs
        .iter()
        .map(|m| {
            let v = if m.type_id == 20 || m.type_id == 18 {
                amf0::decode_all(&m.payload).unwrap()
            } else {
                vec![]
            };
            let s = info_code(&v)
                .map(str::to_owned)
                .or_else(|| v.first().and_then(Value::as_str).map(str::to_owned));
            (m.type_id, s)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (4, None),
            (20, Some("NetStream.Play.Start".into())),
            (18, Some("|RtmpSampleAccess".into()))
        ]
    );
    c.send_command(1, "closeStream", 0.0, Value::Null, &[]);
    assert_eq!(c.events, vec![ServerEvent::PlayStop { stream_id: 1 }]);
}

#[test]
fn fc_unpublish_with_query_name() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.send_command(
        1,
        "publish",
        3.0,
        Value::Null,
        &[Value::string("s?txSecret=1")],
    );
    c.server.accept_publish(1);
    c.events.clear();
    c.send_command(
        0,
        "FCUnpublish",
        4.0,
        Value::Null,
        &[Value::string("s?txSecret=1")],
    );
    assert_eq!(c.events, vec![ServerEvent::Unpublish { stream_id: 1 }]);
    c.send_command(0, "deleteStream", 5.0, Value::Null, &[Value::Number(1.0)]);
    assert_eq!(c.events.len(), 1, "no second Unpublish");
    let names: Vec<_> = c
        .received_commands()
        .into_iter()
        .map(|(_, v)| v[0].clone())
        .collect();
    assert!(names.contains(&Value::string("onFCUnpublish")));
}

#[test]
fn set_data_frame_without_name_gets_on_metadata() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.send_command(1, "publish", 3.0, Value::Null, &[Value::string("s")]);
    c.server.accept_publish(1);
    c.events.clear();
    let mut body = BytesMut::new();
    amf0::encode(&Value::string("@setDataFrame"), &mut body);
    amf0::encode(&Value::object([("width", Value::Number(640.0))]), &mut body);
    c.send(5, 1, 18, 0, &body).unwrap();
    let Some(ServerEvent::Media {
        kind: MediaKind::Data,
        payload,
        ..
    }) = c.events.pop()
    else {
        panic!("no data event");
    };
    let v = amf0::decode_all(&payload).unwrap();
    assert_eq!(
        v,
        vec![
            Value::string("onMetaData"),
            Value::object([("width", Value::Number(640.0))])
        ]
    );
    // A plain onMetaData passes through byte for byte.
    let mut plain = BytesMut::new();
    amf0::encode(&Value::string("onMetaData"), &mut plain);
    amf0::encode(&Value::Null, &mut plain);
    c.send(5, 1, 18, 0, &plain).unwrap();
    assert!(matches!(c.events.pop(), Some(ServerEvent::Media { payload, .. }) if payload == plain));
}
