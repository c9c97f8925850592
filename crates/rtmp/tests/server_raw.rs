//! The server session driven by hand-written chunks: command replies, control messages, odd inputs.

mod common;

use common::{command, info_code, RawClient};
use rtmp::amf0::{self, Value};
use rtmp::bytes::{BufMut, BytesMut};
use rtmp::{Error, MediaKind, ServerEvent, SessionConfig};

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
            (MediaKind::Script, 0, amf3_meta[1..].to_vec()),
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

/// A type id RTMP does not define is not RTMP: the session fails at its header.
#[test]
fn undefined_message_type_is_fatal_at_its_header() {
    let mut c = connected();
    assert_eq!(
        c.send(3, 0, 0x42, 0, &[1, 2, 3]),
        Err(Error::UnknownMessageType {
            type_id: 0x42,
            csid: 3
        })
    );
}

/// A shared-object message is defined but unused by live streaming: reported, not fatal.
#[test]
fn shared_object_message_is_reported_not_fatal() {
    let mut c = connected();
    c.send(3, 0, 19, 0, &[1, 2, 3]).unwrap();
    match c.events.pop() {
        Some(ServerEvent::Unhandled { description, .. }) => {
            assert!(description.contains("19"), "{description}")
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
    c.send(3, 0, 19, 0, &[0u8; 3000]).unwrap();
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
        kind: MediaKind::Script,
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

/// C0 + C1 split anywhere: the server answers only once all 1537 bytes are in, and never before.
#[test]
fn handshake_waits_for_the_whole_c0c1() {
    let now = std::time::Instant::now();
    let mut c0c1 = vec![3u8];
    c0c1.resize(1 + 1536, 0);
    for split in [1, 1536] {
        let mut server = rtmp::ServerSession::new(SessionConfig::default(), now);
        server.handle_input(&c0c1[..split], now).unwrap();
        assert!(server.take_transmit().is_none(), "{split}");
        server.handle_input(&c0c1[split..], now).unwrap();
        assert_eq!(
            server.take_transmit().map(|r| r.len()),
            Some(1 + 2 * 1536),
            "{split}"
        );
    }
}

/// Media and data on a stream that is not publishing are dropped, not reported.
#[test]
fn media_before_publish_is_dropped() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.received();
    let mut meta = BytesMut::new();
    amf0::encode(&Value::string("onMetaData"), &mut meta);
    amf0::encode(&Value::object([("a", Value::Number(1.0))]), &mut meta);
    // Script data before publish is dropped (it is small and bounded on its own).
    c.send(5, 1, 18, 100, &meta).unwrap();
    // After publish but before accept_publish, or on another stream: dropped.
    c.send_command(1, "publish", 3.0, Value::Null, &[Value::string("s1")]);
    c.events.clear();
    for stream_id in [1, 7] {
        c.send(6, stream_id, 9, 100, &[0x17, 1]).unwrap();
        c.send(4, stream_id, 8, 100, &[0xaf, 1]).unwrap();
        c.send(5, stream_id, 18, 100, &meta).unwrap();
    }
    assert_eq!(c.events, [], "nothing is reported before accept_publish");
}

/// Before any `publish`, an audio, video or aggregate header ends the session at once: a peer that never
/// published cannot announce a multi-megabyte frame and trickle it.
#[test]
fn media_before_any_publish_is_refused_at_its_header() {
    for type_id in [8u8, 9, 22] {
        let mut c = connected();
        c.send_command(0, "createStream", 2.0, Value::Null, &[]);
        // 4 000 000 bytes announced, none sent.
        let header = [0x06, 0, 0, 0, 0x3d, 0x09, 0x00, type_id, 1, 0, 0, 0];
        assert_eq!(
            c.send_raw(&header),
            Err(Error::MediaBeforePublish {
                type_id,
                size: 4_000_000,
                csid: 6
            })
        );
    }
    // A play does not open the gate either.
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.send_command(1, "play", 3.0, Value::Null, &[Value::string("s1")]);
    assert!(matches!(
        c.send(6, 1, 9, 0, &[0x17, 1]),
        Err(Error::MediaBeforePublish { .. })
    ));
}

/// An AMF3 data message needs its format byte: an empty one is reported as malformed, not decoded.
#[test]
fn empty_amf3_data_is_malformed() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.send_command(1, "publish", 3.0, Value::Null, &[Value::string("s1")]);
    c.events.clear();
    c.server.accept_publish(1);
    c.received();
    c.send(5, 1, 15, 0, &[]).unwrap();
    match c.events.pop() {
        Some(ServerEvent::Unhandled {
            description,
            malformed,
        }) => {
            assert!(malformed);
            assert!(description.contains("15"), "{description}");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.events.is_empty());
}

/// `play` without start or duration gets the defaults (-2: live or recorded, -1: to the end) and reset true; a
/// numeric reset is true unless 0.
#[test]
fn play_defaults_and_numeric_reset() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.send_command(1, "play", 3.0, Value::Null, &[Value::string("cam")]);
    assert_eq!(
        c.events.pop(),
        Some(ServerEvent::Play {
            stream_id: 1,
            name: "cam".into(),
            query: None,
            start: -2.0,
            duration: -1.0,
            reset: true
        })
    );
    for (n, reset) in [(0.0, false), (1.0, true), (2.0, true)] {
        let mut c = connected();
        c.send_command(0, "createStream", 2.0, Value::Null, &[]);
        let args = [
            Value::string("cam"),
            Value::Number(0.0),
            Value::Number(5.0),
            Value::Number(n),
        ];
        c.send_command(1, "play", 3.0, Value::Null, &args);
        match c.events.pop() {
            Some(ServerEvent::Play {
                start,
                duration,
                reset: got,
                ..
            }) => assert_eq!((start, duration, got), (0.0, 5.0, reset), "{n}"),
            other => panic!("{other:?}"),
        }
    }
}

/// FCUnpublish is answered with onFCUnpublish, and with a `_result` when it carries a transaction id.
#[test]
fn fc_unpublish_result_follows_the_transaction_id() {
    for tid in [0.0, 4.0] {
        let mut c = connected();
        c.send_command(0, "FCUnpublish", tid, Value::Null, &[Value::string("s")]);
        let names: Vec<_> = c
            .received_commands()
            .into_iter()
            .map(|(_, v)| (v[0].clone(), v[1].clone()))
            .collect();
        let mut expected = vec![(Value::string("onFCUnpublish"), Value::Number(0.0))];
        if tid != 0.0 {
            expected.push((Value::string("_result"), Value::Number(tid)));
        }
        assert_eq!(names, expected, "{tid}");
    }
}

/// `connect` is taken once per connection: a second one (to switch apps on the same socket) gets an `_error`
/// and is reported as an unknown command, not as a new Connect.
#[test]
fn a_second_connect_is_refused() {
    let mut c = connected();
    c.events.clear();
    let obj = Value::object([
        ("app", Value::string("other")),
        ("tcUrl", Value::string("rtmp://h/other")),
    ]);
    c.send_command(0, "connect", 2.0, obj, &[]);
    assert!(
        matches!(
            c.events.as_slice(),
            [ServerEvent::Unhandled {
                malformed: false,
                ..
            }]
        ),
        "{:?}",
        c.events
    );
    let r = c.received_commands();
    assert_eq!(
        (&r[0].1[0], &r[0].1[1]),
        (&Value::string("_error"), &Value::Number(2.0))
    );
}

/// The status code of the last onStatus the server sent.
fn last_status(c: &mut RawClient) -> Option<String> {
    c.received_commands()
        .iter()
        .rev()
        .find_map(|(_, v)| info_code(v).map(str::to_owned))
}

/// publish or play on a stream id the client never created creates it implicitly, up to MAX_MESSAGE_STREAMS
/// streams per connection.
#[test]
fn implicit_streams_are_bounded() {
    let mut c = connected();
    c.send_command(5, "publish", 3.0, Value::Null, &[Value::string("s5")]);
    assert!(
        matches!(
            c.events.pop(),
            Some(ServerEvent::Publish { stream_id: 5, .. })
        ),
        "{:?}",
        c.events
    );
    for i in 1..rtmp::MAX_MESSAGE_STREAMS {
        c.send_command(0, "createStream", 10.0 + i as f64, Value::Null, &[]);
    }
    c.received();
    c.events.clear();
    c.send_command(9999, "play", 3.0, Value::Null, &[Value::string("cam")]);
    assert_eq!(c.events, []);
    assert_eq!(
        last_status(&mut c).as_deref(),
        Some("NetStream.Play.Failed")
    );
}

/// A second publish or play on a stream that is already pending or busy is refused; the first one stands.
#[test]
fn a_busy_stream_refuses_another_publish_or_play() {
    for (first, second, refusal) in [
        ("publish", "publish", "NetStream.Publish.BadConnection"),
        ("publish", "play", "NetStream.Play.Failed"),
        ("play", "play", "NetStream.Play.Failed"),
        ("play", "publish", "NetStream.Publish.BadConnection"),
    ] {
        let mut c = connected();
        c.send_command(0, "createStream", 2.0, Value::Null, &[]);
        c.send_command(1, first, 3.0, Value::Null, &[Value::string("a")]);
        assert_eq!(c.events.len(), 1, "{first}");
        c.received();
        c.send_command(1, second, 4.0, Value::Null, &[Value::string("b")]);
        assert_eq!(c.events.len(), 1, "{first} then {second}: {:?}", c.events);
        assert_eq!(
            last_status(&mut c).as_deref(),
            Some(refusal),
            "{first} then {second}"
        );
    }
}

/// FCUnpublish with a name no stream publishes ends the only publishing stream (clients that send another name
/// or none); with two publishing streams it ends neither.
#[test]
fn fc_unpublish_falls_back_to_the_only_publishing_stream() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.send_command(1, "publish", 3.0, Value::Null, &[Value::string("s1")]);
    c.server.accept_publish(1);
    c.events.clear();
    c.send_command(
        0,
        "FCUnpublish",
        0.0,
        Value::Null,
        &[Value::string("other")],
    );
    assert_eq!(c.events, [ServerEvent::Unpublish { stream_id: 1 }]);

    let mut c = connected();
    for (id, name) in [(1, "a"), (2, "b")] {
        c.send_command(id, "publish", 3.0, Value::Null, &[Value::string(name)]);
        c.server.accept_publish(id);
    }
    c.events.clear();
    c.send_command(
        0,
        "FCUnpublish",
        0.0,
        Value::Null,
        &[Value::string("other")],
    );
    assert_eq!(c.events, []);
    c.send_command(0, "FCUnpublish", 0.0, Value::Null, &[Value::string("b")]);
    assert_eq!(c.events, [ServerEvent::Unpublish { stream_id: 2 }]);
}

