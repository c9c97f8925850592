//! The checks the rtmp fuzz targets run (fuzz/fuzz_targets/rtmp_*.rs), public so that tests/corpus.rs can replay
//! fuzz/corpus/rtmp_*/ on stable without cargo-fuzz through exactly the same code. Not part of the stable API:
//! they panic when an invariant breaks, which is what a fuzzer looks for.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::amf0::{self, Value, MAX_DEPTH, MAX_VALUES};
use crate::chunk::{encode_message, ChunkDecoder, ChunkMessage};
use crate::config::{HandshakeMode, MessageLimits, SessionConfig, MAX_CONTROL_MESSAGE_SIZE};
use crate::error::Error;
use crate::handshake::HANDSHAKE_SIZE;
use crate::message::{type_id, MediaKind};
use crate::session::{ClientEvent, ClientSession, ServerEvent, ServerSession};

/// Bound on video messages in the chunk target (and on the session's media messages).
const MAX_MESSAGE: u32 = 1 << 16;
/// Bound on audio messages: between the others, so the fuzzer tells the three apart.
const MAX_AUDIO: u32 = 1 << 12;
/// Bound on every other message: small, so the fuzzer reaches it.
const MAX_COMMAND: u32 = 1 << 10;
/// Bound on the strings of connect, publish and play in [`command_fields`]: small, so the fuzzer reaches it.
const MAX_FIELD: u32 = 32;
/// The same bound in [`server_session`]: room for the strings of the real clients its seeds come from (ffmpeg's
/// flashVer and tcUrl), and still reachable within [`MAX_COMMAND`].
const MAX_SESSION_FIELD: u32 = 256;

/// The per-type bounds the fuzzed decoders and sessions use.
fn fuzz_limits() -> MessageLimits {
    MessageLimits {
        video: MAX_MESSAGE,
        audio: MAX_AUDIO,
        script: MAX_COMMAND,
        command: MAX_COMMAND,
        shared_object: MAX_COMMAND / 2,
    }
}

/// The bound [`fuzz_limits`] puts on `type_id`; `None` for a type RTMP does not define.
fn bound_of(type_id: u8) -> Option<u32> {
    let l = fuzz_limits();
    Some(match type_id {
        1..=6 => MAX_CONTROL_MESSAGE_SIZE,
        8 => l.audio,
        9 | 22 => l.video,
        15 | 18 => l.script,
        17 | 20 => l.command,
        16 | 19 => l.shared_object,
        _ => return None,
    })
}
/// Chunk streams the chunk target's decoder accepts: few, so the fuzzer reaches the limit.
const MAX_CHUNK_STREAMS: usize = 8;
/// Largest Set Chunk Size the chunk target applies (what [`SessionConfig::max_chunk_size`] defaults to).
const MAX_CHUNK_SIZE: u32 = 65536;
/// Bytes of S0 + S1 + S2 (and of C0 + C1 + C2).
const HANDSHAKE_REPLY: usize = 1 + 2 * HANDSHAKE_SIZE;

/// What [`handshake`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandshakeOutcome {
    /// The server answered C0 + C1 with S0 + S1 + S2.
    pub server_replied: bool,
    /// The simple-handshake client accepted S0 + S1 + S2 and reported `HandshakeDone`.
    pub client_done: bool,
}

