//! Server and client session state machines.

mod client;
mod conn;
mod script;
mod server;

pub use client::{ClientEvent, ClientSession};
pub use server::{ServerEvent, ServerSession, MAX_MESSAGE_STREAMS};

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::SessionConfig;
use crate::error::Error;

fn handshake_deadline(config: &SessionConfig, now: Instant) -> Option<Instant> {
    now.checked_add(config.handshake_timeout)
}

fn timeout_error() -> Error {
    Error::HandshakeTimeout
}

/// The source of a session's handshake bytes: seeded from `seed` when given (deterministic, for tests), from the
/// thread's OS-seeded generator otherwise.
fn session_rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_seed(rand::thread_rng().gen()),
    }
}
