//! [`Rooms`]: the room core. Requests, session-key answers, stream changes and timer ticks go in; messages to
//! connections come out of [`Rooms::poll_output`].

mod events;
mod join;
mod leave;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use tracing::{debug, info};

use crate::protocol::{Command, Join, MemberInfo, PlayUrls, ReqId, Request, ServerMessage};
use crate::room::{Member, Room, StreamState};
use crate::signature;
use crate::store::{RoomKey, RoomStore};
pub(crate) use crate::stream_name::stream_name;
use crate::{codes, Config};

/// A connection (socket), numbered by the caller.
pub type ConnId = u64;

/// Builds the media URLs of a member's stream (named by [`stream_name`] in the media app).
pub trait MediaUrls {
    /// The signed RTMP push URL.
    fn push_url(&self, stream: &str) -> String;
    /// The RTMP and HTTP-FLV play URLs.
    fn play_urls(&self, stream: &str) -> PlayUrls;
}

/// Why the core closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// No message for `missed_heartbeats` intervals.
    HeartbeatTimeout,
    /// Its membership was taken over by another socket.
    Replaced,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `message` on `conn`.
    Send {
        /// The connection.
        conn: ConnId,
        /// The message.
        message: ServerMessage,
    },
    /// Close `conn` (after sending what was queued for it).
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Find the session key of `open_id` in `app_id`, then call [`Rooms::handle_session_key`].
    LookupSessionKey {
        /// The connection joining.
        conn: ConnId,
        /// The app.
        app_id: String,
        /// The user.
        open_id: String,
    },
}

/// The answer to [`Output::LookupSessionKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKey {
    /// The user's key.
    Found(String),
    /// No app by that name.
    UnknownApp,
    /// The app has no key for the user.
    NoKey,
    /// The lookup failed.
    Failed(String),
}

/// The state of one connection.
#[derive(Debug)]
enum ConnState {
    Idle,
    Joining {
        req_id: ReqId,
        join: Box<Join>,
        unix_secs: u64,
    },
    Member(RoomKey, String),
}

#[derive(Debug)]
struct Conn {
    last_seen: Instant,
    state: ConnState,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Heartbeat(ConnId),
    Grace(RoomKey, String),
    Speakers(RoomKey),
}

/// The room core. See the crate docs for the run loop.
pub struct Rooms<S: RoomStore> {
    config: Config,
    store: S,
    urls: Box<dyn MediaUrls + Send>,
    secret: [u8; 32],
    tokens_issued: u64,
    conns: HashMap<ConnId, Conn>,
    rooms: HashMap<RoomKey, Room>,
    /// Resume token -> membership.
    tokens: HashMap<String, (RoomKey, String)>,
    /// Live streams of the media app, by stream name.
    streams: HashMap<String, StreamState>,
    /// Stream name -> the member it belongs to.
    owners: HashMap<String, (RoomKey, String)>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    outputs: VecDeque<Output>,
}

impl<S: RoomStore> Rooms<S> {
    /// A core with no rooms. `secret` (random, from the caller) keys the resume tokens.
    pub fn new(
        config: Config,
        store: S,
        urls: Box<dyn MediaUrls + Send>,
        secret: [u8; 32],
    ) -> Self {
        Rooms {
            config,
            store,
            urls,
            secret,
            tokens_issued: 0,
            conns: HashMap::new(),
            rooms: HashMap::new(),
            tokens: HashMap::new(),
            streams: HashMap::new(),
            owners: HashMap::new(),
            timers: BinaryHeap::new(),
            outputs: VecDeque::new(),
        }
    }

    // ---- getters ----

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The room store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Rooms with members on this node.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Members of a room in join order (empty when it does not exist).
    pub fn members(&self, app: &str, group: &str) -> Vec<String> {
        let key = RoomKey {
            app: app.into(),
            group: group.into(),
        };
        self.rooms
            .get(&key)
            .map(|r| r.order.clone())
            .unwrap_or_default()
    }

    /// Every room with its members in join order (invariant checks).
    pub fn rooms(&self) -> impl Iterator<Item = (&RoomKey, &[String])> {
        self.rooms.iter().map(|(k, r)| (k, r.order.as_slice()))
    }

