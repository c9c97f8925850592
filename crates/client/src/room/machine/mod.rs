//! The room client of `/rooms/v1/ws` (docs/rooms-protocol.md) as a state machine without I/O: the application's
//! commands and what the socket brings go in; frames to send, socket actions, live-pusher ROOM codes and room
//! events come out. A port of the JavaScript SDK's `RoomMachine` (`sdk/miniprogram/src/machines/room.js`); the
//! vectors in `sdk/vectors/room/` keep the two alike.
//!
//! # Contract
//!
//! The driver ([`RoomClient`](crate::room::RoomClient), a test) owns the socket and the clock. It feeds commands
//! and observations with [`handle_input`](RoomMachine::handle_input), calls
//! [`handle_timeout`](RoomMachine::handle_timeout) when [`poll_timeout`](RoomMachine::poll_timeout) passes (early
//! calls are harmless), and after every call drains [`poll_output`](RoomMachine::poll_output) until it returns
//! `None`. Nothing here reads a clock or blocks.
//!
//! ```text
//!  join, exit, request, volume,                       actions open, send {msg}, close
//!  socket_open, socket_closed, message, (clock) --->  codes 1018 1019 1020 1021 1022 1031-1034
//!                                                      events (joined, members_changed, ...)
//! ```
//!
//! # Codes
//!
//! | code | when | `message` (a JSON string) |
//! |---|---|---|
//! | 1018 | `joined` answers our `join` | `{"roomid","userid"}` |
//! | 1019 | `exited` answers our `exit`, or the exit ends otherwise (socket closed, no answer, exit while resuming) | `{"roomid","userid"}` |
//! | 1021 | `joined` with `resumed:true` answers our `resume` after a dropped socket | `{"roomid","userid"}` |
//! | 1022 | the join was refused (`error`), the socket closed or nothing answered before `joined`, or `exit` came first | `{"roomid","userid","errcode","errmsg"}` |
//! | 1020, 1031-1034 | the server's `roomEvent`, passed on as it came | the server's |
//!
//! # Resume
//!
//! A socket that drops while in the room is reopened at once and `resume` is sent with the token of the last
//! `joined`. Each further failure waits [`RoomConfig::resume_retry`] (1 s), doubled after each failure up to
//! [`RoomConfig::resume_retry_max`] (4 s), until [`RoomConfig::resume_grace`] (15 s) would be over; then (or
//! when the server answers -10008) the member is [`RoomEvent::Interrupted`].

mod config;
mod message;
mod vocabulary;

use std::collections::VecDeque;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::status::pusher as code;
use crate::status::StatusEvent;
pub use config::RoomConfig;
pub use vocabulary::{Action, Input, JoinParams, Member, MuteConfig, Output, RoomEvent, RoomType};

#[cfg(test)]
mod tests;

/// The room errCodes the client itself uses (the server's are in docs/rooms-protocol.md).
pub mod err {
    /// Already in a room, or joining.
    pub const ALREADY_IN_ROOM: i64 = -1;
    /// `exit` before the join was answered.
    pub const LEFT_WHILE_JOINING: i64 = -3;
    /// The socket failed, or nothing answered in time.
    pub const SYSTEM: i64 = -1000;
    /// The resume failed or its grace is over.
    pub const RESUME_FAILED: i64 = -10008;
    /// Not in a room.
    pub const NOT_IN_ROOM: i64 = -10011;
}

/// Where the machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomState {
    /// Never joined, or the last join failed.
    Idle,
    /// Waiting for the socket to open.
    Connecting,
    /// `join` sent, waiting for `joined`.
    Joining,
    /// In the room.
    Joined,
    /// The socket dropped; reopening it and resuming.
    Resuming,
    /// `exit` sent.
    Exiting,
    /// Left the room.
    Exited,
    /// Lost the membership without an exit.
    Interrupted,
}