/// Handshake parsing on both sides: `data` is what a peer sends first (C0 + C1 + C2 and maybe chunks to a server,
/// S0 + S1 + S2 and maybe chunks to a client), fed whole and in pieces. Checks: no panic; the server answers
/// exactly when it has a version 3 C0 and all of C1, with 3073 bytes starting with S0 = 3, and S2 echoes a C1
/// without a version field; the server (seeded) sees the same events and error and sends the same handshake reply
/// whatever the split; a session that failed
/// keeps returning its error; a simple-handshake client sends C2 = S1 once it has S0 + S1 + S2.
pub fn handshake(data: &[u8]) -> HandshakeOutcome {
    let now = Instant::now();
    let mut outcome = HandshakeOutcome::default();

    let (whole, whole_out) = server_run(data, data.len().max(1), now);
    let (split, split_out) = server_run(data, 1 + data.len() / 7, now);
    assert_eq!(whole, split, "the server depends on how its input is split");
    // Later bytes may differ (an Acknowledgement counts the bytes received when it is sent); S0 + S1 + S2 not.
    assert_eq!(
        whole_out.get(..HANDSHAKE_REPLY),
        split_out.get(..HANDSHAKE_REPLY),
        "the server's handshake reply depends on how its input is split"
    );
    let complete_c1 = data.len() > HANDSHAKE_SIZE && data[0] == 3;
    if complete_c1 {
        assert!(whole_out.len() >= HANDSHAKE_REPLY && whole_out[0] == 3);
        if data[5..9] == [0; 4] {
            // A simple client: S2 echoes C1.
            assert_eq!(
                &whole_out[1 + HANDSHAKE_SIZE..HANDSHAKE_REPLY],
                &data[1..=HANDSHAKE_SIZE]
            );
        }
        outcome.server_replied = true;
    } else {
        assert!(
            whole_out.is_empty(),
            "the server answered an incomplete or bad C0 + C1"
        );
    }

    for mode in [HandshakeMode::Digest, HandshakeMode::Simple] {
        let config = SessionConfig {
            client_handshake: mode,
            ..SessionConfig::default()
        };
        let mut client = ClientSession::new(config, now);
        client.connect("live", "rtmp://localhost/live");
        let mut out = BytesMut::from(client.take_transmit().unwrap_or_default());
        let mut result = Ok(());
        for piece in data.chunks(1 + data.len() / 7) {
            result = client.handle_input(piece, now);
            out.extend_from_slice(&client.take_transmit().unwrap_or_default());
            if result.is_err() {
                break;
            }
        }
        if let Err(e) = result {
            assert_eq!(client.handle_input(&[], now), Err(e));
        }
        let mut done = false;
        while let Some(event) = client.poll_output() {
            done |= event == ClientEvent::HandshakeDone;
        }
        assert!(out.len() > HANDSHAKE_SIZE && out[0] == 3, "C0 + C1 first");
        if mode == HandshakeMode::Simple && data.len() >= HANDSHAKE_REPLY && data[0] == 3 {
            assert!(done, "a simple client refused S0 + S1 + S2");
            assert_eq!(
                &out[1 + HANDSHAKE_SIZE..HANDSHAKE_REPLY],
                &data[1..=HANDSHAKE_SIZE]
            );
            outcome.client_done = true;
        }
    }
    outcome
}

/// A server session fed `data` in pieces of `step` bytes; its events and final result, and all its output.
fn server_run(
    data: &[u8],
    step: usize,
    now: Instant,
) -> ((Vec<ServerEvent>, Result<(), Error>), Bytes) {
    // Seeded: the same input gives the same bytes, whatever the split.
    let config = SessionConfig {
        rng_seed: Some(0),
        ..SessionConfig::default()
    };
    let mut server = ServerSession::new(config, now);
    let mut events = Vec::new();
    let mut out = BytesMut::new();
    let mut result = Ok(());
    for piece in data.chunks(step) {
        result = server.handle_input(piece, now);
        events.extend(std::iter::from_fn(|| server.poll_output()));
        out.extend_from_slice(&server.take_transmit().unwrap_or_default());
        if result.is_err() {
            break;
        }
    }
    if let Err(e) = &result {
        assert_eq!(server.handle_input(&[], now).as_ref(), Err(e));
    }
    ((events, result), out.freeze())
}

/// How a chunk stream run ended.
#[derive(Debug, Clone, PartialEq)]
enum Ending {
    /// All input consumed or waiting for more.
    NeedMore,
    /// The decoder failed.
    Error(Error),
    /// A Set Chunk Size a session refuses (0 or above 65536).
    BadChunkSize,
}

/// Decodes `input` fed in pieces of `step` bytes, applying Set Chunk Size as a session does.
fn decode_chunks(input: &[u8], step: usize) -> (Vec<ChunkMessage>, Ending) {
    let mut decoder = ChunkDecoder::new(MAX_MESSAGE, MAX_CHUNK_STREAMS).with_limits(fuzz_limits());
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for piece in input.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(msg)) => {
                    let set_size = set_chunk_size(&msg);
                    messages.push(msg);
                    match set_size {
                        Some(0) => return (messages, Ending::BadChunkSize),
                        Some(size) if size > MAX_CHUNK_SIZE => {
                            return (messages, Ending::BadChunkSize)
                        }
                        Some(size) => decoder.set_chunk_size(size),
                        None => {}
                    }
                }
                Ok(None) => break,
                Err(e) => return (messages, Ending::Error(e)),
            }
        }
    }
    (messages, Ending::NeedMore)
}

