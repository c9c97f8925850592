//! Status codes of `live-pusher` and `live-player` (seed documents 001 and 002), and the event that carries one.

use serde::{Deserialize, Serialize};

/// One status event: a code with the meaning WeChat's components give it, and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// The live-pusher / live-player code.
    pub code: i32,
    /// What happened, with details (the server's reason for a refusal, the OS error for a failed connect).
    pub message: String,
}

impl StatusEvent {
    /// An event with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> StatusEvent {
        StatusEvent {
            code,
            message: message.into(),
        }
    }
}

/// `live-pusher` codes.
pub mod pusher {
    /// Connected to the RTMP server.
    pub const CONNECTED: i32 = 1001;
    /// Handshake with the server done, pushing.
    pub const PUSHING: i32 = 1002;
    /// The camera started (emitted where an encoder is driven).
    pub const CAMERA_STARTED: i32 = 1003;
    /// Encoder resolution changed (emitted where an encoder is driven).
    pub const RESOLUTION_CHANGED: i32 = 1005;
    /// First frame captured (emitted where an encoder is driven).
    pub const FIRST_FRAME: i32 = 1007;
    /// Encoder started (emitted where an encoder is driven).
    pub const ENCODER_STARTED: i32 = 1008;
    /// ROOM protocol: the join was accepted (`client::room`).
    pub const ROOM_JOINED: i32 = 1018;
    /// ROOM protocol: left the room.
    pub const ROOM_LEFT: i32 = 1019;
    /// ROOM protocol: the list of other members whose stream is live changed (sent by the server).
    pub const ROOM_LIVE_MEMBERS: i32 = 1020;
    /// ROOM protocol: back in the room after the connection dropped (the resume succeeded).
    pub const ROOM_REJOINED: i32 = 1021;
    /// ROOM protocol: the join was refused or failed.
    pub const ROOM_JOIN_FAILED: i32 = 1022;
    /// ROOM protocol: a member's stream started (sent by the server).
    pub const ROOM_MEMBER_PUSHING: i32 = 1031;
    /// ROOM protocol: a member's stream stopped (sent by the server).
    pub const ROOM_MEMBER_STOPPED: i32 = 1032;
    /// ROOM protocol: a member's video appeared or disappeared (sent by the server).
    pub const ROOM_MEMBER_VIDEO: i32 = 1033;
    /// ROOM protocol: a member's audio appeared or disappeared (sent by the server).
    pub const ROOM_MEMBER_AUDIO: i32 = 1034;
    /// Uplink congested: the send queue is backing up.
    pub const NET_BUSY: i32 = 1101;
    /// Connection lost, reconnecting.
    pub const RECONNECTING: i32 = 1102;
    /// DNS resolution failed.
    pub const DNS_FAILED: i32 = 3001;
    /// TCP connection to the server failed.
    pub const CONNECT_FAILED: i32 = 3002;
    /// RTMP handshake (or connect command) failed.
    pub const HANDSHAKE_FAILED: i32 = 3003;
    /// The server closed the connection or refused the push (bad URL, signature, forbidden, busy...).
    pub const SERVER_REFUSED: i32 = 3004;
    /// Read or write failed.
    pub const IO_FAILED: i32 = 3005;
    /// Gave up after the retries.
    pub const GAVE_UP: i32 = -1307;
}

/// `live-player` codes.
pub mod player {
    /// Connected to the server.
    pub const CONNECTED: i32 = 2001;
    /// Connected, the stream begins (RTMP `NetStream.Play.Start`, HTTP-FLV 200 response).
    pub const STREAM_BEGIN: i32 = 2002;
    /// First video keyframe received.
    pub const FIRST_I_FRAME: i32 = 2003;
    /// Playback begins (the jitter buffer reached min-cache; RTC: at once).
    pub const PLAY_BEGIN: i32 = 2004;
    /// Playback ended (the stream ended).
    pub const PLAY_END: i32 = 2006;
    /// Loading: the buffer ran empty.
    pub const LOADING: i32 = 2007;
    /// The video resolution changed.
    pub const RESOLUTION_CHANGED: i32 = 2009;
    /// Connection lost, reconnecting.
    pub const RECONNECTING: i32 = 2103;
    /// Gave up after the retries.
    pub const GAVE_UP: i32 = -2301;
    /// DNS resolution failed.
    pub const DNS_FAILED: i32 = 3001;
    /// TCP connection failed.
    pub const CONNECT_FAILED: i32 = 3002;
    /// Handshake failed.
    pub const HANDSHAKE_FAILED: i32 = 3003;
    /// Read or write failed.
    pub const IO_FAILED: i32 = 3005;
}
