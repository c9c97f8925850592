//! The `message` of the codes the client itself reports (1018, 1019, 1021, 1022): a JSON object written as a
//! string, as live-pusher's `bindstatechange` delivers ROOM events and as the server sends 1020 and 1031-1034.
//! Keys are lowercase like the server's (`userid`, `playurl`); the JavaScript SDK writes the same keys in the same
//! order, so the vectors compare the strings.

use serde::Serialize;

use crate::status::StatusEvent;

/// 1018, 1019 and 1021: which room, which member.
#[derive(Serialize)]
struct Membership<'a> {
    roomid: &'a str,
    userid: &'a str,
}

/// 1022: which room, which member, and why not.
#[derive(Serialize)]
struct Refusal<'a> {
    roomid: &'a str,
    userid: &'a str,
    errcode: i64,
    errmsg: &'a str,
}

/// A code about this member's membership of `room` (1018, 1019, 1021).
pub(super) fn membership(code: i32, room: &str, user: &str) -> StatusEvent {
    let m = Membership {
        roomid: room,
        userid: user,
    };
    StatusEvent::new(code, to_string(&m))
}

/// 1022 with the errCode and the reason.
pub(super) fn refusal(
    code: i32,
    room: &str,
    user: &str,
    err_code: i64,
    err_msg: &str,
) -> StatusEvent {
    let m = Refusal {
        roomid: room,
        userid: user,
        errcode: err_code,
        errmsg: err_msg,
    };
    StatusEvent::new(code, to_string(&m))
}

fn to_string(v: &impl Serialize) -> String {
    // A struct of strings and integers always serializes; the fallback only keeps this panic-free.
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string())
}
