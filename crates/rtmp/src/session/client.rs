//! The client side of an RTMP connection (publisher or player).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::conn::{Conn, Incoming};
use super::{handshake_deadline, session_rng, timeout_error};
use crate::amf0::{self, Value};
use crate::config::SessionConfig;
use crate::error::Error;
use crate::handshake::{check_version, ClientHandshake, HANDSHAKE_SIZE};
use crate::message::{
    media_chunk_stream_id, media_type_id, split_aggregate, type_id, MediaKind, UserControl,
};

mod commands;
mod event;

pub use event::ClientEvent;

/// Buffer length a player asks for, in milliseconds.
const PLAY_BUFFER_MS: u32 = 3000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Publish,
    Play,
}

/// The one publish or play this connection does.
#[derive(Debug)]
struct Job {
    mode: Mode,
    name: String,
    started: bool,
    /// Transaction ids of createStream and of publish/play.
    create_tid: f64,
    job_tid: f64,
    stream_id: Option<u32>,
    active: bool,
}

/// The client side of one RTMP connection: handshake, connect, then publish or play one stream.
///
/// C0+C1 are ready in [`take_transmit`](Self::take_transmit) right after [`new`](Self::new). Commands issued
/// before the handshake (or connect) completes are queued and sent in order.
#[derive(Debug)]
pub struct ClientSession {
    conn: Conn,
    handshake: Option<ClientHandshake>,
    deadline: Option<Instant>,
    events: VecDeque<ClientEvent>,
    next_tid: f64,
    connect_tid: Option<f64>,
    connected: bool,
    job: Option<Job>,
    last_window_sent: u32,
}

