//! Test harness: a simulated client/server pair and a raw client that writes chunks by hand.
#![allow(dead_code)]

use std::time::Instant;

use rtmp::amf0::{self, Value};
use rtmp::bytes::{Bytes, BytesMut};
use rtmp::{
    encode_message, ChunkDecoder, ChunkMessage, ClientEvent, ClientSession, ServerEvent,
    ServerSession, SessionConfig,
};

/// What the simulated server application answers.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    pub reject_connect: Option<String>,
    pub reject_publish: Option<(String, String)>,
    pub reject_play: Option<(String, String)>,
    /// Hold publish/play requests instead of answering (the test answers).
    pub manual_streams: bool,
}

/// A client and a server session wired back to back; [`Pair::drive`] shuttles bytes until both are idle.
pub struct Pair {
    pub now: Instant,
    pub client: ClientSession,
    pub server: ServerSession,
    pub client_events: Vec<ClientEvent>,
    pub server_events: Vec<ServerEvent>,
    pub policy: Policy,
    /// Every byte the client sent, for inspection.
    pub client_wire: Vec<u8>,
    pub server_wire: Vec<u8>,
}

impl Pair {
    pub fn new(client: SessionConfig, server: SessionConfig) -> Self {
        let now = Instant::now();
        Self {
            now,
            client: ClientSession::new(client, now),
            server: ServerSession::new(server, now),
            client_events: Vec::new(),
            server_events: Vec::new(),
            policy: Policy::default(),
            client_wire: Vec::new(),
            server_wire: Vec::new(),
        }
    }

    pub fn default_pair() -> Self {
        Self::new(SessionConfig::default(), SessionConfig::default())
    }

