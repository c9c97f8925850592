//! The server side of an RTMP connection.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, Bytes};

use super::conn::{Conn, Incoming};
use super::{handshake_deadline, session_rng, timeout_error};
use crate::amf0::Value;
use crate::config::SessionConfig;
use crate::error::Error;
use crate::handshake::{check_version, server_reply, HANDSHAKE_SIZE};
use crate::message::{
    media_chunk_stream_id, media_type_id, split_aggregate, status_info, type_id, MediaKind,
    UserControl, CSID_DATA,
};

mod commands;
mod event;

pub use event::ServerEvent;

/// Most message streams (createStream) one connection may hold at once.
pub const MAX_MESSAGE_STREAMS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    C0C1,
    C2,
    Chunks,
}

#[derive(Debug, Clone, PartialEq)]
enum ConnectState {
    Waiting,
    Pending {
        transaction_id: f64,
        object_encoding: f64,
    },
    Accepted,
    Rejected,
}

#[derive(Debug, Clone, PartialEq)]
enum StreamState {
    Idle,
    PublishPending { name: String },
    Publishing { name: String },
    PlayPending { name: String, reset: bool },
    Playing { name: String },
}

#[derive(Debug)]
struct MsgStream {
    id: u32,
    state: StreamState,
}

/// The server side of one RTMP connection: handshake, chunk stream, commands.
///
/// Feed received bytes to [`handle_input`](Self::handle_input), then drain [`poll_output`](Self::poll_output)
/// and write [`take_transmit`](Self::take_transmit) to the socket. Call
/// [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) passes.
#[derive(Debug)]
pub struct ServerSession {
    conn: Conn,
    phase: Phase,
    deadline: Option<Instant>,
    events: VecDeque<ServerEvent>,
    connect: ConnectState,
    streams: Vec<MsgStream>,
    next_stream_id: u32,
}

