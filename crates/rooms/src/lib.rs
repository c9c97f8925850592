//! Sans-IO multi-party rooms with the semantics of WeChat's `voip-room` / `wx.joinVoIPChat`: join signatures,
//! timestamp window and signature replay, room size and daily quota, members, mute, speakers from reported volume, the
//! video subscription rule, heartbeats and resume, and live-pusher's ROOM-protocol events driven by the members'
//! streams. The wire contract is `docs/rooms-protocol.md`.
//!
//! # I/O and clock policy
//!
//! No sockets, no tokio, no OS clock, no randomness of its own: the core follows the workspace's sans-IO contract
//! (`docs/architecture.md`, "The sans-IO contract"). Every [`Input`] (a connection opened or closed, a text frame,
//! a session-key answer, the store's answer to an admit, a media stream's change) goes in through
//! [`Rooms::handle_input`] with `now: Instant`; outputs ([`Output`]: a message for a connection, a connection to
//! close, a session key to look up, store work) queue until [`Rooms::poll_output`] takes them. After every input,
//! drain `poll_output`, then sleep until [`Rooms::poll_timeout`] and call [`Rooms::handle_timeout`] (early calls
//! are harmless).
//!
//! The wall clock (`unix_secs`) is not a second time type: it is data of the inputs that read it (a text frame or
//! request, whose join checks its `timeStamp` and counts the room in the quota of its UTC day), never used for a
//! deadline. The secret that keys resume tokens is drawn from a generator seeded by [`Config::rng_seed`] (OS
//! entropy by default), so a test that sets a seed gets the same tokens every run.
//!
//! ```text
//!   handle_input(Open / Text / Request / SessionKey        poll_output() -> Send / Close / LookupSessionKey
//!                / Admitted / Closed / Stream, now)  -->  Rooms  -->        / Admit / RemoveMember / EndRoom
//!   handle_timeout(now)                                    poll_timeout() -> next deadline
//! ```
//!
//! Shared data (membership, the daily quota, the replay memory of used signatures and nonces) lives in a store
//! the core never calls: store work is output ([`Output::Admit`], [`Output::RemoveMember`], [`Output::EndRoom`]),
//! each one atomic check-and-change, applied by the caller in the order emitted; the answer to an admit comes back
//! as [`Input::Admitted`]. So the store may be remote and asynchronous (Redis in cluster mode); [`MemoryStore`] is
//! the in-process one, and [`MemoryStore::apply`] answers the outputs with it. Resume tokens start with their
//! room ([`token_room`]), so any node of a cluster can route a `resume` to the node hosting the room.
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
//! let mut rooms = Rooms::new(Config::default(), Box::new(Urls));
//! let mut store = MemoryStore::new();
//! rooms.handle_input(Input::Open { conn: 1 }, now);
//! let sig = rooms::sign(&rooms::SignedFields { app_id: "wx1", group_id: "g", nonce_str: "n1",
//!     time_stamp: "1559129714" }, "key");
//! let join = format!(r#"{{"type":"join","reqId":1,"appId":"wx1","groupId":"g","openId":"me",
//!     "nonceStr":"n1","timeStamp":"1559129714","signature":"{sig}"}}"#);
//! rooms.handle_input(Input::Text { conn: 1, text: &join, unix_secs: unix }, now);
//! // The core asks for the session key; the caller looks it up and answers.
//! assert!(matches!(rooms.poll_output(), Some(Output::LookupSessionKey { conn: 1, .. })));
//! rooms.handle_input(Input::SessionKey { conn: 1, key: SessionKey::Found("key".into()) }, now);
//! // The signature is right: the core asks the store to admit the join (replay check, limits, membership).
//! let admit = rooms.poll_output().unwrap();
//! assert!(matches!(admit, Output::Admit { conn: 1, .. }));
//! let answer = store.apply(&admit).unwrap(); // Input::Admitted
//! rooms.handle_input(answer, now);
//! let Some(Output::Send { message, .. }) = rooms.poll_output() else { panic!() };
//! assert!(message.to_json().starts_with(r#"{"type":"joined""#));
//! assert_eq!(store.room_of("wx1", "me"), Some("g"));
//! ```
//!
//! # Errors and panics
//!
//! Bad input from a client becomes an `error` message to that client (codes in [`codes`]); nothing a client
//! sends can panic the core (property-tested). A store failure (an admit answered with
//! `AdmitRefused::Add(AddRefused::Backend(..))`) becomes `-1000` for the join that met it; removals are fire and
//! forget, and an answer the core no longer waits for (the socket closed or exited meanwhile) is undone with an
//! [`Output::RemoveMember`] rather than refused: it never panics the core.

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
pub use crate::core::{
    token_room, CloseReason, ConnId, Input, MediaUrls, MemberSnapshot, Output, RoomSnapshot, Rooms,
    SessionKey,
};
pub use crate::protocol::{
    BadRequest, Command, Join, MemberInfo, MuteConfig, PlayUrls, ReqId, Request, RoomType,
    ServerMessage, State,
};
pub use crate::room::StreamState;
pub use crate::signature::{sign, verify, SignedFields};
pub use crate::store::{
    AddLimits, AddRefused, Added, Admit, AdmitRefused, MemoryStore, ReplayCheck, RoomKey,
    SignatureUse, StoreError,
};
pub use crate::stream_name::{stream_name, MAX_STREAM_NAME_CHARS};