    /// The next deadline: call [`Rooms::tick`] then (earlier is harmless).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// The next thing to do; call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    // ---- inputs ----

    /// A new connection.
    pub fn handle_open(&mut self, conn: ConnId, now: Instant) {
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

    /// One text frame from `conn`. `unix_secs` is the wall clock (for timestamps and the quota day).
    pub fn handle_text(&mut self, conn: ConnId, text: &str, now: Instant, unix_secs: u64) {
        match Request::parse(text) {
            Ok(request) => self.handle_request(conn, request, now, unix_secs),
            Err(bad) => {
                if self.touch(conn, now) {
                    self.send(conn, ServerMessage::bad_request(bad));
                }
            }
        }
    }

    /// One parsed request from `conn`.
    pub fn handle_request(&mut self, conn: ConnId, request: Request, now: Instant, unix_secs: u64) {
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

    /// The answer to [`Output::LookupSessionKey`]; finishes the join.
    pub fn handle_session_key(&mut self, conn: ConnId, key: SessionKey, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return; // closed while joining: nobody to answer
        };
        if !matches!(c.state, ConnState::Joining { .. }) {
            return; // exited while joining: already answered with -3
        }
        let ConnState::Joining {
            req_id,
            join,
            unix_secs,
        } = std::mem::replace(&mut c.state, ConnState::Idle)
        else {
            return;
        };
        if let Err((code, msg)) = self.check_join(&join, key, unix_secs) {
            debug!(conn, app = %join.app_id, group = %join.group_id, open_id = %join.open_id, code, "join refused: {msg}");
            self.send(conn, ServerMessage::error(req_id, code, msg));
            return;
        }
        self.admit(conn, req_id, *join, now, unix_secs);
    }

    /// `conn` is gone. A member keeps its place for `resume_grace`.
    pub fn handle_closed(&mut self, conn: ConnId, now: Instant) {
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

    /// A stream of the media app started, changed its tracks (`Some`) or stopped (`None`).
    pub fn handle_stream(&mut self, name: &str, state: Option<StreamState>, _now: Instant) {
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

    /// Runs the timers due at `now`.
    pub fn tick(&mut self, now: Instant) {
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

    // ---- helpers ----

    /// Records activity; false when the connection is unknown (closed).
    fn touch(&mut self, conn: ConnId, now: Instant) -> bool {
        match self.conns.get_mut(&conn) {
            Some(c) => {
                c.last_seen = c.last_seen.max(now);
                true
            }
            None => false,
        }
    }

    fn membership(&self, conn: ConnId) -> Option<(RoomKey, String)> {
        match &self.conns.get(&conn)?.state {
            ConnState::Member(key, open_id) => Some((key.clone(), open_id.clone())),
            _ => None,
        }
    }

    fn require_member(&mut self, conn: ConnId, req_id: &ReqId) -> Option<(RoomKey, String)> {
        let found = self.membership(conn);
        if found.is_none() {
            self.send(
                conn,
                ServerMessage::error(
                    req_id.clone(),
                    codes::NOT_IN_ROOM,
                    "not in a room: join first",
                ),
            );
        }
        found
    }

    fn member_mut(&mut self, key: &RoomKey, open_id: &str) -> Option<&mut Member> {
        self.rooms.get_mut(key)?.members.get_mut(open_id)
    }

    fn member_info(&self, key: &RoomKey, open_id: &str) -> MemberInfo {
        MemberInfo {
            open_id: open_id.to_string(),
            play_urls: self
                .urls
                .play_urls(&stream_name(&key.app, &key.group, open_id)),
        }
    }

    fn send(&mut self, conn: ConnId, message: ServerMessage) {
        self.outputs.push_back(Output::Send { conn, message });
    }

    fn arm(&mut self, at: Instant, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    fn new_token(&mut self, conn: ConnId) -> String {
        self.tokens_issued += 1;
        let mut input = [0u8; 16];
        input[..8].copy_from_slice(&self.tokens_issued.to_be_bytes());
        input[8..].copy_from_slice(&conn.to_be_bytes());
        signature::hex_of(&signature::hmac(&self.secret, &input)[..16])
    }
}

#[cfg(test)]
mod tests;