fn set_chunk_size(msg: &ChunkMessage) -> Option<u32> {
    let b = msg
        .payload
        .get(..4)
        .filter(|_| msg.type_id == type_id::SET_CHUNK_SIZE)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Chunk stream decoding. Byte 0 picks how the rest is split into reads (0: all at once); Set Chunk Size
/// messages are applied like a session does. Checks: no panic; only defined message types, none above its type's
/// bound, and no more messages than input bytes; a refusal at a header (undefined type, too large) names that
/// header's type and its bound; the same messages and ending
/// whatever the split; and the messages re-encoded with [`encode_message`] decode to the same messages. Returns
/// the number of messages.
pub fn chunk(data: &[u8]) -> usize {
    let Some((&split, rest)) = data.split_first() else {
        return 0;
    };
    let step = if split == 0 {
        rest.len()
    } else {
        usize::from(split)
    };
    let (messages, ending) = decode_chunks(rest, step);
    assert_eq!(
        (&messages, &ending),
        (
            &decode_chunks(rest, rest.len()).0,
            &decode_chunks(rest, rest.len()).1
        ),
        "the decoder depends on how its input is split"
    );
    assert!(messages.len() <= rest.len());
    match &ending {
        Ending::Error(Error::UnknownMessageType { type_id, .. }) => {
            assert_eq!(bound_of(*type_id), None, "type {type_id} is defined")
        }
        Ending::Error(Error::MessageTooLarge {
            type_id, size, max, ..
        }) => {
            assert_eq!(bound_of(*type_id), Some(*max), "bound of type {type_id}");
            assert!(size > max);
        }
        _ => {}
    }
    for m in &messages {
        let max = bound_of(m.type_id).expect("an undefined message type was decoded");
        assert!(
            m.payload.len() <= max as usize,
            "{} bytes of type {}",
            m.payload.len(),
            m.type_id
        );
        assert!(m.csid >= 2 && m.csid <= crate::MAX_CSID);
    }

    // Re-encode with the chunk size in effect for each message, as a peer would send them.
    let mut again = BytesMut::new();
    let mut size = crate::DEFAULT_CHUNK_SIZE;
    for m in &messages {
        encode_message(
            &mut again,
            m.csid,
            m.stream_id,
            m.type_id,
            m.timestamp,
            &m.payload,
            size,
        );
        if let Some(s) = set_chunk_size(m).filter(|s| (1..=MAX_CHUNK_SIZE).contains(s)) {
            size = s;
        }
    }
    let (decoded, end) = decode_chunks(&again, again.len());
    assert_eq!(decoded, messages, "re-encoded messages decode differently");
    let expected = if ending == Ending::BadChunkSize {
        Ending::BadChunkSize
    } else {
        Ending::NeedMore
    };
    assert_eq!(end, expected);
    messages.len()
}

/// AMF0 decoding. Checks: no panic; within the value and depth limits; [`amf0::decode_one`] agrees with the
/// first value of [`amf0::decode_all`]; whatever decodes re-encodes to at most twice its size, and that decodes to
/// the same values and re-encodes to the same bytes. Returns the number of values decoded, if it decoded.
pub fn amf0(data: &[u8]) -> Option<usize> {
    let one = amf0::decode_one(data);
    if let Ok((_, used)) = &one {
        assert!(*used >= 1 && *used <= data.len());
    }
    let values = amf0::decode_all(data).ok()?;
    assert!(values.len() <= data.len());
    let mut count = 0;
    for v in &values {
        assert!(depth(v, &mut count) <= MAX_DEPTH + 1);
    }
    assert!(count <= MAX_VALUES);
    if let Some(v) = values.first() {
        let (first, _) = one
            .as_ref()
            .expect("decode_all decoded a first value decode_one refused");
        assert_eq!(format!("{first:?}"), format!("{v:?}"));
    }
    let mut first = BytesMut::new();
    for v in &values {
        amf0::encode(v, &mut first);
    }
    assert!(
        first.len() <= 2 * data.len(),
        "{} bytes re-encode to {}",
        data.len(),
        first.len()
    );
    let again = amf0::decode_all(&first).expect("re-encoded AMF0 must decode");
    // Debug output compares NaN equal to itself and tells 0.0 from -0.0.
    assert_eq!(format!("{values:?}"), format!("{again:?}"));
    let mut second = BytesMut::new();
    for v in &again {
        amf0::encode(v, &mut second);
    }
    assert_eq!(first, second);
    Some(values.len())
}

/// Nesting depth of `v` (1 for a scalar), counting every value into `count`.
fn depth(v: &Value, count: &mut usize) -> usize {
    *count += 1;
    let children: Vec<&Value> = match v {
        Value::Object(p) | Value::EcmaArray(p) => p.iter().map(|(_, v)| v).collect(),
        Value::StrictArray(items) => items.iter().collect(),
        _ => Vec::new(),
    };
    1 + children
        .into_iter()
        .map(|c| depth(c, count))
        .max()
        .unwrap_or(0)
}

/// What [`server_session`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionOutcome {
    /// Events the session reported.
    pub events: usize,
    /// `Connect`, `Publish` and `Play` requests among them.
    pub requests: usize,
    /// `Media` events.
    pub media: usize,
}

