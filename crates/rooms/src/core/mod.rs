//! [`Rooms`]: the room core. [`Input`]s (connections, requests, session-key and store answers, stream changes) go
//! in through [`Rooms::handle_input`] and timers fire in [`Rooms::handle_timeout`]; messages to connections and
//! requests to the session-key lookup and the store come out of [`Rooms::poll_output`].

mod events;
mod input;
mod join;
mod leave;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use input::Input;

use crate::protocol::{Join, MemberInfo, PlayUrls, ReqId, RoomType, ServerMessage};
use crate::room::{Member, Room, StreamState};
use crate::signature;
use crate::store::{Admit, RoomKey};
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

/// One room as [`Rooms::snapshot`] shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSnapshot {
    /// The app (its name).
    pub app: String,
    /// The group id.
    pub group: String,
    /// Voice or video.
    pub room_type: RoomType,
    /// The members in join order.
    pub members: Vec<MemberSnapshot>,
}

/// One member as [`Rooms::snapshot`] shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSnapshot {
    /// The member.
    pub open_id: String,
    /// Its socket is open (false while it waits for a resume).
    pub connected: bool,
    /// It spoke recently (reported volume over the threshold, microphone on).
    pub speaking: bool,
    /// Its microphone is muted (its mute settings).
    pub microphone_muted: bool,
    /// Its stream in the media app, while live: what it carries.
    pub stream: Option<StreamState>,
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
    /// Ask the store to admit a checked join; answer with [`Input::Admitted`]. Requests must be applied in the
    /// order emitted.
    Admit {
        /// The connection joining.
        conn: ConnId,
        /// What to check and add.
        admit: Admit,
    },
    /// Tell the store a member left (exit, timeout, grace over, or an admitted join whose socket closed
    /// meanwhile). Fire and forget, in order.
    RemoveMember {
        /// The room.
        room: RoomKey,
        /// The member.
        open_id: String,
    },
    /// The room ended on this core (its last member left): the store drops any membership it still holds for it.
    EndRoom {
        /// The room.
        room: RoomKey,
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
    /// Waiting for the session key.
    Joining {
        req_id: ReqId,
        join: Box<Join>,
        unix_secs: u64,
    },
    /// Checked and signed; waiting for the store's [`Input::Admitted`].
    Admitting {
        req_id: ReqId,
        join: Box<Join>,
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
pub struct Rooms {
    config: Config,
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
    /// [`Output::Admit`]s not answered yet, per connection in the order emitted: a connection that exits while
    /// admitting may join again before the first answer comes, and a closed one is answered all the same.
    admits: HashMap<ConnId, VecDeque<(RoomKey, String)>>,
    /// Memberships the store may hold and this core does not: their [`Output::RemoveMember`] waits until no admit
    /// of the same (room, openId) is in flight. A removal emitted meanwhile would reach the store after that admit
    /// and undo it, while the admit's answer would still put the member into this core.
    unremoved: HashSet<(RoomKey, String)>,
}

impl Rooms {
    /// A core with no rooms. The secret that keys the resume tokens is drawn from a generator seeded by
    /// [`Config::rng_seed`] (OS entropy by default).
    pub fn new(config: Config, urls: Box<dyn MediaUrls + Send>) -> Self {
        let secret = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed).gen(),
            None => rand::thread_rng().gen(),
        };
        Rooms {
            config,
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
            admits: HashMap::new(),
            unremoved: HashSet::new(),
        }
    }

    // ---- getters ----

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether `conn` is open with nothing going on: not joining, not a member. (A cluster node moves only such a
    /// socket to the node hosting the room it asks for.)
    pub fn is_idle(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| matches!(c.state, ConnState::Idle))
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

    /// What an operator sees of the rooms on this core at `now`: each room with its members in join order.
    pub fn snapshot(&self, now: Instant) -> Vec<RoomSnapshot> {
        let mut rooms: Vec<RoomSnapshot> = self
            .rooms
            .iter()
            .map(|(key, room)| RoomSnapshot {
                app: key.app.clone(),
                group: key.group.clone(),
                room_type: room.room_type,
                members: room
                    .order
                    .iter()
                    .filter_map(|open_id| {
                        let member = room.members.get(open_id)?;
                        let stream = self
                            .streams
                            .get(&stream_name(&key.app, &key.group, open_id))
                            .copied();
                        Some(MemberSnapshot {
                            open_id: open_id.clone(),
                            connected: member.conn.is_some(),
                            speaking: member.speaking(&self.config, now),
                            microphone_muted: member.mute.mute_microphone,
                            stream,
                        })
                    })
                    .collect(),
            })
            .collect();
        rooms.sort_by(|a, b| (&a.app, &a.group).cmp(&(&b.app, &b.group)));
        rooms
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

    /// A resume token for a member of `key`: `{app}/{group}/{32 hex}`. The room in clear lets any node of a
    /// cluster route a resume to the node hosting the room ([`token_room`]); the hex part is what makes it
    /// unguessable.
    fn new_token(&mut self, conn: ConnId, key: &RoomKey) -> String {
        self.tokens_issued += 1;
        let mut input = [0u8; 16];
        input[..8].copy_from_slice(&self.tokens_issued.to_be_bytes());
        input[8..].copy_from_slice(&conn.to_be_bytes());
        let hex = signature::hex_of(&signature::hmac(&self.secret, &input)[..16]);
        format!("{}/{}/{hex}", key.app, key.group)
    }
}

/// The room a resume token belongs to (tokens are `{appId}/{groupId}/{32 lowercase hex}`), so that a node can
/// route a `resume` to the node that hosts the room. `None` when `token` does not have that shape. It says nothing
/// about whether the token is valid: only the hosting core knows.
pub fn token_room(token: &str) -> Option<RoomKey> {
    let mut parts = token.split('/');
    let (app, group, hex) = (parts.next()?, parts.next()?, parts.next()?);
    let hex_ok = hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if parts.next().is_some() || app.is_empty() || group.is_empty() || !hex_ok {
        return None;
    }
    Some(RoomKey {
        app: app.to_string(),
        group: group.to_string(),
    })
}

#[cfg(test)]
mod tests;
