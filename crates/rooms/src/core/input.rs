//! The core's inputs: [`Input`] through [`Rooms::handle_input`], and the timers through [`Rooms::handle_timeout`].

use std::cmp::Reverse;
use std::time::Instant;

use tracing::{debug, info};

use super::{Conn, ConnId, ConnState, Rooms, SessionKey, Timer};
use crate::codes;
use crate::protocol::{Command, Request, ServerMessage};
use crate::room::StreamState;
use crate::store::{Added, AdmitRefused};

/// One input to the room core: what a connection did, or the answer to a request the core made.
///
/// The monotonic time of every input is the `now` argument of [`Rooms::handle_input`]. The wall clock
/// (`unix_secs`, seconds since the Unix epoch) travels only in the inputs that read it: a request's join checks
/// its `timeStamp` against it and counts the room in the quota of its UTC day. It is data of the request, not a
/// timer clock: no deadline is ever computed from it.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    /// A new connection.
    Open {
        /// The connection, numbered by the caller.
        conn: ConnId,
    },
    /// One text frame from `conn` (JSON, `docs/rooms-protocol.md`).
    Text {
        /// The connection.
        conn: ConnId,
        /// The frame.
        text: &'a str,
        /// The wall clock, in seconds since the Unix epoch.
        unix_secs: u64,
    },
    /// One request from `conn`, already parsed.
    Request {
        /// The connection.
        conn: ConnId,
        /// The request.
        request: Request,
        /// The wall clock, in seconds since the Unix epoch.
        unix_secs: u64,
    },
    /// The answer to [`Output::LookupSessionKey`](super::Output::LookupSessionKey); finishes the join.
    SessionKey {
        /// The connection joining.
        conn: ConnId,
        /// What the lookup found.
        key: SessionKey,
    },
    /// The store's answer to [`Output::Admit`](super::Output::Admit); finishes the join (or undoes the store's add
    /// when the join is no longer wanted).
    Admitted {
        /// The connection the admit was for.
        conn: ConnId,
        /// What the store did.
        result: Result<Added, AdmitRefused>,
    },
    /// `conn` is gone. A member keeps its place for `resume_grace`.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// A stream of the media app started, changed its tracks (`Some`) or stopped (`None`).
    Stream {
        /// The stream's name in the media app.
        name: &'a str,
        /// Its tracks, or `None` when it stopped.
        state: Option<StreamState>,
    },
}