/// A server session after a valid simple handshake, fed arbitrary chunk stream bytes. Byte 0 picks how the rest is
/// split into reads (0: all at once). Every request is accepted (and every play gets a video message) so the
/// media paths are reached. Checks: no panic; no more events than input bytes; media only after a publish and
/// within its bound; a failed session keeps returning its error; and everything the server sends is a valid
/// chunk stream (for a client that applies its Set Chunk Size) whose commands are well-formed AMF0 starting with
/// a name, at most 64 bytes per input byte.
pub fn server_session(data: &[u8]) -> SessionOutcome {
    let Some((&split, rest)) = data.split_first() else {
        return SessionOutcome::default();
    };
    let now = Instant::now();
    let mut server = handshaken_server(now, MAX_SESSION_FIELD);
    let mut published = false;

    let step = if split == 0 {
        rest.len().max(1)
    } else {
        usize::from(split)
    };
    let mut outcome = SessionOutcome::default();
    let mut out = BytesMut::new();
    for piece in rest.chunks(step) {
        let result = server.handle_input(piece, now);
        while let Some(event) = server.poll_output() {
            outcome.events += 1;
            match event {
                ServerEvent::Connect { .. } => {
                    outcome.requests += 1;
                    server.accept_connect();
                }
                ServerEvent::Publish { stream_id, .. } => {
                    outcome.requests += 1;
                    published = true;
                    server.accept_publish(stream_id);
                }
                ServerEvent::Play { stream_id, .. } => {
                    outcome.requests += 1;
                    server.accept_play(stream_id);
                    server.send_media(
                        stream_id,
                        MediaKind::Video,
                        0xFFFF_FFFF,
                        &[0x17, 0, 0, 0, 0],
                    );
                }
                ServerEvent::Media { payload, .. } => {
                    outcome.media += 1;
                    assert!(published, "media before any publish");
                    assert!(payload.len() <= MAX_MESSAGE as usize);
                }
                _ => {}
            }
        }
        out.extend_from_slice(&server.take_transmit().unwrap_or_default());
        if let Err(e) = result {
            if let Error::MediaBeforePublish { .. } = e {
                assert!(!published, "media refused after a publish");
            }
            assert_eq!(server.handle_input(&[], now), Err(e));
            break;
        }
    }
    assert!(
        outcome.events <= rest.len(),
        "{} events from {} bytes",
        outcome.events,
        rest.len()
    );
    assert!(
        out.len() <= 64 * rest.len(),
        "{} bytes sent for {} received",
        out.len(),
        rest.len()
    );

    server_commands(out);
    outcome
}

/// A server session with the fuzzing bounds and `max_field_bytes`, after a valid simple handshake (its reply
/// taken).
fn handshaken_server(now: Instant, max_field_bytes: u32) -> ServerSession {
    let config = SessionConfig {
        message_limits: fuzz_limits(),
        max_field_bytes,
        max_chunk_streams: MAX_CHUNK_STREAMS,
        window_ack_size: 4096,
        ..SessionConfig::default()
    };
    let mut server = ServerSession::new(config, now);
    let mut handshake = vec![3u8];
    handshake.resize(HANDSHAKE_REPLY, 0);
    server
        .handle_input(&handshake, now)
        .expect("simple handshake is valid");
    let reply = server.take_transmit().expect("S0 + S1 + S2");
    assert_eq!(reply.len(), HANDSHAKE_REPLY);
    server
}

/// The server's output, read as a client reads it: a valid chunk stream whose commands are well-formed AMF0
/// starting with a name. Returns the commands.
fn server_commands(out: BytesMut) -> Vec<Vec<Value>> {
    let mut decoder = ChunkDecoder::new(u32::MAX, usize::MAX);
    let mut buf = out;
    let mut commands = Vec::new();
    while let Some(msg) = decoder
        .decode(&mut buf)
        .expect("the server sent a broken chunk stream")
    {
        if let Some(size) = set_chunk_size(&msg) {
            assert!((1..=0x7FFF_FFFF).contains(&size));
            decoder.set_chunk_size(size);
        }
        if msg.type_id == type_id::AMF0_COMMAND {
            let values =
                amf0::decode_all(&msg.payload).expect("the server sent a malformed command");
            assert!(
                matches!(values.first(), Some(Value::String(_))),
                "{values:?}"
            );
            commands.push(values);
        }
    }
    assert!(buf.is_empty(), "the server sent a partial chunk");
    commands
}

