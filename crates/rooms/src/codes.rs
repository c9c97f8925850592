//! The `errCode` values of the wire contract (`docs/rooms-protocol.md`).

/// Already in a room (this socket, or this openId in another room of the same app).
pub const ALREADY_IN_ROOM: i32 = -1;
/// Left while joining: exit or socket closed before the join completed.
pub const LEFT_WHILE_JOINING: i32 = -3;
/// System error (the room store failed).
pub const SYSTEM_ERROR: i32 = -1000;
/// The signature does not match.
pub const BAD_SIGNATURE: i32 = -10001;
/// `timeStamp` outside the window, in milliseconds, or not plain decimal digits.
pub const BAD_TIMESTAMP: i32 = -10002;
/// The room is full.
pub const ROOM_FULL: i32 = -10003;
/// The app's daily room-creation quota is used up.
pub const QUOTA_EXHAUSTED: i32 = -10004;
/// `nonceStr` reused or invalid, or the signature already used (a replay, possibly re-split into other fields).
pub const BAD_NONCE: i32 = -10005;
/// Malformed message: bad JSON, missing or invalid field, unknown type.
pub const BAD_REQUEST: i32 = -10006;
/// Unknown app, or no session key for this openId.
pub const UNKNOWN_IDENTITY: i32 = -10007;
/// Resume token unknown or expired.
pub const BAD_RESUME_TOKEN: i32 = -10008;
/// Interrupted: heartbeats missed.
pub const HEARTBEAT_TIMEOUT: i32 = -10009;
/// Interrupted: the same openId joined the room from another socket.
pub const REPLACED: i32 = -10010;
/// Not in a room.
pub const NOT_IN_ROOM: i32 = -10011;
