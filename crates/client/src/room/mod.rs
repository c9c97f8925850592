//! A room member over mplive's `/rooms/v1/ws` (docs/rooms-protocol.md), reporting what `live-pusher` reports in a
//! ROOM-protocol room: 1018 when the join is accepted, 1019 on leaving, 1021 when the member is back after its
//! connection dropped (WiFi to 4G), 1022 when the join is refused or fails (with the server's reason), and the
//! server's 1020 / 1031-1034, each with a JSON object written as a string as its `message`.
//!
//! - [`machine`]: the sans-IO state machine (commands and socket observations in; frames, socket actions, codes
//!   and events out), with heartbeats and the resume after a drop; its cases are the JSON vectors under
//!   `sdk/vectors/room/`, also replayed by the JavaScript SDK's `RoomMachine`.
//! - [`RoomClient`]: the Tokio driver over a WebSocket (plain `ws://`; no TLS yet).
//!
//! ```no_run
//! use client::room::{JoinParams, Notice, RoomClient, RoomOptions, RoomType, MuteConfig};
//!
//! # async fn run() -> Result<(), client::url::UrlError> {
//! let (room, mut updates) = RoomClient::start("http://127.0.0.1:8080", RoomOptions::default())?;
//! room.join(JoinParams {
//!     app_id: "wx20afc706a711eefc".into(),
//!     group_id: "team1".into(),
//!     open_id: "alice".into(),
//!     nonce_str: "Yx2...".into(),           // signed by the app's backend
//!     time_stamp: "1763700000".into(),
//!     signature: "5f1c...".into(),
//!     room_type: RoomType::Video,
//!     mute_config: MuteConfig::default(),
//! });
//! while let Some(update) = updates.recv().await {
//!     match update.notice {
//!         Notice::Status(s) => println!("{} {}", s.code, s.message), // 1018 {"roomid":"team1","userid":"alice"}
//!         Notice::Event(e) => println!("{e:?}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod driver;
pub mod machine;

pub use driver::{Notice, RoomClient, RoomOptions, RoomUpdate};
pub use machine::{
    JoinParams, Member, MuteConfig, RoomConfig, RoomEvent, RoomMachine, RoomState, RoomType,
};