/// What [`command_fields`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldsOutcome {
    /// The command's values decoded (otherwise the server only reported a malformed command).
    pub decoded: bool,
    /// A string was over the bound, and the server refused the command for it.
    pub refused: bool,
}

/// `connect` (byte 0 modulo 4 is 0 or 2), `publish` (1) or `play` (3; both after a connect) with
/// arbitrary AMF0 after its name and transaction id: the command object and arguments, as a peer may send them.
/// Checks: no panic; the server refuses the command exactly when one of its strings (a property name, a nested
/// value, an argument) is longer than `max_field_bytes`, with `FieldTooLong` as the session's error and an
/// answer (`_error` NetConnection.Connect.Rejected, or an error onStatus) whose description names the limit;
/// otherwise the request reaches the application.
pub fn command_fields(data: &[u8]) -> FieldsOutcome {
    let Some((&selector, amf)) = data.split_first() else {
        return FieldsOutcome::default();
    };
    let amf = &amf[..amf.len().min(MAX_COMMAND as usize - 32)];
    let command = match selector % 4 {
        0 | 2 => "connect",
        1 => "publish",
        _ => "play",
    };
    let now = Instant::now();
    let mut server = handshaken_server(now, MAX_FIELD);
    let mut input = BytesMut::new();
    if command != "connect" {
        let connect = crate::message::encode_command(
            "connect",
            1.0,
            &Value::object([("app", Value::string("live"))]),
            &[],
        );
        encode_message(&mut input, 3, 0, type_id::AMF0_COMMAND, 0, &connect, 128);
    }
    let mut body = BytesMut::new();
    amf0::encode_str(command, &mut body);
    amf0::encode(&Value::Number(2.0), &mut body);
    body.extend_from_slice(amf);
    // publish and play on message stream 1 (created implicitly).
    let stream_id = u32::from(command != "connect");
    encode_message(
        &mut input,
        3,
        stream_id,
        type_id::AMF0_COMMAND,
        0,
        &body,
        128,
    );

    let result = server.handle_input(&input, now);
    let mut requested = false;
    while let Some(event) = server.poll_output() {
        match event {
            ServerEvent::Connect { .. } => server.accept_connect(),
            ServerEvent::Publish { .. } | ServerEvent::Play { .. } => requested = true,
            _ => {}
        }
    }
    let out = BytesMut::from(server.take_transmit().unwrap_or_default());
    let commands = server_commands(out);

    let values = amf0::decode_all(amf).ok();
    let over = values
        .as_ref()
        .is_some_and(|v| v.iter().any(|v| has_long_string(v, MAX_FIELD as usize)));
    let outcome = FieldsOutcome {
        decoded: values.is_some(),
        refused: matches!(result, Err(Error::FieldTooLong { .. })),
    };
    assert_eq!(
        outcome.refused, over,
        "{command}: refused {result:?}, a long string: {over}"
    );
    if outcome.refused {
        let described = commands.iter().flatten().any(|v| {
            v.get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| d.contains("max_field_bytes") && d.starts_with(command))
        });
        assert!(described, "{commands:?}");
        assert_eq!(server.handle_input(&[], now), result);
    } else {
        assert_eq!(result, Ok(()));
        // A publish or play needs a name; a connect is always reported (and accepted above).
        if command == "connect" && outcome.decoded {
            assert!(commands
                .iter()
                .any(|c| c.first() == Some(&Value::string("_result"))));
        }
        if command != "connect" && outcome.decoded {
            let name = values
                .as_ref()
                .and_then(|v| v.get(1))
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            assert_eq!(requested, name, "{command} {values:?}");
        }
    }
    outcome
}

/// Whether `v` holds a string (a property name included) longer than `max` bytes.
fn has_long_string(v: &Value, max: usize) -> bool {
    match v {
        Value::String(s) | Value::LongString(s) => s.len() > max,
        Value::Object(p) | Value::EcmaArray(p) => p
            .iter()
            .any(|(k, v)| k.len() > max || has_long_string(v, max)),
        Value::StrictArray(items) => items.iter().any(|v| has_long_string(v, max)),
        _ => false,
    }
}