impl Rooms {
    /// Handles one input at `now`. Then drain [`poll_output`](Self::poll_output) and look at
    /// [`poll_timeout`](Self::poll_timeout) again.
    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        match input {
            Input::Open { conn } => self.open(conn, now),
            Input::Text {
                conn,
                text,
                unix_secs,
            } => match Request::parse(text) {
                Ok(request) => self.request(conn, request, now, unix_secs),
                Err(bad) => {
                    if self.touch(conn, now) {
                        self.send(conn, ServerMessage::bad_request(bad));
                    }
                }
            },
            Input::Request {
                conn,
                request,
                unix_secs,
            } => self.request(conn, request, now, unix_secs),
            Input::SessionKey { conn, key } => self.session_key(conn, key),
            Input::Admitted { conn, result } => self.admitted(conn, result, now),
            Input::Closed { conn } => self.closed(conn, now),
            Input::Stream { name, state } => self.stream(name, state),
        }
    }

    /// Runs the timers due at `now` (heartbeats, resume grace, speaker updates); calling early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            // `peek()` just returned an entry.
            let Reverse((at, timer)) = self.timers.pop().expect("non-empty heap");
            match timer {
                Timer::Heartbeat(conn) => self.heartbeat_due(conn, now),
                Timer::Grace(key, open_id) => {
                    let expired = self
                        .rooms
                        .get(&key)
                        .and_then(|r| r.members.get(&open_id))
                        .is_some_and(|m| {
                            m.conn.is_none() && m.grace_until.is_some_and(|g| g <= now)
                        });
                    if expired {
                        info!(app = %key.app, group = %key.group, open_id = %open_id, "room member not resumed within the grace; removed");
                        self.remove_member(&key, &open_id, now);
                    }
                }
                Timer::Speakers(key) => {
                    if let Some(room) = self.rooms.get_mut(&key) {
                        if room.speakers_timer == Some(at) {
                            room.speakers_timer = None;
                        }
                    }
                    self.update_speakers(&key, now);
                }
            }
        }
    }

    fn open(&mut self, conn: ConnId, now: Instant) {
        if self.conns.contains_key(&conn) {
            return;
        }
        self.conns.insert(
            conn,
            Conn {
                last_seen: now,
                state: ConnState::Idle,
            },
        );
        self.arm(
            now + self.config.heartbeat_timeout(),
            Timer::Heartbeat(conn),
        );
    }

    fn request(&mut self, conn: ConnId, request: Request, now: Instant, unix_secs: u64) {
        if !self.touch(conn, now) {
            return;
        }
        let req_id = request.req_id;
        match request.command {
            Command::Join(join) => self.begin_join(conn, req_id, join, unix_secs),
            Command::Resume(token) => self.resume(conn, req_id, &token, now),
            Command::Heartbeat => self.send(conn, ServerMessage::Heartbeat),
            Command::Exit => self.exit(conn, req_id, now),
            Command::Volume(volume) => {
                if let Some((key, open_id)) = self.membership(conn) {
                    if let Some(m) = self.member_mut(&key, &open_id) {
                        m.volume = Some((volume, now));
                    }
                    self.update_speakers(&key, now);
                }
            }
            Command::UpdateMuteConfig(mute) => {
                let Some((key, open_id)) = self.require_member(conn, &req_id) else {
                    return;
                };
                if let Some(m) = self.member_mut(&key, &open_id) {
                    m.mute = mute;
                }
                self.send(conn, ServerMessage::Ok { req_id });
                self.update_speakers(&key, now);
            }
            Command::SubscribeVideoMembers(list) => {
                let Some((key, open_id)) = self.require_member(conn, &req_id) else {
                    return;
                };
                if list.len() > self.config.max_subscriptions {
                    let msg = format!(
                        "openIdList: {} openIds, at most {} may be subscribed",
                        list.len(),
                        self.config.max_subscriptions
                    );
                    self.send(conn, ServerMessage::error(req_id, codes::BAD_REQUEST, msg));
                    return;
                }
                if let Some(m) = self.member_mut(&key, &open_id) {
                    m.subscription = Some(list);
                }
                self.send(conn, ServerMessage::Ok { req_id });
                self.update_views(&key);
            }
            Command::SetEnable1v1Chat { enable, .. } => {
                let Some((key, open_id)) = self.require_member(conn, &req_id) else {
                    return;
                };
                if let Some(m) = self.member_mut(&key, &open_id) {
                    m.enable_1v1 = enable;
                }
                self.send(conn, ServerMessage::Ok { req_id });
            }
        }
    }

    fn session_key(&mut self, conn: ConnId, key: SessionKey) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return; // closed while joining: nobody to answer
        };
        if !matches!(c.state, ConnState::Joining { .. }) {
            return; // exited while joining (already answered with -3), or the key was answered twice
        }
        let ConnState::Joining {
            req_id,
            join,
            unix_secs,
        } = std::mem::replace(&mut c.state, ConnState::Idle)
        else {
            return;
        };
        match self.check_join(&join, key) {
            Ok(mac) => self.request_admit(conn, req_id, join, mac, unix_secs),
            Err((code, msg)) => {
                debug!(conn, app = %join.app_id, group = %join.group_id, open_id = %join.open_id, code, "join refused: {msg}");
                self.send(conn, ServerMessage::error(req_id, code, msg));
            }
        }
    }

    fn closed(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let ConnState::Member(key, open_id) = c.state {
            let until = now + self.config.resume_grace;
            if let Some(m) = self.member_mut(&key, &open_id) {
                if m.conn == Some(conn) {
                    m.conn = None;
                    m.grace_until = Some(until);
                    info!(app = %key.app, group = %key.group, open_id = %open_id, "room member's socket closed; waiting for a resume");
                    self.arm(until, Timer::Grace(key, open_id));
                }
            }
        }
    }

    fn stream(&mut self, name: &str, state: Option<StreamState>) {
        let before = match state {
            Some(s) => self.streams.insert(name.to_string(), s),
            None => self.streams.remove(name),
        };
        if before == state {
            return;
        }
        let Some((key, open_id)) = self.owners.get(name).cloned() else {
            return;
        };
        self.announce_stream(&key, &open_id, before, state);
        self.update_views(&key);
    }
}