/// The room client's state. See the module documentation.
#[derive(Debug)]
pub struct RoomMachine {
    config: RoomConfig,
    state: RoomState,
    next_req_id: u64,
    join_req_id: Option<u64>,
    resume_req_id: Option<u64>,
    join: Option<JoinParams>,
    /// Requests sent and not answered: reqId and message type, in the order sent.
    pending: Vec<(u64, String)>,
    resume_token: Option<String>,
    heartbeat_every: std::time::Duration,
    heartbeat_at: Option<Instant>,
    answer_by: Option<Instant>,
    reopen_at: Option<Instant>,
    grace_end: Option<Instant>,
    /// The wait before the next reopen after a failed one.
    retry_wait: std::time::Duration,
    out: VecDeque<Output>,
}

impl RoomMachine {
    /// A machine with `config`, not in a room.
    pub fn new(config: RoomConfig) -> RoomMachine {
        RoomMachine {
            config,
            state: RoomState::Idle,
            next_req_id: 1,
            join_req_id: None,
            resume_req_id: None,
            join: None,
            pending: Vec::new(),
            resume_token: None,
            heartbeat_every: config.heartbeat,
            heartbeat_at: None,
            answer_by: None,
            reopen_at: None,
            grace_end: None,
            retry_wait: config.resume_retry,
            out: VecDeque::new(),
        }
    }

    /// Where the machine is.
    pub fn state(&self) -> RoomState {
        self.state
    }

    /// Feeds one input; returns the reqId given to a `request` or `exit` (their [`RoomEvent::Reply`] carries it).
    pub fn handle_input(&mut self, input: Input, now: Instant) -> Option<u64> {
        self.handle_timeout(now);
        match input {
            Input::Join { payload } => self.join(payload, now),
            Input::Exit => return Some(self.exit(now)),
            Input::Request { kind, body } => return Some(self.request(kind, body, now)),
            Input::Volume { volume } => {
                if self.state == RoomState::Joined {
                    self.send(serde_json::json!({"type": "volume", "volume": volume}), now);
                }
            }
            Input::SocketOpen => self.opened(now),
            Input::SocketClosed { code, reason } => self.closed(code, &reason, now),
            Input::Message { msg } => self.message(&msg, now),
        }
        None
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.heartbeat_at, self.answer_by, self.reopen_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers due by `now`: answer timeouts, the next reopen, heartbeats.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.answer_by.is_some_and(|t| now >= t) {
            self.answer_by = None;
            let ms = self.config.answer_timeout.as_millis();
            match self.state {
                RoomState::Connecting | RoomState::Joining => {
                    self.fail_join(err::SYSTEM, &format!("no answer within {ms} ms"), true)
                }
                RoomState::Resuming => {
                    self.action(Action::Close);
                    self.interrupt(
                        err::RESUME_FAILED,
                        &format!("no answer to resume within {ms} ms"),
                        false,
                    );
                }
                // The server did not confirm: the member is out as far as the application is concerned.
                RoomState::Exiting => self.exited(true),
                _ => {}
            }
        }
        if self.reopen_at.is_some_and(|t| now >= t) {
            self.reopen_at = None;
            if self.state == RoomState::Resuming {
                self.answer_by = Some(now + self.config.answer_timeout);
                self.action(Action::Open);
            }
        }
        if self.heartbeat_at.is_some_and(|t| now >= t) {
            self.heartbeat_at = Some(now + self.heartbeat_every);
            if matches!(self.state, RoomState::Joined | RoomState::Exiting) {
                self.action(Action::Send {
                    msg: serde_json::json!({"type": "heartbeat"}),
                });
            }
        }
    }

    fn take_req_id(&mut self) -> u64 {
        let id = self.next_req_id;
        self.next_req_id += 1;
        id
    }

    fn join(&mut self, payload: JoinParams, now: Instant) {
        let req_id = self.take_req_id();
        if !matches!(
            self.state,
            RoomState::Idle | RoomState::Exited | RoomState::Interrupted
        ) {
            let why = format!("already in a room or joining (state {:?})", self.state);
            return self.reply(req_id, false, err::ALREADY_IN_ROOM, why);
        }
        self.pending.clear();
        self.resume_token = None;
        self.stop_timers();
        self.resume_req_id = None;
        self.state = RoomState::Connecting;
        self.join_req_id = Some(req_id);
        self.join = Some(payload);
        self.answer_by = Some(now + self.config.answer_timeout);
        self.action(Action::Open);
    }

