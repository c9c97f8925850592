//! Sans-IO multi-party rooms with the semantics of WeChat's `voip-room` / `wx.joinVoIPChat`: join signatures,
//! timestamp window and signature replay, room size and daily quota, members, mute, speakers from reported volume, the
//! video subscription rule, heartbeats and resume, and live-pusher's ROOM-protocol events driven by the members'
//! streams. The wire contract is `docs/rooms-protocol.md`.
//!
//! # I/O and clock policy
//!
//! No sockets, no tokio, no OS clock, no randomness of its own: the core follows the workspace's sans-IO contract
//! (`docs/architecture.md`, "The sans-IO contract"). Every [`Input`] (a connection opened or closed, a text frame,
//! a session-key answer, a media stream's change) goes in through [`Rooms::handle_input`] with `now: Instant`;
//! outputs ([`Output`]: a message for a connection, a connection to close, a session key to look up) queue until
//! [`Rooms::poll_output`] takes them. After every input, drain `poll_output`, then sleep until
//! [`Rooms::poll_timeout`] and call [`Rooms::handle_timeout`] (early calls are harmless).
//!
//! The wall clock (`unix_secs`) is not a second time type: it is data of the inputs that read it (a text frame or
//! request, whose join checks its `timeStamp` and counts the room in the quota of its UTC day), never used for a
//! deadline. The secret that keys resume tokens is drawn from a generator seeded by [`Config::rng_seed`] (OS
//! entropy by default), so a test that sets a seed gets the same tokens every run.
//!
//! ```text
//!   handle_input(Open / Text / Request / SessionKey     poll_output() -> Send / Close / LookupSessionKey
//!                / Closed / Stream, now)           -->  Rooms  -->  poll_timeout() -> next deadline
//!   handle_timeout(now)
//! ```
//!
//! Shared data (membership, the daily quota, the replay memory of used signatures and nonces) lives behind [`RoomStore`], whose methods are each
//! one atomic check-and-change, so a shared store (Redis) can implement it; [`MemoryStore`] is the in-process one.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use rooms::{Config, Input, MediaUrls, MemoryStore, Output, PlayUrls, Rooms, SessionKey};
//!
//! struct Urls;
//! impl MediaUrls for Urls {
//!     fn push_url(&self, s: &str) -> String { format!("rtmp://h/room/{s}") }
//!     fn play_urls(&self, s: &str) -> PlayUrls {
//!         PlayUrls { rtmp: format!("rtmp://h/room/{s}"), flv: format!("http://h/room/{s}.flv") }
//!     }
//! }
//! let now = Instant::now();
//! let unix = 1_559_129_714;
//! let mut rooms = Rooms::new(Config::default(), MemoryStore::new(), Box::new(Urls));
//! rooms.handle_input(Input::Open { conn: 1 }, now);
//! let sig = rooms::sign(&rooms::SignedFields { app_id: "wx1", group_id: "g", nonce_str: "n1",
//!     time_stamp: "1559129714" }, "key");
//! let join = format!(r#"{{"type":"join","reqId":1,"appId":"wx1","groupId":"g","openId":"me",
//!     "nonceStr":"n1","timeStamp":"1559129714","signature":"{sig}"}}"#);
//! rooms.handle_input(Input::Text { conn: 1, text: &join, unix_secs: unix }, now);
//! // The core asks for the session key; the caller looks it up and answers.
//! assert!(matches!(rooms.poll_output(), Some(Output::LookupSessionKey { conn: 1, .. })));
//! rooms.handle_input(Input::SessionKey { conn: 1, key: SessionKey::Found("key".into()) }, now);
//! let Some(Output::Send { message, .. }) = rooms.poll_output() else { panic!() };
//! assert!(message.to_json().starts_with(r#"{"type":"joined""#));
//! ```
//!
//! # Errors and panics
//!
//! Bad input from a client becomes an `error` message to that client (codes in [`codes`]); nothing a client
//! sends can panic the core (property-tested). A store failure becomes `-1000` for the request that met it.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod codes;
mod config;
mod core;
#[doc(hidden)]
pub mod fuzzing;
mod protocol;
mod room;
mod signature;
mod store;
mod stream_name;

pub use crate::config::Config;
pub use crate::core::{CloseReason, ConnId, Input, MediaUrls, Output, Rooms, SessionKey};
pub use crate::protocol::{
    BadRequest, Command, Join, MemberInfo, MuteConfig, PlayUrls, ReqId, Request, RoomType,
    ServerMessage, State,
};
pub use crate::room::StreamState;
pub use crate::signature::{sign, verify, SignedFields};
pub use crate::store::{
    AddLimits, AddRefused, Added, MemoryStore, ReplayCheck, RoomKey, RoomStore, SignatureUse,
    StoreError,
};
pub use crate::stream_name::{stream_name, MAX_STREAM_NAME_CHARS};
