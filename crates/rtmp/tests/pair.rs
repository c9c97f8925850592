//! Client and server sessions talking to each other.

mod common;

use common::{Pair, Policy};
use rtmp::amf0::{self, Value};
use rtmp::bytes::BytesMut;
use rtmp::{ClientEvent, HandshakeMode, MediaKind, ServerEvent, SessionConfig};

fn metadata() -> BytesMut {
    let mut b = BytesMut::new();
    amf0::encode(&Value::string("@setDataFrame"), &mut b);
    amf0::encode(&Value::string("onMetaData"), &mut b);
    amf0::encode(
        &Value::EcmaArray(vec![
            ("width".into(), Value::Number(1280.0)),
            ("height".into(), Value::Number(720.0)),
        ]),
        &mut b,
    );
    b
}

fn publishing_pair(client: SessionConfig, server: SessionConfig) -> Pair {
    let mut p = Pair::new(client, server);
    p.client
        .connect("live?vhost=a", "rtmp://example.com/live?vhost=a");
    p.client.publish("room1?txSecret=abc&txTime=5F5E0FF");
    p.drive();
    p
}

#[test]
fn connect_and_fmle_publish() {
    let mut p = publishing_pair(SessionConfig::default(), SessionConfig::default());
    assert_eq!(
        p.server_events[0],
        ServerEvent::Connect {
            app: "live".into(),
            tc_url: Some("rtmp://example.com/live?vhost=a".into()),
            query: Some("vhost=a".into()),
        }
    );
    assert_eq!(
        p.server_events[1],
        ServerEvent::Publish {
            stream_id: 1,
            name: "room1".into(),
            query: Some("txSecret=abc&txTime=5F5E0FF".into()),
            publish_type: "live".into(),
        }
    );
    assert_eq!(
        p.client_events,
        vec![
            ClientEvent::HandshakeDone,
            ClientEvent::Connected,
            ClientEvent::StreamBegin,
            ClientEvent::Publishing { stream_id: 1 }
        ]
    );
    // The client used the digest handshake and the server answered in kind (S1 version field set).
    assert_eq!(&p.client_wire[5..9], &[9, 0, 124, 2]);
    assert_eq!(&p.server_wire[5..9], &[0x0d, 0x0e, 0x0a, 0x0d]);

    p.client.send_media(MediaKind::Script, 0, &metadata());
    p.client
        .send_media(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0, 1, 2, 3]);
    p.client
        .send_media(MediaKind::Audio, 23, &[0xaf, 0, 0x12, 0x10]);
    p.drive();
    let media = p.server_media();
    assert_eq!(media.len(), 3);
    // @setDataFrame is stripped: the payload is an FLV script tag body.
    let (_, kind, _, data) = &media[0];
    assert_eq!(*kind, MediaKind::Script);
    let values = amf0::decode_all(data).unwrap();
    assert_eq!(values[0], Value::string("onMetaData"));
    assert_eq!(values[1].get("width"), Some(&Value::Number(1280.0)));
    assert_eq!(
        media[1],
        (
            1,
            MediaKind::Video,
            0,
            vec![0x17, 0, 0, 0, 0, 1, 2, 3].into()
        )
    );
    assert_eq!(
        media[2],
        (1, MediaKind::Audio, 23, vec![0xaf, 0, 0x12, 0x10].into())
    );

    p.client.close();
    p.drive();
    let unpublish: Vec<_> = p
        .server_events
        .iter()
        .filter(|e| matches!(e, ServerEvent::Unpublish { .. }))
        .collect();
    assert_eq!(
        unpublish,
        vec![&ServerEvent::Unpublish { stream_id: 1 }],
        "FCUnpublish then deleteStream: once"
    );
}

#[test]
fn simple_handshake_client() {
    let client = SessionConfig {
        client_handshake: HandshakeMode::Simple,
        ..SessionConfig::default()
    };
    let p = publishing_pair(client, SessionConfig::default());
    assert!(p
        .client_events
        .contains(&ClientEvent::Publishing { stream_id: 1 }));
    assert_eq!(
        &p.server_wire[5..9],
        &[0, 0, 0, 0],
        "simple reply to a simple C1"
    );
}