    fn exit(&mut self, now: Instant) -> u64 {
        let req_id = self.take_req_id();
        match self.state {
            RoomState::Connecting | RoomState::Joining => {
                // Leaving while joining: the join fails with -3 (as wx) and the exit succeeds.
                self.fail_join(err::LEFT_WHILE_JOINING, "exited while joining", true);
                self.reply(req_id, true, 0, String::new());
            }
            RoomState::Resuming => {
                self.action(Action::Close);
                self.exited(false);
                self.reply(req_id, true, 0, String::new());
            }
            RoomState::Joined => {
                self.state = RoomState::Exiting;
                self.pending.push((req_id, "exit".into()));
                self.answer_by = Some(now + self.config.answer_timeout);
                self.send(serde_json::json!({"type": "exit", "reqId": req_id}), now);
            }
            _ => self.reply(req_id, false, err::NOT_IN_ROOM, "not in a room".into()),
        }
        req_id
    }

    fn request(&mut self, kind: String, body: Map<String, Value>, now: Instant) -> u64 {
        let req_id = self.take_req_id();
        if self.state != RoomState::Joined {
            let why = if self.state == RoomState::Resuming {
                "the connection is being resumed; try again"
            } else {
                "not in a room"
            };
            self.reply(req_id, false, err::NOT_IN_ROOM, why.into());
            return req_id;
        }
        let mut msg = body;
        msg.insert("type".into(), Value::from(kind.clone()));
        msg.insert("reqId".into(), Value::from(req_id));
        self.pending.push((req_id, kind));
        self.send(Value::Object(msg), now);
        req_id
    }

    fn opened(&mut self, now: Instant) {
        match self.state {
            RoomState::Connecting => {
                self.state = RoomState::Joining;
                let mut msg = match self.join.as_ref().map(serde_json::to_value) {
                    Some(Ok(Value::Object(m))) => m,
                    // JoinParams is a struct of strings: it always serializes to an object.
                    _ => Map::new(),
                };
                msg.insert("type".into(), "join".into());
                msg.insert("reqId".into(), Value::from(self.join_req_id.unwrap_or(0)));
                self.send(Value::Object(msg), now);
                self.event(RoomEvent::JoinSent);
            }
            RoomState::Resuming => {
                let req_id = self.take_req_id();
                self.resume_req_id = Some(req_id);
                self.reopen_at = None;
                self.answer_by = Some(now + self.config.answer_timeout);
                let token = self.resume_token.clone().unwrap_or_default();
                self.send(
                    serde_json::json!({"type": "resume", "reqId": req_id, "resumeToken": token}),
                    now,
                );
            }
            _ => {}
        }
    }

    fn closed(&mut self, close_code: Option<u16>, reason: &str, now: Instant) {
        let code_text = close_code.map_or_else(|| "?".to_string(), |c| c.to_string());
        let why = if reason.is_empty() {
            format!("the socket closed ({code_text})")
        } else {
            format!("the socket closed ({code_text}: {reason})")
        };
        match self.state {
            RoomState::Connecting | RoomState::Joining => {
                self.fail_join(
                    err::SYSTEM,
                    &format!("{why} before the join was answered"),
                    false,
                );
            }
            RoomState::Joined => {
                // A drop without exit: the server keeps the membership for the grace; come back with the token.
                self.state = RoomState::Resuming;
                self.heartbeat_at = None;
                self.grace_end = Some(now + self.config.resume_grace);
                self.answer_by = Some(now + self.config.answer_timeout);
                self.retry_wait = self.config.resume_retry;
                self.fail_pending(&format!("{why}; resuming"));
                self.event(RoomEvent::Reconnecting { reason: why });
                self.action(Action::Open);
            }
            RoomState::Resuming => {
                let wait = self.retry_wait;
                if self.grace_end.is_none_or(|end| now + wait >= end) {
                    let why = format!("could not resume within the grace: {why}");
                    return self.interrupt(err::RESUME_FAILED, &why, false);
                }
                self.retry_wait = (wait * 2).min(self.config.resume_retry_max);
                self.answer_by = None;
                self.reopen_at = Some(now + wait);
            }
            RoomState::Exiting => self.exited(false),
            _ => {}
        }
    }