impl ClientSession {
    /// A session with C0+C1 already queued for transmission.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let deadline = handshake_deadline(&config, now);
        let mode = config.client_handshake;
        let mut conn = Conn::new(config);
        conn.hold = true;
        let rng = session_rng(conn.config.rng_seed);
        let handshake = Some(ClientHandshake::start(mode, rng, conn.raw_out()));
        Self {
            conn,
            handshake,
            deadline,
            events: VecDeque::new(),
            next_tid: 1.0,
            connect_tid: None,
            connected: false,
            job: None,
            last_window_sent: 0,
        }
    }

    /// Process received bytes (any split). After an error every later call returns the same error.
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

    /// The next event, if any. Drain after every `handle_*` call and command.
    pub fn poll_output(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// All pending output as one buffer, or `None`.
    pub fn take_transmit(&mut self) -> Option<Bytes> {
        self.conn.take_transmit()
    }

    /// Our outgoing chunk size.
    pub fn out_chunk_size(&self) -> u32 {
        self.conn.out_chunk_size()
    }

    /// Total bytes received, handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.conn.bytes_received()
    }

    fn tid(&mut self) -> f64 {
        let t = self.next_tid;
        self.next_tid += 1.0;
        t
    }

    /// Send `connect` for `app` (may carry `?query`) with `tc_url`. Queued until the handshake is done.
    pub fn connect(&mut self, app: &str, tc_url: &str) {
        if self.connect_tid.is_some() {
            return;
        }
        let tid = self.tid();
        self.connect_tid = Some(tid);
        let obj = Value::object([
            ("app", Value::string(app)),
            ("type", Value::string("nonprivate")),
            ("flashVer", Value::string("FMLE/3.0 (compatible; mplive)")),
            ("tcUrl", Value::string(tc_url)),
            ("fpad", Value::Boolean(false)),
            ("capabilities", Value::Number(15.0)),
            ("audioCodecs", Value::Number(4071.0)),
            ("videoCodecs", Value::Number(252.0)),
            ("videoFunction", Value::Number(1.0)),
            ("objectEncoding", Value::Number(0.0)),
        ]);
        self.conn.send_command(0, "connect", tid, &obj, &[]);
    }

    /// Publish `name` (may carry `?query`): releaseStream, FCPublish, createStream, then `publish name live`
    /// once createStream answers. Queued until connected. One publish or play per connection: later calls
    /// are ignored.
    pub fn publish(&mut self, name: &str) {
        self.set_job(Mode::Publish, name);
    }

    /// Play `name`: createStream, then `play name -2` and Set Buffer Length. Queued until connected.
    pub fn play(&mut self, name: &str) {
        self.set_job(Mode::Play, name);
    }

    fn set_job(&mut self, mode: Mode, name: &str) {
        if self.job.is_some() {
            return;
        }
        self.job = Some(Job {
            mode,
            name: name.to_owned(),
            started: false,
            create_tid: 0.0,
            job_tid: 0.0,
            stream_id: None,
            active: false,
        });
        if self.connected {
            self.start_job();
        }
    }

    fn start_job(&mut self) {
        let Some(job) = self.job.as_ref().filter(|j| !j.started) else {
            return;
        };
        let (mode, name) = (job.mode, job.name.clone());
        if mode == Mode::Publish {
            let name_arg = [Value::string(name.as_str())];
            let t = self.tid();
            self.conn
                .send_command(0, "releaseStream", t, &Value::Null, &name_arg);
            let t = self.tid();
            self.conn
                .send_command(0, "FCPublish", t, &Value::Null, &name_arg);
        }
        let t = self.tid();
        self.conn
            .send_command(0, "createStream", t, &Value::Null, &[]);
        if let Some(job) = self.job.as_mut() {
            job.started = true;
            job.create_tid = t;
        }
    }

    /// Send one media message on the publishing stream (dropped unless [`ClientEvent::Publishing`] happened).
    /// Data payloads are sent as given: `"@setDataFrame", "onMetaData", obj` or `"onMetaData", obj`.
    pub fn send_media(&mut self, kind: MediaKind, timestamp: u32, payload: &[u8]) {
        let Some(stream_id) = self
            .job
            .as_ref()
            .filter(|j| j.mode == Mode::Publish && j.active)
            .and_then(|j| j.stream_id)
        else {
            return;
        };
        self.conn.send(
            media_chunk_stream_id(kind),
            stream_id,
            media_type_id(kind),
            timestamp,
            payload,
        );
    }

    /// Stop publishing (FCUnpublish + deleteStream) or playing (deleteStream).
    pub fn close(&mut self) {
        let Some(job) = self.job.take() else {
            return;
        };
        let Some(stream_id) = job.stream_id else {
            return;
        };
        if job.mode == Mode::Publish {
            let t = self.tid();
            self.conn.send_command(
                0,
                "FCUnpublish",
                t,
                &Value::Null,
                &[Value::string(job.name)],
            );
        }
        let t = self.tid();
        self.conn.send_command(
            0,
            "deleteStream",
            t,
            &Value::Null,
            &[Value::Number(f64::from(stream_id))],
        );
    }

    /// Send Set Chunk Size and use `size` for everything sent after it.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.conn.set_out_chunk_size(size);
    }

    fn process(&mut self) -> Result<(), Error> {
        if let Some(hs) = &mut self.handshake {
            let Some(&version) = self.conn.inbuf.first() else {
                return Ok(());
            };
            check_version(version)?;
            if self.conn.inbuf.len() < 1 + 2 * HANDSHAKE_SIZE {
                return Ok(());
            }
            let s = self.conn.inbuf.split_to(1 + 2 * HANDSHAKE_SIZE);
            // `s` is exactly S0 + S1 + S2, so the slices below are in bounds.
            hs.finish(
                &s[1..1 + HANDSHAKE_SIZE],
                &s[1 + HANDSHAKE_SIZE..],
                self.conn.raw_out(),
            )?;
            self.handshake = None;
            self.deadline = None;
            self.conn.release();
            self.events.push_back(ClientEvent::HandshakeDone);
        }
        self.conn.maybe_ack();
        while let Some(incoming) = self.conn.next()? {
            match incoming {
                Incoming::Message(m) => {
                    self.on_message(m.type_id, m.stream_id, m.timestamp, m.payload)
                }
                Incoming::User(UserControl::StreamBegin(_)) => {
                    self.events.push_back(ClientEvent::StreamBegin)
                }
                Incoming::User(UserControl::StreamEof(_)) => {
                    self.events.push_back(ClientEvent::StreamEof)
                }
                Incoming::User(_) => {}
                Incoming::PeerBandwidth(size) => {
                    // The spec asks for a Window Acknowledgement Size answer when the size changes.
                    if size != self.last_window_sent {
                        self.last_window_sent = size;
                        self.conn
                            .send_control(type_id::WINDOW_ACK_SIZE, &size.to_be_bytes());
                    }
                }
            }
        }
        Ok(())
    }

    fn on_message(&mut self, t: u8, stream_id: u32, timestamp: u32, payload: Bytes) {
        let media = |kind, payload| ClientEvent::Media {
            kind,
            timestamp,
            payload,
        };
        match t {
            type_id::AMF0_COMMAND => self.on_command_body(stream_id, &payload),
            type_id::AMF3_COMMAND => {
                self.on_command_body(stream_id, payload.get(1..).unwrap_or_default())
            }
            type_id::AUDIO => self.events.push_back(media(MediaKind::Audio, payload)),
            type_id::VIDEO => self.events.push_back(media(MediaKind::Video, payload)),
            type_id::AMF0_DATA | type_id::AMF3_DATA => {
                let body = if t == type_id::AMF3_DATA && !payload.is_empty() {
                    payload.slice(1..)
                } else {
                    payload
                };
                let name = amf0::decode_one(&body)
                    .ok()
                    .and_then(|(v, _)| v.as_str().map(str::to_owned));
                if name.as_deref() != Some("|RtmpSampleAccess") {
                    self.events.push_back(media(MediaKind::Script, body));
                }
            }
            type_id::AGGREGATE => {
                for (t, ts, body) in split_aggregate(&payload, timestamp) {
                    if t != type_id::AGGREGATE {
                        self.on_message(t, stream_id, ts, body);
                    }
                }
            }
            _ => {}
        }
    }
}