#[test]
fn play_media_and_end() {
    let mut p = Pair::default_pair();
    p.client.connect("live", "rtmp://h/live");
    p.client.play("cam?token=1");
    p.drive();
    let play = p
        .server_events
        .iter()
        .find(|e| matches!(e, ServerEvent::Play { .. }))
        .unwrap();
    assert_eq!(
        play,
        &ServerEvent::Play {
            stream_id: 1,
            name: "cam".into(),
            query: Some("token=1".into()),
            start: -2.0,
            duration: -1.0,
            reset: true,
        }
    );
    assert_eq!(
        p.client_events,
        vec![
            ClientEvent::HandshakeDone,
            ClientEvent::Connected,
            ClientEvent::StreamBegin,
            ClientEvent::Status {
                level: "status".into(),
                code: "NetStream.Play.Reset".into(),
                description: "Playing and resetting cam.".into()
            },
            ClientEvent::Playing { stream_id: 1 },
        ]
    );
    let mut meta = BytesMut::new();
    amf0::encode(&Value::string("onMetaData"), &mut meta);
    amf0::encode(
        &Value::object([("duration", Value::Number(0.0))]),
        &mut meta,
    );
    p.server.send_media(1, MediaKind::Script, 0, &meta);
    p.server
        .send_media(1, MediaKind::Video, 40, &[0x27, 1, 0, 0, 0]);
    p.server.end_play(1);
    p.drive();
    let media = p.client_media();
    assert_eq!(media.len(), 2, "|RtmpSampleAccess is not surfaced as media");
    assert_eq!(media[0], (MediaKind::Script, 0, meta.freeze()));
    assert_eq!(
        media[1],
        (MediaKind::Video, 40, vec![0x27, 1, 0, 0, 0].into())
    );
    assert!(p.client_events.contains(&ClientEvent::Status {
        level: "status".into(),
        code: "NetStream.Play.UnpublishNotify".into(),
        description: "The stream is unpublished.".into()
    }));
    assert_eq!(p.client_events.last(), Some(&ClientEvent::StreamEof));

    p.client.close();
    p.drive();
    assert_eq!(
        p.server_events.last(),
        Some(&ServerEvent::PlayStop { stream_id: 1 })
    );
}

#[test]
fn chunk_size_changes_both_ways_and_extended_timestamps() {
    let server = SessionConfig {
        out_chunk_size: 200,
        ..SessionConfig::default()
    };
    let mut p = publishing_pair(SessionConfig::default(), server);
    assert_eq!(p.server.out_chunk_size(), 200);
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // Default client chunk size 128: 547 chunks, each continuation repeating the extended timestamp.
    p.client.send_media(MediaKind::Video, 0xFFFFFF, &big);
    p.client.set_chunk_size(4000);
    p.client.send_media(MediaKind::Video, 0x1234_5678, &big);
    p.client
        .send_media(MediaKind::Audio, 0xFFFF_FFFF, &big[..1000]);
    p.client.set_chunk_size(65536);
    p.client.send_media(MediaKind::Video, 5, &big);
    p.drive();
    let media = p.server_media();
    assert_eq!(media.len(), 4);
    assert_eq!((media[0].2, &media[0].3[..]), (0xFFFFFF, &big[..]));
    assert_eq!((media[1].2, &media[1].3[..]), (0x1234_5678, &big[..]));
    assert_eq!((media[2].2, &media[2].3[..]), (0xFFFF_FFFF, &big[..1000]));
    assert_eq!((media[3].2, &media[3].3[..]), (5, &big[..]));

    // Server to client, via a play session with a small chunk size and extended timestamps.
    let mut q = Pair::new(
        SessionConfig::default(),
        SessionConfig {
            out_chunk_size: 128,
            ..SessionConfig::default()
        },
    );
    q.client.connect("live", "rtmp://h/live");
    q.client.play("x");
    q.drive();
    q.server.send_media(1, MediaKind::Video, 0x0100_0000, &big);
    q.server
        .send_media(1, MediaKind::Audio, 0xFFFFFE, &big[..300]);
    q.drive();
    let media = q.client_media();
    assert_eq!(media.len(), 2);
    assert_eq!((media[0].1, &media[0].2[..]), (0x0100_0000, &big[..]));
    assert_eq!((media[1].1, &media[1].2[..]), (0xFFFFFE, &big[..300]));
}