    fn message(&mut self, msg: &Value, now: Instant) {
        let req_id = msg.get("reqId").and_then(Value::as_u64);
        match msg.get("type").and_then(Value::as_str) {
            Some("joined") => self.joined(msg, req_id, now),
            Some("ok") => self.settle(req_id, true, 0, String::new()),
            Some("exited") => {
                self.settle(req_id, true, 0, String::new());
                self.action(Action::Close);
                self.exited(false);
            }
            Some("error") => self.error(msg, req_id),
            Some("membersChanged") => self.event(RoomEvent::MembersChanged {
                open_id_list: id_list(msg),
                members: members(msg),
            }),
            Some("speakersChanged") => self.event(RoomEvent::SpeakersChanged {
                open_id_list: id_list(msg),
            }),
            Some("videoMembersChanged") => self.event(RoomEvent::VideoMembersChanged {
                open_id_list: id_list(msg),
            }),
            Some("interrupted") => {
                let (c, m) = err_of(msg, err::SYSTEM);
                let m = if m.is_empty() {
                    "interrupted by the server".to_string()
                } else {
                    m
                };
                self.interrupt(c, &m, true);
            }
            Some("roomEvent") => {
                let c = msg
                    .get("code")
                    .and_then(Value::as_i64)
                    .and_then(|c| i32::try_from(c).ok());
                let m = msg.get("message").and_then(Value::as_str);
                if let (Some(c), Some(m)) = (c, m) {
                    self.out.push_back(Output::Status(StatusEvent::new(c, m)));
                }
            }
            // heartbeat and stateChanged: any frame shows the link works; the machine keeps its own state.
            // Unknown types from a newer server are ignored.
            _ => {}
        }
    }

    fn joined(&mut self, msg: &Value, req_id: Option<u64>, now: Instant) {
        let is_resume = req_id.is_some() && req_id == self.resume_req_id;
        let answers_join = self.state == RoomState::Joining && req_id == self.join_req_id;
        let answers_resume = self.state == RoomState::Resuming && is_resume;
        if !(answers_join || answers_resume) {
            return;
        }
        self.state = RoomState::Joined;
        self.answer_by = None;
        self.grace_end = None;
        self.retry_wait = self.config.resume_retry;
        self.resume_token = msg
            .get("resumeToken")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.heartbeat_every = msg
            .get("heartbeatIntervalMs")
            .and_then(Value::as_u64)
            .filter(|&ms| ms > 0)
            .map_or(self.config.heartbeat, std::time::Duration::from_millis);
        self.heartbeat_at = Some(now + self.heartbeat_every);
        let (room, user) = self.who();
        if is_resume {
            self.resume_req_id = None;
            self.event(RoomEvent::Resumed {
                open_id_list: id_list(msg),
                members: members(msg),
            });
            self.status(message::membership(code::ROOM_REJOINED, &room, &user));
            return;
        }
        self.join_req_id = None;
        self.event(RoomEvent::Joined {
            group_id: str_of(msg, "groupId").unwrap_or_else(|| room.clone()),
            room_type: msg
                .get("roomType")
                .and_then(|t| serde_json::from_value(t.clone()).ok()),
            open_id_list: id_list(msg),
            push_url: str_of(msg, "pushUrl").unwrap_or_default(),
            members: members(msg),
        });
        self.status(message::membership(code::ROOM_JOINED, &room, &user));
    }

    fn error(&mut self, msg: &Value, req_id: Option<u64>) {
        let (c, m) = err_of(msg, err::SYSTEM);
        let joining = matches!(self.state, RoomState::Joining | RoomState::Connecting);
        if req_id.is_some() && req_id == self.join_req_id && joining {
            let m = if m.is_empty() { "refused".into() } else { m };
            return self.fail_join(c, &m, true);
        }
        if req_id.is_some() && req_id == self.resume_req_id {
            let c = if msg.get("errCode").is_some() {
                c
            } else {
                err::RESUME_FAILED
            };
            return self.interrupt(c, &format!("resume refused: {m}"), true);
        }
        if let Some(i) = self.pending.iter().position(|(id, _)| Some(*id) == req_id) {
            let (id, kind) = self.pending.remove(i);
            if kind == "exit" && self.state == RoomState::Exiting {
                self.state = RoomState::Joined;
            }
            return self.reply(id, false, c, m);
        }
        self.event(RoomEvent::ServerError {
            err_code: c,
            err_msg: m,
        });
    }

