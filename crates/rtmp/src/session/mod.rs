//! Server and client session state machines.

mod client;
mod conn;
mod script;
mod server;

pub use client::{ClientEvent, ClientSession};
pub use server::{ServerEvent, ServerSession, MAX_MESSAGE_STREAMS};

use std::time::Instant;

use crate::config::SessionConfig;
use crate::error::Error;

fn handshake_deadline(config: &SessionConfig, now: Instant) -> Option<Instant> {
    now.checked_add(config.handshake_timeout)
}

fn timeout_error() -> Error {
    Error::HandshakeTimeout
}
