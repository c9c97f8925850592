//! What goes into the room machine and what comes out (snake_case names in the vectors of `sdk/vectors/room/`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::status::StatusEvent;

/// A signed join, as the app's backend made it (docs/rooms-protocol.md, "Identity and signature"): the client
/// has no session key and signs nothing. The server's own type, so both sides spell the wire alike.
pub use rooms::Join as JoinParams;
pub use rooms::{MuteConfig, RoomType};

/// Another member and where to play it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Its openId.
    pub open_id: String,
    /// Its play URLs by protocol (`rtmp`, `flv`).
    #[serde(default)]
    pub play_urls: Map<String, Value>,
}

/// What the driver or the application hands the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// Join (or open) a room: the machine asks for a socket, then sends `join`.
    Join {
        /// The signed join.
        payload: JoinParams,
    },
    /// Leave the room (or give up joining).
    Exit,
    /// A request answered with `ok` or `error`: `updateMuteConfig`, `subscribeVideoMembers`, `setEnable1v1Chat`;
    /// `body` holds its fields.
    Request {
        /// The message type.
        kind: String,
        /// Its fields besides `type` and `reqId`.
        #[serde(default)]
        body: Map<String, Value>,
    },
    /// This member's microphone volume, 0..100 (speaker detection).
    Volume {
        /// The volume.
        volume: u8,
    },
    /// The socket asked for with [`Action::Open`] is open.
    SocketOpen,
    /// The socket closed, failed, or could not be opened.
    SocketClosed {
        /// The close code (1006 when the connection just dropped), if any.
        #[serde(default)]
        code: Option<u16>,
        /// The close reason or the I/O error.
        #[serde(default)]
        reason: String,
    },
    /// A text frame from the server, parsed as JSON.
    Message {
        /// The frame.
        msg: Value,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Open a new socket to `/rooms/v1/ws` (closing any current one), then report [`Input::SocketOpen`] or
    /// [`Input::SocketClosed`].
    Open,
    /// Send this frame as text.
    Send {
        /// The message.
        msg: Value,
    },
    /// Close the socket.
    Close,
}

/// What happened in the room besides the status codes, for the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// The socket is open and `join` is sent.
    JoinSent,
    /// The join was accepted (with 1018).
    Joined {
        /// The room.
        group_id: String,
        /// `voice` or `video`, the room's.
        room_type: Option<RoomType>,
        /// Every member, this one included, in join order.
        open_id_list: Vec<String>,
        /// Where this member pushes (signed).
        push_url: String,
        /// Every other member with its play URLs.
        members: Vec<Member>,
    },
    /// The join failed (with 1022).
    JoinFailed {
        /// The server's errCode (docs/rooms-protocol.md), -1000 for a socket or timeout failure, -3 for an exit
        /// while joining.
        err_code: i64,
        /// Why.
        err_msg: String,
    },
    /// The socket dropped while in the room; the machine is resuming.
    Reconnecting {
        /// Why the socket closed.
        reason: String,
    },
    /// Back in the room after a drop (with 1021).
    Resumed {
        /// Every member, this one included.
        open_id_list: Vec<String>,
        /// Every other member with its play URLs.
        members: Vec<Member>,
    },
    /// Out of the room after `exit` (with 1019).
    Exited,
    /// The membership was lost without an exit: the server's `interrupted` (-10009 heartbeat timeout, -10010
    /// taken over) or a resume that failed (-10008).
    Interrupted {
        /// The errCode.
        err_code: i64,
        /// Why.
        err_msg: String,
    },
    /// Members joined or left: the current list and the newcomers with their play URLs.
    MembersChanged {
        /// Every member, in join order.
        open_id_list: Vec<String>,
        /// The members that joined (empty on a leave).
        members: Vec<Member>,
    },
    /// The speaking members changed.
    SpeakersChanged {
        /// Those speaking, in join order.
        open_id_list: Vec<String>,
    },
    /// The video members this member sees changed.
    VideoMembersChanged {
        /// Those shown, in join order.
        open_id_list: Vec<String>,
    },
    /// The answer to an [`Input::Request`].
    Reply {
        /// The request's reqId (as [`RoomMachine::handle_input`](super::RoomMachine::handle_input) returned it).
        req_id: u64,
        /// `ok` (true) or `error`.
        ok: bool,
        /// The errCode of an error (0 for ok).
        err_code: i64,
        /// The server's errMsg, or why the request could not be sent.
        err_msg: String,
    },
    /// An `error` that answers no request of ours.
    ServerError {
        /// The errCode.
        err_code: i64,
        /// The errMsg.
        err_msg: String,
    },
}

/// One output of the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Something for the driver to do.
    Action(Action),
    /// A live-pusher ROOM code (1018-1022, 1031-1034) with its JSON-as-string message.
    Status(StatusEvent),
    /// Everything else the application may want.
    Event(RoomEvent),
}