impl ServerSession {
    /// A session waiting for C0+C1; the handshake must finish by `now + config.handshake_timeout`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let deadline = handshake_deadline(&config, now);
        let mut conn = Conn::new(config);
        // Media only from `publish` on (opened in `on_publish`): see `ChunkDecoder::set_media_allowed`.
        conn.set_media_allowed(false);
        Self {
            conn,
            phase: Phase::C0C1,
            deadline,
            events: VecDeque::new(),
            connect: ConnectState::Waiting,
            streams: Vec::new(),
            next_stream_id: 1,
        }
    }

    /// Process received bytes (any split). Partial input is buffered. After an error the session is dead and
    /// every later call returns the same error.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), Error> {
        self.conn.check()?;
        self.handle_timeout(now)?;
        self.conn.push_input(data);
        match self.process() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.conn.fail(e)),
        }
    }

    /// Enforce the handshake timeout; calling early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.conn.check()?;
        match self.deadline {
            Some(d) if now >= d => Err(self.conn.fail(timeout_error())),
            _ => Ok(()),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next (only while handshaking).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next event, if any. Drain after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// All pending output as one buffer (one write), or `None` when there is nothing to send.
    pub fn take_transmit(&mut self) -> Option<Bytes> {
        self.conn.take_transmit()
    }

    /// Chunk size of our output (what pre-encoded media for this connection must use): 128 until
    /// [`accept_connect`](Self::accept_connect) announces [`SessionConfig::out_chunk_size`].
    pub fn out_chunk_size(&self) -> u32 {
        self.conn.out_chunk_size()
    }

    /// Total bytes received, handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.conn.bytes_received()
    }

    fn process(&mut self) -> Result<(), Error> {
        if self.phase == Phase::C0C1 {
            let Some(&version) = self.conn.inbuf.first() else {
                return Ok(());
            };
            check_version(version)?;
            if self.conn.inbuf.len() < 1 + HANDSHAKE_SIZE {
                return Ok(());
            }
            let c0c1 = self.conn.inbuf.split_to(1 + HANDSHAKE_SIZE);
            // Exactly C0 + C1: the slice is in bounds.
            let mut rng = session_rng(self.conn.config.rng_seed);
            server_reply(&c0c1[1..], &mut rng, self.conn.raw_out());
            self.phase = Phase::C2;
        }
        if self.phase == Phase::C2 {
            // C2 is not checked: clients echo S1 or sign it, and neither proves anything to us.
            if self.conn.inbuf.len() < HANDSHAKE_SIZE {
                return Ok(());
            }
            self.conn.inbuf.advance(HANDSHAKE_SIZE);
            self.phase = Phase::Chunks;
            self.deadline = None;
        }
        self.conn.maybe_ack();
        while let Some(incoming) = self.conn.next()? {
            if let Incoming::Message(m) = incoming {
                self.on_message(m.type_id, m.stream_id, m.timestamp, m.payload)?;
            }
            // User control from a client (SetBufferLength, PingResponse) and Set Peer Bandwidth need no answer.
        }
        Ok(())
    }

    /// Handles one message; an error (a command field over its bound) ends the session after its answer.
    fn on_message(
        &mut self,
        t: u8,
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<(), Error> {
        match t {
            type_id::AMF0_COMMAND => return self.on_command_body(stream_id, &payload),
            // AMF3 command: a 0 format byte, then AMF0.
            type_id::AMF3_COMMAND => {
                return self.on_command_body(stream_id, payload.get(1..).unwrap_or_default())
            }
            type_id::AMF0_DATA => self.on_data(stream_id, timestamp, payload),
            type_id::AMF3_DATA if !payload.is_empty() => {
                self.on_data(stream_id, timestamp, payload.slice(1..))
            }
            type_id::AUDIO => self.on_media(stream_id, MediaKind::Audio, timestamp, payload),
            type_id::VIDEO => self.on_media(stream_id, MediaKind::Video, timestamp, payload),
            type_id::AGGREGATE => {
                for (t, ts, body) in split_aggregate(&payload, timestamp) {
                    if t != type_id::AGGREGATE {
                        self.on_message(t, stream_id, ts, body)?;
                    }
                }
            }
            // Shared objects (16, 19), an empty AMF3 data message, or whatever an aggregate carried: nothing a live
            // server uses (an undefined type on its own is refused by the chunk decoder, at its header).
            other => self.unhandled(format!(
                "message type {other} not handled on stream {stream_id} ({} bytes)",
                payload.len()
            )),
        }
        Ok(())
    }

    fn unhandled(&mut self, description: String) {
        self.events.push_back(ServerEvent::Unhandled {
            description,
            malformed: true,
        });
    }

    fn unknown_command(&mut self, description: String) {
        self.events.push_back(ServerEvent::Unhandled {
            description,
            malformed: false,
        });
    }

    fn is_publishing(&self, stream_id: u32) -> bool {
        self.stream(stream_id)
            .is_some_and(|s| matches!(s.state, StreamState::Publishing { .. }))
    }

    fn on_media(&mut self, stream_id: u32, kind: MediaKind, timestamp: u32, payload: Bytes) {
        // Media before accept_publish (or on a stream that is not publishing) is dropped: clients wait for
        // NetStream.Publish.Start before sending, so only a misbehaving peer gets here.
        if self.is_publishing(stream_id) {
            self.events.push_back(ServerEvent::Media {
                stream_id,
                kind,
                timestamp,
                payload,
            });
        }
    }

    fn on_data(&mut self, stream_id: u32, timestamp: u32, payload: Bytes) {
        if !self.is_publishing(stream_id) {
            return;
        }
        match super::script::normalize_data(payload) {
            Ok(payload) => self.on_media(stream_id, MediaKind::Script, timestamp, payload),
            Err(e) => self.unhandled(format!("malformed data message on stream {stream_id}: {e}")),
        }
    }

    fn stream(&self, id: u32) -> Option<&MsgStream> {
        self.streams.iter().find(|s| s.id == id)
    }

    fn stream_mut(&mut self, id: u32) -> Option<&mut MsgStream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    /// Accept the pending `connect`: Window Acknowledgement Size, Set Peer Bandwidth, Set Chunk Size, then
    /// `_result` with NetConnection.Connect.Success.
    pub fn accept_connect(&mut self) {
        let ConnectState::Pending {
            transaction_id,
            object_encoding,
        } = self.connect
        else {
            return;
        };
        self.connect = ConnectState::Accepted;
        let c = &self.conn.config;
        let (was, bw, cs) = (c.window_ack_size, c.peer_bandwidth, c.out_chunk_size);
        self.conn
            .send_control(type_id::WINDOW_ACK_SIZE, &was.to_be_bytes());
        let mut spb = [2u8; 5];
        spb[..4].copy_from_slice(&bw.to_be_bytes());
        self.conn.send_control(type_id::SET_PEER_BANDWIDTH, &spb);
        self.conn.set_out_chunk_size(cs);
        let props = Value::object([
            ("fmsVer", Value::string("FMS/3,0,1,123")),
            ("capabilities", Value::Number(31.0)),
        ]);
        let mut info = status_info(
            "status",
            "NetConnection.Connect.Success",
            "Connection succeeded.",
        );
        if let Value::Object(p) = &mut info {
            p.push(("objectEncoding".to_owned(), Value::Number(object_encoding)));
        }
        self.conn
            .send_command(0, "_result", transaction_id, &props, &[info]);
    }

    /// Refuse the pending `connect` with `_error` NetConnection.Connect.Rejected; the caller then closes.
    pub fn reject_connect(&mut self, description: &str) {
        let ConnectState::Pending { transaction_id, .. } = self.connect else {
            return;
        };
        self.connect = ConnectState::Rejected;
        let info = status_info("error", "NetConnection.Connect.Rejected", description);
        self.conn
            .send_command(0, "_error", transaction_id, &Value::Null, &[info]);
    }

    /// Accept a pending publish: User Control StreamBegin and onStatus NetStream.Publish.Start. Media events
    /// for the stream follow.
    pub fn accept_publish(&mut self, stream_id: u32) {
        let Some(s) = self.stream_mut(stream_id) else {
            return;
        };
        let StreamState::PublishPending { name } = &s.state else {
            return;
        };
        let name = name.clone();
        let description = format!("{name} is now published.");
        s.state = StreamState::Publishing { name };
        self.conn
            .send_user_control(UserControl::StreamBegin(stream_id));
        self.send_status(stream_id, "status", "NetStream.Publish.Start", &description);
    }

    /// Refuse a pending publish with an error-level onStatus (e.g. code `NetStream.Publish.BadName`).
    pub fn reject_publish(&mut self, stream_id: u32, code: &str, description: &str) {
        if let Some(s) = self.stream_mut(stream_id) {
            if matches!(s.state, StreamState::PublishPending { .. }) {
                s.state = StreamState::Idle;
            }
        }
        self.send_status(stream_id, "error", code, description);
    }

    /// Accept a pending play: StreamBegin, onStatus NetStream.Play.Reset (when asked) and NetStream.Play.Start,
    /// then the `|RtmpSampleAccess` data message. The caller then sends media.
    pub fn accept_play(&mut self, stream_id: u32) {
        let Some(s) = self.stream_mut(stream_id) else {
            return;
        };
        let StreamState::PlayPending { name, reset } = &s.state else {
            return;
        };
        let (name, reset) = (name.clone(), *reset);
        s.state = StreamState::Playing { name: name.clone() };
        self.conn
            .send_user_control(UserControl::StreamBegin(stream_id));
        if reset {
            let d = format!("Playing and resetting {name}.");
            self.send_status(stream_id, "status", "NetStream.Play.Reset", &d);
        }
        let d = format!("Started playing {name}.");
        self.send_status(stream_id, "status", "NetStream.Play.Start", &d);
        let mut body = bytes::BytesMut::with_capacity(24);
        crate::amf0::encode_str("|RtmpSampleAccess", &mut body);
        crate::amf0::encode(&Value::Boolean(true), &mut body);
        crate::amf0::encode(&Value::Boolean(true), &mut body);
        self.conn
            .send(CSID_DATA, stream_id, type_id::AMF0_DATA, 0, &body);
    }

    /// Refuse a pending play with an error-level onStatus (e.g. code `NetStream.Play.StreamNotFound`).
    pub fn reject_play(&mut self, stream_id: u32, code: &str, description: &str) {
        if let Some(s) = self.stream_mut(stream_id) {
            if matches!(s.state, StreamState::PlayPending { .. }) {
                s.state = StreamState::Idle;
            }
        }
        self.send_status(stream_id, "error", code, description);
    }

    /// Send an onStatus command on `stream_id`.
    pub fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let info = status_info(level, code, description);
        self.conn
            .send_command(stream_id, "onStatus", 0.0, &Value::Null, &[info]);
    }

    /// Tell a player its source went away: onStatus NetStream.Play.UnpublishNotify and User Control StreamEOF.
    /// The stream stays in the playing state (a returning publisher can resume it).
    pub fn end_play(&mut self, stream_id: u32) {
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.UnpublishNotify",
            "The stream is unpublished.",
        );
        self.conn
            .send_user_control(UserControl::StreamEof(stream_id));
    }

    /// Encode one media message with this session's chunk size (the server usually writes shared pre-encoded
    /// bytes instead, see [`crate::encode_media_message`]).
    pub fn send_media(&mut self, stream_id: u32, kind: MediaKind, timestamp: u32, payload: &[u8]) {
        self.conn.send(
            media_chunk_stream_id(kind),
            stream_id,
            media_type_id(kind),
            timestamp,
            payload,
        );
    }
}
