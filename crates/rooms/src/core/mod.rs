//! [`Rooms`]: the room core. [`Input`]s (connections, requests, session-key answers, stream changes) go in through
//! [`Rooms::handle_input`] and timers fire in [`Rooms::handle_timeout`]; messages to connections come out of
//! [`Rooms::poll_output`].

mod events;
mod input;
mod join;
mod leave;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use input::Input;

use crate::protocol::{Join, MemberInfo, PlayUrls, ReqId, ServerMessage};
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
    /// Find the session key of `open_id` in `app_id`, then answer with [`Input::SessionKey`].
    LookupSessionKey {
        /// The connection joining.
        conn: ConnId,
        /// The app.
        app_id: String,
        /// The user.
        open_id: String,
    },
}

/// The answer to [`Output::LookupSessionKey`], given in [`Input::SessionKey`].
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
    /// A core with no rooms. The secret that keys the resume tokens is drawn from a generator seeded by
    /// [`Config::rng_seed`] (OS entropy by default).
    pub fn new(config: Config, store: S, urls: Box<dyn MediaUrls + Send>) -> Self {
        let secret = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed).gen(),
            None => rand::thread_rng().gen(),
        };
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

    /// The next deadline: call [`Rooms::handle_timeout`] then (earlier is harmless).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// The next thing to do; call until `None` after every input and timeout.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
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