/// deleteStream removes that stream only: another stream keeps publishing.
#[test]
fn delete_stream_leaves_the_other_streams() {
    let mut c = connected();
    c.send_command(0, "createStream", 2.0, Value::Null, &[]);
    c.send_command(0, "createStream", 3.0, Value::Null, &[]);
    c.send_command(2, "publish", 4.0, Value::Null, &[Value::string("s2")]);
    c.server.accept_publish(2);
    c.events.clear();
    c.send_command(0, "deleteStream", 5.0, Value::Null, &[Value::Number(1.0)]);
    assert_eq!(c.events, []);
    c.send(6, 2, 9, 100, &[0x17, 1]).unwrap();
    assert!(
        matches!(
            c.events.as_slice(),
            [ServerEvent::Media {
                stream_id: 2,
                kind: MediaKind::Video,
                ..
            }]
        ),
        "{:?}",
        c.events
    );
}

/// deleteStream ignores ids outside 1..=u32::MAX rather than saturating them onto a real stream (a client may
/// use any message stream id, u32::MAX included).
#[test]
fn delete_stream_ignores_out_of_range_ids() {
    let mut c = connected();
    c.send_command(u32::MAX, "publish", 3.0, Value::Null, &[Value::string("s")]);
    c.server.accept_publish(u32::MAX);
    c.events.clear();
    for id in [4_294_967_301.0, 1e300, f64::INFINITY, -5.0, 0.0, 0.5] {
        c.send_command(0, "deleteStream", 5.0, Value::Null, &[Value::Number(id)]);
        assert_eq!(c.events, [], "{id}");
    }
    c.send_command(
        0,
        "deleteStream",
        6.0,
        Value::Null,
        &[Value::Number(4_294_967_295.0)],
    );
    assert_eq!(
        c.events,
        [ServerEvent::Unpublish {
            stream_id: u32::MAX
        }]
    );
}

