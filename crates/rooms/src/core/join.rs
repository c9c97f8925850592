//! Joining and resuming: field checks, the session key and signature, then the store's admit (the nonce and the
//! limits), and the answer that puts the member into its room.

use std::time::Instant;

use tracing::{debug, info, warn};

use super::{stream_name, CloseReason, ConnId, ConnState, Output, Rooms, SessionKey};
use crate::codes;
use crate::protocol::{Join, ReqId, ServerMessage, State};
use crate::room::{Member, Room};
use crate::signature::{self, SignedFields};
use crate::store::{AddLimits, AddRefused, Added, Admit, AdmitRefused, ReplayCheck, RoomKey};

impl Rooms {
    // ---- join ----

    pub(super) fn begin_join(
        &mut self,
        conn: ConnId,
        req_id: ReqId,
        join: Box<Join>,
        unix_secs: u64,
    ) {
        if let Some(msg) = self.busy_reason(conn) {
            self.send(
                conn,
                ServerMessage::error(req_id, codes::ALREADY_IN_ROOM, msg),
            );
            return;
        }
        if let Err((code, msg)) = self.check_fields(&join, unix_secs) {
            self.send(conn, ServerMessage::error(req_id, code, msg));
            return;
        }
        self.outputs.push_back(Output::LookupSessionKey {
            conn,
            app_id: join.app_id.clone(),
            open_id: join.open_id.clone(),
        });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Joining {
                req_id,
                join,
                unix_secs,
            };
        }
    }

    pub(super) fn busy_reason(&self, conn: ConnId) -> Option<String> {
        match &self.conns.get(&conn)?.state {
            ConnState::Idle => None,
            ConnState::Joining { join, .. } | ConnState::Admitting { join, .. } => Some(format!(
                "already joining group {} on this socket",
                join.group_id
            )),
            ConnState::Member(key, _) => Some(format!(
                "already in a room (group {}) on this socket; exit first",
                key.group
            )),
        }
    }

    /// The checks that need no key: shapes, the timestamp window, the nonce's length and characters.
    pub(super) fn check_fields(&self, join: &Join, unix_secs: u64) -> Result<(), (i32, String)> {
        for (name, value) in [
            ("appId", &join.app_id),
            ("groupId", &join.group_id),
            ("openId", &join.open_id),
        ] {
            if value.is_empty() || value.len() > self.config.max_id_bytes {
                return Err((
                    codes::BAD_REQUEST,
                    format!("{name}: must be 1 to {} bytes", self.config.max_id_bytes),
                ));
            }
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err((
                    codes::BAD_REQUEST,
                    format!("{name}: only letters, digits, '_', '-' and '.' are allowed (it becomes part of a stream name)"),
                ));
            }
        }
        let nonce = &join.nonce_str;
        let max = self.config.max_nonce_chars;
        let chars = nonce.chars().count();
        if chars == 0 || chars > max {
            return Err((
                codes::BAD_NONCE,
                format!(
                    "nonceStr: {chars} characters; it must have 1 to {max} (rooms.max_nonce_chars)"
                ),
            ));
        }
        if !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        {
            return Err((
                codes::BAD_NONCE,
                "nonceStr: only letters, digits, '_' and '-' are allowed".into(),
            ));
        }
        let ts = parse_timestamp(&join.time_stamp)?;
        let window = self.config.timestamp_window_secs;
        if ts.abs_diff(unix_secs) > window {
            return Err((
                codes::BAD_TIMESTAMP,
                format!(
                    "timeStamp {ts} is {} s from the server clock ({unix_secs}); it must be within {window} s",
                    ts.abs_diff(unix_secs)
                ),
            ));
        }
        Ok(())
    }

    /// The checks that need the key: the session key found, the signature right for it. Returns the verified MAC,
    /// which the store's replay memory keys on. The replay check comes after this one (in the store), so unsigned
    /// junk cannot fill the replay memory.
    pub(super) fn check_join(
        &self,
        join: &Join,
        key: SessionKey,
    ) -> Result<[u8; 32], (i32, String)> {
        let key = match key {
            SessionKey::Found(k) => k,
            SessionKey::UnknownApp => {
                return Err((
                    codes::UNKNOWN_IDENTITY,
                    format!("appId {}: no such app", join.app_id),
                ))
            }
            SessionKey::NoKey => {
                return Err((
                    codes::UNKNOWN_IDENTITY,
                    format!(
                        "openId {} has no session key in app {}; the app's backend creates one with POST /v1/apps/{}/room-sessions",
                        join.open_id, join.app_id, join.app_id
                    ),
                ))
            }
            SessionKey::Failed(e) => return Err((codes::SYSTEM_ERROR, format!("system error: {e}"))),
        };
        let fields = SignedFields {
            app_id: &join.app_id,
            group_id: &join.group_id,
            nonce_str: &join.nonce_str,
            time_stamp: &join.time_stamp,
        };
        signature::verified_mac(&fields, &key, &join.signature).ok_or_else(|| {
            (
                codes::BAD_SIGNATURE,
                "signature does not match: expected hex(hmac_sha256(sessionKey, sorted([appId, groupId, nonceStr, timeStamp]).join(\"\")))".into(),
            )
        })
    }

    /// Defence in depth: names are unique by construction, but a member must never be handed a stream that another
    /// identity pushes to (its media would be announced and played as someone else's). The refusal, if any.
    /// Refuses the join on `conn` when its stream belongs to someone else ([`Rooms::stream_conflict`]); true if it
    /// did.
    fn refuse_stream_conflict(
        &mut self,
        conn: ConnId,
        key: &RoomKey,
        open_id: &str,
        req_id: &ReqId,
    ) -> bool {
        let Some(msg) = self.stream_conflict(key, open_id) else {
            return false;
        };
        warn!(conn, app = %key.app, group = %key.group, open_id, "join refused: {msg}");
        self.send(
            conn,
            ServerMessage::error(req_id.clone(), codes::SYSTEM_ERROR, msg),
        );
        true
    }

    fn stream_conflict(&self, key: &RoomKey, open_id: &str) -> Option<String> {
        let stream = stream_name(&key.app, &key.group, open_id);
        let (owner_key, owner) = self
            .owners
            .get(&stream)
            .filter(|(k, o)| k != key || o != open_id)?;
        Some(format!(
            "stream {stream} already belongs to openId {owner} of group {} of app {}; refused so two members never share a stream",
            owner_key.group, owner_key.app
        ))
    }

    /// A join whose signature is right: asks the store to admit it ([`Output::Admit`]) and waits for the answer
    /// ([`Rooms::admitted`]); a second join on the socket meanwhile is refused as busy.
    pub(super) fn request_admit(
        &mut self,
        conn: ConnId,
        req_id: ReqId,
        join: Box<Join>,
        mac: [u8; 32],
        unix_secs: u64,
    ) {
        let key = RoomKey {
            app: join.app_id.clone(),
            group: join.group_id.clone(),
        };
        if self.refuse_stream_conflict(conn, &key, &join.open_id, &req_id) {
            return;
        }
        // `check_fields` parsed it already; the fallback only keeps this total.
        let ts = parse_timestamp(&join.time_stamp).unwrap_or(unix_secs);
        // Kept until the timestamp can no longer pass the window check: then a replay is refused by the clock.
        let expires_unix = ts.max(unix_secs) + self.config.timestamp_window_secs;
        let admit = Admit {
            room: key.clone(),
            open_id: join.open_id.clone(),
            nonce: join.nonce_str.clone(),
            mac,
            expires_unix,
            now_unix: unix_secs,
            max_per_app: self.config.max_nonces_per_app,
            limits: AddLimits {
                max_members: self.config.max_members,
                daily_room_quota: self.config.daily_room_quota,
                day: unix_secs / 86_400,
            },
        };
        self.admits
            .entry(conn)
            .or_default()
            .push_back((key, join.open_id.clone()));
        self.outputs.push_back(Output::Admit { conn, admit });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Admitting { req_id, join };
        }
    }

    /// The store's answer to an [`Output::Admit`] of `conn`. When it answers the join the socket is waiting for,
    /// the join ends here (refused, or into the room); in every case, a membership the store holds and this core
    /// does not is then removed from the store (see `settle`).
    pub(super) fn admitted(
        &mut self,
        conn: ConnId,
        result: Result<Added, AdmitRefused>,
        now: Instant,
    ) {
        // Answers come in the order of the requests, so the oldest admit of the connection is the one answered.
        let Some(queue) = self.admits.get_mut(&conn) else {
            debug!(conn, "store answer to no admit; ignored");
            return;
        };
        let Some((key, open_id)) = queue.pop_front() else {
            return;
        };
        let later = !queue.is_empty();
        if !later {
            self.admits.remove(&conn);
        }
        // The socket waits for this answer only if it is still admitting this join and asked nothing since.
        let waiting = !later
            && self.conns.get(&conn).is_some_and(|c| {
                matches!(&c.state, ConnState::Admitting { join, .. }
                    if join.app_id == key.app && join.group_id == key.group && join.open_id == open_id)
            });
        let store_holds = result.is_ok();
        if waiting {
            if let Some(c) = self.conns.get_mut(&conn) {
                if let ConnState::Admitting { req_id, join } =
                    std::mem::replace(&mut c.state, ConnState::Idle)
                {
                    match result {
                        Ok(added) => self.admit(conn, req_id, *join, added, now),
                        Err(refused) => {
                            let (code, msg) = self.refusal(&join, refused);
                            debug!(conn, app = %key.app, group = %key.group, open_id = %open_id, code, "join refused: {msg}");
                            self.send(conn, ServerMessage::error(req_id, code, msg));
                        }
                    }
                }
            }
        } else {
            debug!(conn, app = %key.app, group = %key.group, open_id = %open_id, admitted = store_holds, "store answer for a join the socket no longer waits for");
        }
        self.settle(&key, &open_id, store_holds);
    }

    /// After an admit of (key, open_id) was answered: when this core has no such member but the store may hold
    /// one (`store_holds`: the answer was a yes; or a removal was deferred), the store is told to remove it, unless
    /// another admit of the same (room, openId) is still in flight (a removal now would reach the store after
    /// that admit and undo it, while its answer would put the member here): the removal waits for the last one.
    fn settle(&mut self, key: &RoomKey, open_id: &str, store_holds: bool) {
        let pair = (key.clone(), open_id.to_string());
        let here = self
            .rooms
            .get(key)
            .is_some_and(|r| r.members.contains_key(open_id));
        if here {
            // Whatever this core holds, the store holds too.
            self.unremoved.remove(&pair);
            return;
        }
        if !store_holds && !self.unremoved.contains(&pair) {
            return;
        }
        if self.admit_in_flight(key, Some(open_id)) {
            self.unremoved.insert(pair);
            return;
        }
        self.unremoved.remove(&pair);
        info!(app = %key.app, group = %key.group, open_id, "undoing a store membership this core does not hold");
        self.outputs.push_back(Output::RemoveMember {
            room: key.clone(),
            open_id: open_id.to_string(),
        });
        if !self.rooms.contains_key(key) && !self.admit_in_flight(key, None) {
            self.outputs
                .push_back(Output::EndRoom { room: key.clone() });
        }
    }

    /// Whether an admit into `key` (of `open_id`, or of anyone) awaits its answer.
    pub(super) fn admit_in_flight(&self, key: &RoomKey, open_id: Option<&str>) -> bool {
        self.admits
            .values()
            .flatten()
            .any(|(k, o)| k == key && open_id.is_none_or(|id| id == o))
    }

    /// The code and message of a join the store refused.
    fn refusal(&self, join: &Join, refused: AdmitRefused) -> (i32, String) {
        let window = self.config.timestamp_window_secs;
        match refused {
            AdmitRefused::Replay(ReplayCheck::SignatureReused) => (
                codes::BAD_NONCE,
                format!(
                    "signature already used by a join within {window} s (a replay, possibly with the signed fields split differently); sign each join with a fresh nonceStr"
                ),
            ),
            AdmitRefused::Replay(ReplayCheck::NonceReused) => (
                codes::BAD_NONCE,
                format!(
                    "nonceStr {:?} was already used by app {} within {window} s; use a fresh random one per join",
                    join.nonce_str, join.app_id
                ),
            ),
            // `Fresh` is not a refusal; a store that says so anyway is treated like a full cache.
            AdmitRefused::Replay(ReplayCheck::CacheFull | ReplayCheck::Fresh) => (
                codes::BAD_NONCE,
                format!(
                    "app {} has {} joins in the timestamp window (rooms.max_nonces_per_app); retry later",
                    join.app_id, self.config.max_nonces_per_app
                ),
            ),
            AdmitRefused::Add(AddRefused::Full { max }) => (
                codes::ROOM_FULL,
                format!("group {} is full: {max} members (rooms.max_members)", join.group_id),
            ),
            AdmitRefused::Add(AddRefused::Quota { quota }) => (
                codes::QUOTA_EXHAUSTED,
                format!(
                    "app {} opened its {quota} rooms for today (rooms.daily_room_quota, UTC day)",
                    join.app_id
                ),
            ),
            AdmitRefused::Add(AddRefused::InOtherRoom { group }) => (
                codes::ALREADY_IN_ROOM,
                format!(
                    "openId {} is already in a room (group {group}) of app {}; exit it first",
                    join.open_id, join.app_id
                ),
            ),
            AdmitRefused::Add(AddRefused::Backend(e)) => {
                (codes::SYSTEM_ERROR, format!("system error: {e}"))
            }
        }
    }

    /// Puts a join the store admitted into its room. Takeover is decided by this core's own state, not by the
    /// store's `already_member`: the answers of two concurrent joins of one openId can come back in either order,
    /// and whichever comes second takes the membership over.
    fn admit(&mut self, conn: ConnId, req_id: ReqId, join: Join, added: Added, now: Instant) {
        let key = RoomKey {
            app: join.app_id.clone(),
            group: join.group_id.clone(),
        };
        // Checked before the admit too; checked again because the owners may have changed while it was in flight
        // (the caller's `settle` then undoes the store's add).
        if self.refuse_stream_conflict(conn, &key, &join.open_id, &req_id) {
            return;
        }
        let stream = stream_name(&key.app, &key.group, &join.open_id);
        let token = self.new_token(conn, &key);
        let open_id = join.open_id.clone();
        let room = self
            .rooms
            .entry(key.clone())
            .or_insert_with(|| Room::new(join.room_type));
        let mut replaced = None;
        let takeover = room.members.contains_key(&open_id);
        if let Some(old) = room.members.get_mut(&open_id) {
            // The same user from another socket: the new socket takes the membership over.
            replaced = old.conn.filter(|c| *c != conn);
            self.tokens.remove(&old.resume_token);
            old.conn = Some(conn);
            old.grace_until = None;
            old.resume_token = token.clone();
            old.mute = join.mute_config;
            old.seen_video.clear();
            old.seen_pushers.clear();
        } else {
            room.order.push(open_id.clone());
            room.members.insert(
                open_id.clone(),
                Member::new(conn, token.clone(), join.mute_config),
            );
        }
        self.tokens
            .insert(token.clone(), (key.clone(), open_id.clone()));
        self.owners
            .insert(stream.clone(), (key.clone(), open_id.clone()));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Member(key.clone(), open_id.clone());
        }
        if let Some(old) = replaced {
            self.interrupt(
                old,
                codes::REPLACED,
                format!(
                    "openId {open_id} joined group {} from another socket",
                    key.group
                ),
                CloseReason::Replaced,
            );
        }
        info!(conn, app = %key.app, group = %key.group, open_id = %open_id, opened = added.opened, takeover, "room member joined");
        self.send_joined(conn, req_id, &key, &open_id, false);
        self.send(
            conn,
            ServerMessage::StateChanged {
                state: State::Joined,
            },
        );
        if !takeover {
            let info = self.member_info(&key, &open_id);
            self.broadcast_members(&key, &open_id, vec![info]);
            let stream = self.streams.get(&stream).copied();
            if stream.is_some() {
                self.announce_stream(&key, &open_id, None, stream);
            }
        }
        self.update_views(&key);
        self.update_speakers(&key, now);
    }

    pub(super) fn resume(&mut self, conn: ConnId, req_id: ReqId, token: &str, now: Instant) {
        if let Some(msg) = self.busy_reason(conn) {
            self.send(
                conn,
                ServerMessage::error(req_id, codes::ALREADY_IN_ROOM, msg),
            );
            return;
        }
        let Some((key, open_id)) = self.tokens.get(token).cloned() else {
            self.send(
                conn,
                ServerMessage::error(
                    req_id,
                    codes::BAD_RESUME_TOKEN,
                    format!(
                        "resumeToken unknown or expired (the grace is {} s, rooms.resume_grace_secs); join again",
                        self.config.resume_grace.as_secs()
                    ),
                ),
            );
            return;
        };
        let Some(member) = self.member_mut(&key, &open_id) else {
            return;
        };
        let old = member.conn.filter(|c| *c != conn);
        member.conn = Some(conn);
        member.grace_until = None;
        member.seen_video.clear();
        member.seen_pushers.clear();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Member(key.clone(), open_id.clone());
        }
        if let Some(old) = old {
            self.interrupt(
                old,
                codes::REPLACED,
                "the membership was resumed on another socket".into(),
                CloseReason::Replaced,
            );
        }
        info!(conn, app = %key.app, group = %key.group, open_id = %open_id, "room member resumed");
        self.send_joined(conn, req_id, &key, &open_id, true);
        self.send(
            conn,
            ServerMessage::StateChanged {
                state: State::Resumed,
            },
        );
        self.update_views(&key);
        self.update_speakers(&key, now);
    }

    pub(super) fn send_joined(
        &mut self,
        conn: ConnId,
        req_id: ReqId,
        key: &RoomKey,
        open_id: &str,
        resumed: bool,
    ) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let members = room
            .order
            .iter()
            .filter(|m| *m != open_id)
            .map(|m| self.member_info(key, m))
            .collect();
        let message = ServerMessage::Joined {
            req_id,
            group_id: key.group.clone(),
            room_type: room.room_type,
            open_id_list: room.order.clone(),
            push_url: self
                .urls
                .push_url(&stream_name(&key.app, &key.group, open_id)),
            members,
            heartbeat_interval_ms: self.config.heartbeat_interval.as_millis() as u64,
            resume_token: room
                .members
                .get(open_id)
                .map(|m| m.resume_token.clone())
                .unwrap_or_default(),
            resumed,
        };
        self.send(conn, message);
    }
}

/// Unix seconds as the client must write them: 1 to 11 ASCII digits, no sign, no leading zero (except "0").
///
/// One spelling per value matters because the text is signed: Rust's `u64` parse also takes `+1796...`, and
/// every extra spelling is one more way to re-split a signed message into other field values.
fn parse_timestamp(text: &str) -> Result<u64, (i32, String)> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (text.len() > 1 && text.starts_with('0')) {
        return Err((
            codes::BAD_TIMESTAMP,
            format!(
                "timeStamp {text:?} is not Unix seconds: decimal digits only, no sign, spaces or leading zeros"
            ),
        ));
    }
    // Twelve digits or more: milliseconds (13 digits today), or nonsense too long for u64.
    match text.parse::<u64>() {
        Ok(ts) if text.len() <= 11 => Ok(ts),
        Ok(ts) => Err((
            codes::BAD_TIMESTAMP,
            format!("timeStamp is in milliseconds; send seconds (got {ts})"),
        )),
        Err(_) => Err((
            codes::BAD_TIMESTAMP,
            format!("timeStamp {text:?} is not Unix seconds: at most 11 digits"),
        )),
    }
}
