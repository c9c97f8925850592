//! Sans-IO RTMP: handshake, chunk codec, AMF0, command messages, and server and client session state machines.
//!
//! # I/O and clock policy
//!
//! This crate does no I/O, reads no clock and draws no randomness of its own; it follows the workspace's sans-IO
//! contract (`docs/architecture.md`, "The sans-IO contract"). Received bytes go in through
//! `handle_input(&[u8], now)`, time is always an argument (`now: std::time::Instant`), bytes to send come out of
//! `take_transmit()` (all pending output as one [`bytes::Bytes`], so the caller does one write), and everything
//! the application must know or decide comes out of `poll_output()`. Deadlines come back from `poll_timeout()`;
//! call `handle_timeout(now)` when they pass (calling early is harmless). The handshake's random bytes come from a
//! generator seeded by [`SessionConfig::rng_seed`] (OS entropy by default), so a test that sets a seed gets the
//! same bytes every run.
//!
//! ```text
//!            handle_input(bytes, now)            poll_output() -> ServerEvent / ClientEvent
//!  socket ---------------------------> Session ------------------------------------------> application
//!  socket <--------------------------- Session <------------------------------------------ application
//!            take_transmit() -> Bytes            accept_* / reject_* / send_* / connect / publish / play
//! ```
//!
//! # Entry types
//!
//! - [`ServerSession`]: the server side of one connection; emits [`ServerEvent`]s.
//! - [`ClientSession`]: a publisher or player connection; emits [`ClientEvent`]s.
//! - [`encode_media_message`]: encode a media message once, to share its bytes among many subscribers.
//! - [`ChunkDecoder`], [`amf0`]: the lower layers, public for tools and fuzzing.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use rtmp::{ClientEvent, ClientSession, ServerEvent, ServerSession, SessionConfig};
//!
//! let now = Instant::now();
//! let mut server = ServerSession::new(SessionConfig::default(), now);
//! let mut client = ClientSession::new(SessionConfig::default(), now);
//! client.connect("live", "rtmp://localhost/live");
//! client.publish("stream?txSecret=abc");
//! let mut publishing = false;
//! for _ in 0..10 {
//!     // After every input: drain events, then transmit.
//!     if let Some(bytes) = client.take_transmit() {
//!         server.handle_input(&bytes, now).unwrap();
//!     }
//!     while let Some(event) = server.poll_output() {
//!         match event {
//!             ServerEvent::Connect { .. } => server.accept_connect(),
//!             ServerEvent::Publish { stream_id, name, query, .. } => {
//!                 assert_eq!((name.as_str(), query.as_deref()), ("stream", Some("txSecret=abc")));
//!                 server.accept_publish(stream_id);
//!             }
//!             _ => {}
//!         }
//!     }
//!     if let Some(bytes) = server.take_transmit() {
//!         client.handle_input(&bytes, now).unwrap();
//!     }
//!     while let Some(event) = client.poll_output() {
//!         publishing |= matches!(event, ClientEvent::Publishing { .. });
//!     }
//! }
//! assert!(publishing);
//! ```
//!
//! # Errors and panics
//!
//! Every error comes from peer input or a configured limit ([`SessionConfig`]) and is an [`Error`]. A session
//! that returned an error is dead: every later `handle_*` call returns the same error (the caller closes the
//! connection). Lengths from the wire are checked against the configured bounds before anything is allocated.
//! Whatever can be judged from a chunk header is judged there, before the payload is waited for: an undefined
//! message type, a length above its type's bound ([`MessageLimits`]) and, on a server, media before `publish` end
//! the session. Recoverable oddities (unknown or malformed commands) do not: the server answers `_error` where a
//! reply is expected and reports [`ServerEvent::Unhandled`]. A panic is a bug.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod amf0;
mod chunk;
mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod message;
mod session;

/// The `bytes` crate this API uses (re-exported so callers and fuzz targets need not depend on it).
pub use bytes;
pub use chunk::{
    encode_media_message, encode_message, ChunkDecoder, ChunkMessage, DEFAULT_CHUNK_SIZE, MAX_CSID,
};
pub use config::{HandshakeMode, MessageLimits, SessionConfig, MAX_CONTROL_MESSAGE_SIZE};
pub use error::{Amf0ErrorKind, Error};
pub use message::{media_chunk_stream_id, MediaKind, CSID_AUDIO, CSID_DATA, CSID_VIDEO};
pub use session::{ClientEvent, ClientSession, ServerEvent, ServerSession, MAX_MESSAGE_STREAMS};

/// Split `name?query` into the name and the query (without the `?`); an empty query is `None`.
///
/// ```
/// assert_eq!(rtmp::split_query("stream?txSecret=a&txTime=b"), ("stream", Some("txSecret=a&txTime=b")));
/// assert_eq!(rtmp::split_query("rtmp://h/live?x=y"), ("rtmp://h/live", Some("x=y")));
/// assert_eq!(rtmp::split_query("live"), ("live", None));
/// ```
pub fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((name, query)) if !query.is_empty() => (name, Some(query)),
        Some((name, _)) => (name, None),
        None => (s, None),
    }
}