#[test]
fn set_chunk_size_before_handshake_is_queued() {
    let mut p = Pair::default_pair();
    p.client.set_chunk_size(1000);
    p.client.connect("live", "rtmp://h/live");
    p.client.publish("s");
    p.drive();
    assert!(p
        .client_events
        .contains(&ClientEvent::Publishing { stream_id: 1 }));
    // The byte right after C0+C1+C2 is a chunk basic header on csid 2 (Set Chunk Size).
    assert_eq!(p.client_wire[1 + 2 * 1536], 0x02);
}

#[test]
fn rejections_reach_the_client() {
    let mut p = Pair::default_pair();
    p.policy = Policy {
        reject_publish: Some(("NetStream.Publish.BadName".into(), "bad signature".into())),
        ..Policy::default()
    };
    p.client.connect("live", "rtmp://h/live");
    p.client.publish("s?txSecret=wrong");
    p.drive();
    assert_eq!(
        p.client_events.last(),
        Some(&ClientEvent::PublishRejected {
            code: "NetStream.Publish.BadName".into(),
            description: "bad signature".into()
        })
    );
    // Media after a rejection goes nowhere.
    p.client.send_media(MediaKind::Video, 0, &[1, 2, 3]);
    p.drive();
    assert!(p.server_media().is_empty());

    let mut p = Pair::default_pair();
    p.policy.reject_play = Some((
        "NetStream.Play.StreamNotFound".into(),
        "no such stream".into(),
    ));
    p.client.connect("live", "rtmp://h/live");
    p.client.play("missing");
    p.drive();
    assert_eq!(
        p.client_events.last(),
        Some(&ClientEvent::PlayRejected {
            code: "NetStream.Play.StreamNotFound".into(),
            description: "no such stream".into()
        })
    );

    let mut p = Pair::default_pair();
    p.policy.reject_connect = Some("app not allowed".into());
    p.client.connect("nope", "rtmp://h/nope");
    p.client.publish("s");
    p.drive();
    assert_eq!(
        p.client_events.last(),
        Some(&ClientEvent::ConnectRejected {
            code: "NetConnection.Connect.Rejected".into(),
            description: "app not allowed".into()
        })
    );
    assert_eq!(
        p.server_events.len(),
        1,
        "no publish after a rejected connect"
    );
}

#[test]
fn delayed_accept_and_send_status() {
    let mut p = Pair::default_pair();
    p.policy.manual_streams = true;
    p.client.connect("live", "rtmp://h/live");
    p.client.publish("s");
    p.drive();
    assert!(!p
        .client_events
        .iter()
        .any(|e| matches!(e, ClientEvent::Publishing { .. })));
    p.server.accept_publish(1);
    p.server
        .send_status(1, "status", "NetStream.Publish.Idle", "idle");
    p.drive();
    assert!(p
        .client_events
        .contains(&ClientEvent::Publishing { stream_id: 1 }));
    assert_eq!(
        p.client_events.last(),
        Some(&ClientEvent::Status {
            level: "status".into(),
            code: "NetStream.Publish.Idle".into(),
            description: "idle".into()
        })
    );
}

#[test]
fn player_acknowledges_every_window() {
    let server = SessionConfig {
        window_ack_size: 10_000,
        ..SessionConfig::default()
    };
    let mut q = Pair::new(SessionConfig::default(), server);
    q.client.connect("live", "rtmp://h/live");
    q.client.play("x");
    q.drive();
    for i in 0..10 {
        q.server.send_media(1, MediaKind::Video, i, &[0u8; 5000]);
        q.drive();
    }
    let mut dec = rtmp::ChunkDecoder::new(1 << 24, 64);
    let mut wire = BytesMut::from(&q.client_wire[1 + 2 * 1536..]);
    let acks: Vec<u32> = common::decode_wire(&mut dec, &mut wire)
        .iter()
        .filter(|m| m.type_id == 3)
        .map(|m| u32::from_be_bytes(m.payload[..4].try_into().unwrap()))
        .collect();
    assert!(acks.len() >= 4, "acks: {acks:?}");
    assert!(acks.windows(2).all(|w| w[1] - w[0] >= 10_000));
    assert_eq!(q.client.bytes_received(), q.server_wire.len() as u64);
}