/// A string of connect over `max_field_bytes` (here a 10 000-byte tcUrl, under the 64 KiB command bound) is
/// answered with `_error` NetConnection.Connect.Rejected naming the field, its length and the limit; then the
/// session fails with the same words.
#[test]
fn a_long_connect_field_is_rejected_then_fatal() {
    let mut c = RawClient::new(SessionConfig::default());
    let obj = Value::object([
        ("app", Value::string("live")),
        ("tcUrl", Value::string("t".repeat(10_000))),
    ]);
    let body = command("connect", 1.0, obj, &[]);
    let e = c.send(3, 0, 20, 0, &body).unwrap_err();
    let text = "connect field tcUrl is 10000 bytes; the limit is 4096 ([rtmp] max_field_bytes)";
    assert_eq!(e.to_string(), text);
    assert!(c.events.is_empty(), "{:?}", c.events);
    let answers = c.received_commands();
    let (_, values) = answers.last().expect("an answer");
    assert_eq!(values[0], Value::string("_error"));
    assert_eq!(info_code(values), Some("NetConnection.Connect.Rejected"));
    assert_eq!(values[3].get("description"), Some(&Value::string(text)));
    assert_eq!(c.send_raw(&[]), Err(e), "the error is sticky");
}

/// An over-long stream name in publish gets an error onStatus (NetStream.Publish.BadName), in play
/// NetStream.Play.Failed, each naming the field; then the session fails.
#[test]
fn a_long_publish_or_play_name_is_refused_then_fatal() {
    for (name, code) in [
        ("publish", "NetStream.Publish.BadName"),
        ("play", "NetStream.Play.Failed"),
    ] {
        let mut c = connected();
        c.send_command(0, "createStream", 2.0, Value::Null, &[]);
        c.received();
        let long = format!("cam?txSecret={}", "a".repeat(5000));
        let body = command(name, 3.0, Value::Null, &[Value::string(&long)]);
        let e = c.send(3, 1, 20, 0, &body).unwrap_err();
        assert!(
            matches!(&e, Error::FieldTooLong { command, field, len, max: 4096 }
                if command == &name && field == "name" && *len == long.len()),
            "{e:?}"
        );
        let answers = c.received_commands();
        let (stream_id, values) = answers.last().expect("an answer");
        assert_eq!((*stream_id, info_code(values)), (1, Some(code)));
        assert!(
            c.events
                .iter()
                .all(|e| !matches!(e, ServerEvent::Publish { .. } | ServerEvent::Play { .. })),
            "{:?}",
            c.events
        );
    }
    // At the limit, a name goes through.
    let mut c = connected();
    let name = "n".repeat(4096);
    c.send_command(1, "publish", 3.0, Value::Null, &[Value::string(&name)]);
    assert!(matches!(c.events.pop(), Some(ServerEvent::Publish { name: n, .. }) if n == name));
}