    /// The room and member of the current join (for the codes' messages).
    fn who(&self) -> (String, String) {
        self.join
            .as_ref()
            .map(|j| (j.group_id.clone(), j.open_id.clone()))
            .unwrap_or_default()
    }

    fn fail_join(&mut self, err_code: i64, reason: &str, close: bool) {
        self.join_req_id = None;
        self.state = RoomState::Idle;
        self.stop_timers();
        if close {
            self.action(Action::Close);
        }
        self.event(RoomEvent::JoinFailed {
            err_code,
            err_msg: reason.to_string(),
        });
        let (room, user) = self.who();
        self.status(message::refusal(
            code::ROOM_JOIN_FAILED,
            &room,
            &user,
            err_code,
            reason,
        ));
    }

    /// Out of the room: every pending request settles as answered, then 1019.
    fn exited(&mut self, close: bool) {
        self.state = RoomState::Exited;
        self.stop_timers();
        for (id, _) in std::mem::take(&mut self.pending) {
            self.reply(id, true, 0, String::new());
        }
        if close {
            self.action(Action::Close);
        }
        self.event(RoomEvent::Exited);
        let (room, user) = self.who();
        self.status(message::membership(code::ROOM_LEFT, &room, &user));
    }

    fn interrupt(&mut self, err_code: i64, err_msg: &str, close: bool) {
        self.state = RoomState::Interrupted;
        self.stop_timers();
        self.fail_pending(err_msg);
        if close {
            self.action(Action::Close);
        }
        self.event(RoomEvent::Interrupted {
            err_code,
            err_msg: err_msg.to_string(),
        });
    }

    fn stop_timers(&mut self) {
        self.heartbeat_at = None;
        self.answer_by = None;
        self.reopen_at = None;
        self.grace_end = None;
    }

    fn fail_pending(&mut self, why: &str) {
        for (id, _) in std::mem::take(&mut self.pending) {
            self.reply(id, false, err::SYSTEM, why.to_string());
        }
    }

    fn settle(&mut self, req_id: Option<u64>, ok: bool, err_code: i64, err_msg: String) {
        if let Some(i) = self.pending.iter().position(|(id, _)| Some(*id) == req_id) {
            let (id, _) = self.pending.remove(i);
            self.reply(id, ok, err_code, err_msg);
        }
    }

    fn send(&mut self, msg: Value, now: Instant) {
        // Any frame counts as a heartbeat, so the next one can wait a full interval.
        if self.heartbeat_at.is_some() {
            self.heartbeat_at = Some(now + self.heartbeat_every);
        }
        self.action(Action::Send { msg });
    }

    fn action(&mut self, a: Action) {
        self.out.push_back(Output::Action(a));
    }

    fn event(&mut self, e: RoomEvent) {
        self.out.push_back(Output::Event(e));
    }

    fn status(&mut self, s: StatusEvent) {
        self.out.push_back(Output::Status(s));
    }

    fn reply(&mut self, req_id: u64, ok: bool, err_code: i64, err_msg: String) {
        self.event(RoomEvent::Reply {
            req_id,
            ok,
            err_code,
            err_msg,
        });
    }
}

fn str_of(msg: &Value, key: &str) -> Option<String> {
    msg.get(key).and_then(Value::as_str).map(str::to_string)
}

fn id_list(msg: &Value) -> Vec<String> {
    msg.get("openIdList")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn members(msg: &Value) -> Vec<Member> {
    msg.get("members")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|m| serde_json::from_value::<Member>(m.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `errCode` (or `default`) and `errMsg` (or empty) of a frame.
fn err_of(msg: &Value, default: i64) -> (i64, String) {
    (
        msg.get("errCode")
            .and_then(Value::as_i64)
            .unwrap_or(default),
        str_of(msg, "errMsg").unwrap_or_default(),
    )
}