    /// One round trip; returns whether any byte moved.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        if let Some(b) = self.client.take_transmit() {
            moved = true;
            self.client_wire.extend_from_slice(&b);
            self.server
                .handle_input(&b, self.now)
                .expect("server input");
        }
        while let Some(e) = self.server.poll_output() {
            match &e {
                ServerEvent::Connect { .. } => match &self.policy.reject_connect {
                    Some(d) => self.server.reject_connect(d),
                    None => self.server.accept_connect(),
                },
                ServerEvent::Publish { stream_id, .. } if !self.policy.manual_streams => {
                    match &self.policy.reject_publish {
                        Some((c, d)) => self.server.reject_publish(*stream_id, c, d),
                        None => self.server.accept_publish(*stream_id),
                    }
                }
                ServerEvent::Play { stream_id, .. } if !self.policy.manual_streams => {
                    match &self.policy.reject_play {
                        Some((c, d)) => self.server.reject_play(*stream_id, c, d),
                        None => self.server.accept_play(*stream_id),
                    }
                }
                _ => {}
            }
            self.server_events.push(e);
        }
        if let Some(b) = self.server.take_transmit() {
            moved = true;
            self.server_wire.extend_from_slice(&b);
            self.client
                .handle_input(&b, self.now)
                .expect("client input");
        }
        while let Some(e) = self.client.poll_output() {
            self.client_events.push(e);
        }
        moved
    }

    pub fn drive(&mut self) {
        for _ in 0..100 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle");
    }

    pub fn server_media(&self) -> Vec<(u32, rtmp::MediaKind, u32, Bytes)> {
        self.server_events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Media {
                    stream_id,
                    kind,
                    timestamp,
                    payload,
                } => Some((*stream_id, *kind, *timestamp, payload.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn client_media(&self) -> Vec<(rtmp::MediaKind, u32, Bytes)> {
        self.client_events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Media {
                    kind,
                    timestamp,
                    payload,
                } => Some((*kind, *timestamp, payload.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Decode every complete message in `wire`, applying Set Chunk Size messages as a receiver would.
pub fn decode_wire(dec: &mut ChunkDecoder, wire: &mut BytesMut) -> Vec<ChunkMessage> {
    let mut out = Vec::new();
    while let Some(m) = dec.decode(wire).expect("valid chunk stream") {
        if m.type_id == 1 {
            dec.set_chunk_size(u32::from_be_bytes(m.payload[..4].try_into().unwrap()));
        }
        out.push(m);
    }
    out
}

/// AMF0 command body.
pub fn command(name: &str, tid: f64, object: Value, args: &[Value]) -> BytesMut {
    let mut b = BytesMut::new();
    amf0::encode(&Value::string(name), &mut b);
    amf0::encode(&Value::Number(tid), &mut b);
    amf0::encode(&object, &mut b);
    for a in args {
        amf0::encode(a, &mut b);
    }
    b
}

/// A server after a simple handshake done by hand, plus a decoder for what it sends.
pub struct RawClient {
    pub now: Instant,
    pub server: ServerSession,
    pub decoder: ChunkDecoder,
    pub chunk_size: u32,
    pub events: Vec<ServerEvent>,
}

impl RawClient {
    pub fn new(config: SessionConfig) -> Self {
        let now = Instant::now();
        let mut server = ServerSession::new(config, now);
        let mut c0c1 = vec![3u8];
        c0c1.resize(1 + 1536, 0);
        server.handle_input(&c0c1, now).unwrap();
        let reply = server.take_transmit().unwrap();
        assert_eq!(reply.len(), 1 + 2 * 1536);
        server.handle_input(&[0u8; 1536], now).unwrap();
        Self {
            now,
            server,
            decoder: ChunkDecoder::new(1 << 24, 64),
            chunk_size: 128,
            events: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), rtmp::Error> {
        let r = self.server.handle_input(bytes, self.now);
        while let Some(e) = self.server.poll_output() {
            self.events.push(e);
        }
        r
    }

    pub fn send(
        &mut self,
        csid: u32,
        stream_id: u32,
        type_id: u8,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), rtmp::Error> {
        let mut b = BytesMut::new();
        encode_message(
            &mut b,
            csid,
            stream_id,
            type_id,
            ts,
            payload,
            self.chunk_size,
        );
        self.send_raw(&b)
    }

    pub fn send_command(
        &mut self,
        stream_id: u32,
        name: &str,
        tid: f64,
        object: Value,
        args: &[Value],
    ) {
        let body = command(name, tid, object, args);
        self.send(3, stream_id, 20, 0, &body).unwrap();
    }

    /// Messages the server sent since the last call.
    pub fn received(&mut self) -> Vec<ChunkMessage> {
        let mut wire = BytesMut::new();
        if let Some(b) = self.server.take_transmit() {
            wire.extend_from_slice(&b);
        }
        let msgs = decode_wire(&mut self.decoder, &mut wire);
        assert!(wire.is_empty(), "server output ends on a message boundary");
        msgs
    }

    /// Received command messages as (stream id, decoded values).
    pub fn received_commands(&mut self) -> Vec<(u32, Vec<Value>)> {
        self.received()
            .into_iter()
            .filter(|m| m.type_id == 20)
            .map(|m| (m.stream_id, amf0::decode_all(&m.payload).unwrap()))
            .collect()
    }

    /// `publish` of `cam` on message stream 1 (accepted), which opens the server's media gate.
    pub fn publish(&mut self) {
        self.send_command(
            1,
            "publish",
            0.0,
            Value::Null,
            &[Value::string("cam"), Value::string("live")],
        );
        let publish = self
            .events
            .iter()
            .rposition(|e| matches!(e, ServerEvent::Publish { .. }));
        assert!(publish.is_some(), "{:?}", self.events);
        self.server.accept_publish(1);
        let _ = self.received();
    }

    /// connect + accept.
    pub fn connect(&mut self) {
        let obj = Value::object([
            ("app", Value::string("live")),
            ("tcUrl", Value::string("rtmp://h/live")),
        ]);
        self.send_command(0, "connect", 1.0, obj, &[]);
        assert!(matches!(
            self.events.pop(),
            Some(ServerEvent::Connect { .. })
        ));
        self.server.accept_connect();
        self.received();
    }
}

/// The status info object (4th value) of an onStatus / _result / _error command.
pub fn info_code(values: &[Value]) -> Option<&str> {
    values.get(3)?.get("code")?.as_str()
}
