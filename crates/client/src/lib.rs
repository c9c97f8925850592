//! A headless `live-pusher` and `live-player`, and a room member of `/rooms/v1/ws`: the client side of mplive,
//! over the client half of `crates/rtmp` and a WebSocket; and a WHEP (WebRTC) player over str0m (`whep`).
//!
//! What the SDK reports means what WeChat's components mean: the same status codes (`status`), the same
//! net-status fields, the same reconnect policies. The state machines that turn observations (connected,
//! refused, read failed, first keyframe, ...) into codes and retries are plain code without I/O
//! (`pusher::machine`, `player::machine`, `room::machine`); their cases are JSON test vectors under `sdk/vectors/`, replayed by this
//! crate's tests and by the JavaScript SDK, so the two cannot drift apart.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod connection;
mod error_chain;
pub mod http_flv;
pub mod managed;
pub mod player;
pub mod pusher;
pub mod room;
pub mod status;
pub mod url;
pub mod whep;

pub use error_chain::{error_chain, join_causes};
