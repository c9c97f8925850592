//! Leaving: exit, heartbeat timeouts, interruptions, and removing a member.

use std::time::Instant;

use tracing::info;

use super::{stream_name, CloseReason, ConnId, ConnState, Output, Rooms, Timer};
use crate::codes;
use crate::protocol::{ReqId, ServerMessage, State};
use crate::store::RoomKey;

impl Rooms {
    // ---- leaving ----

    pub(super) fn exit(&mut self, conn: ConnId, req_id: ReqId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match std::mem::replace(&mut c.state, ConnState::Idle) {
            ConnState::Idle => {
                self.send(
                    conn,
                    ServerMessage::error(req_id, codes::NOT_IN_ROOM, "not in a room: join first"),
                );
            }
            ConnState::Joining {
                req_id: join_req,
                join,
                ..
            }
            | ConnState::Admitting {
                req_id: join_req,
                join,
            } => {
                // An admit in flight is undone when its answer comes (`Rooms::admitted`).
                self.send(
                    conn,
                    ServerMessage::error(
                        join_req,
                        codes::LEFT_WHILE_JOINING,
                        format!("left group {} while joining", join.group_id),
                    ),
                );
                self.send(conn, ServerMessage::Exited { req_id });
            }
            ConnState::Member(key, open_id) => {
                info!(conn, app = %key.app, group = %key.group, open_id = %open_id, "room member exited");
                self.send(conn, ServerMessage::Exited { req_id });
                self.send(
                    conn,
                    ServerMessage::StateChanged {
                        state: State::Exited,
                    },
                );
                self.remove_member(&key, &open_id, now);
            }
        }
    }

    pub(super) fn heartbeat_due(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let deadline = c.last_seen + self.config.heartbeat_timeout();
        if deadline > now {
            self.arm(deadline, Timer::Heartbeat(conn));
            return;
        }
        let msg = format!(
            "heartbeat timeout: {} heartbeats missed",
            self.config.missed_heartbeats
        );
        match self.membership(conn) {
            Some((key, open_id)) => {
                info!(conn, app = %key.app, group = %key.group, open_id = %open_id, "room member timed out");
                self.interrupt(
                    conn,
                    codes::HEARTBEAT_TIMEOUT,
                    msg,
                    CloseReason::HeartbeatTimeout,
                );
                self.remove_member(&key, &open_id, now);
            }
            None => {
                self.conns.remove(&conn);
                self.outputs.push_back(Output::Close {
                    conn,
                    reason: CloseReason::HeartbeatTimeout,
                });
            }
        }
    }

    /// Tells `conn` it lost its membership and closes it; the membership itself is not touched.
    pub(super) fn interrupt(
        &mut self,
        conn: ConnId,
        err_code: i32,
        err_msg: String,
        reason: CloseReason,
    ) {
        self.send(conn, ServerMessage::Interrupted { err_code, err_msg });
        self.send(
            conn,
            ServerMessage::StateChanged {
                state: State::Interrupted,
            },
        );
        self.outputs.push_back(Output::Close { conn, reason });
        self.conns.remove(&conn);
    }

    /// Removes a member (exit, timeout, grace over): the store is told ([`Output::RemoveMember`], then
    /// [`Output::EndRoom`] with the last member), local state, and what the others are told.
    ///
    /// While an admit of the same (room, openId) is in flight, the store is told later: a removal emitted now
    /// would reach the store after that admit and undo it, while its answer puts the member back here. The admit's
    /// answer settles it (`Rooms::settle`). For the same reason the room is not ended in the store while any admit
    /// into it is in flight.
    pub(super) fn remove_member(&mut self, key: &RoomKey, open_id: &str, now: Instant) {
        if self.admit_in_flight(key, Some(open_id)) {
            self.unremoved.insert((key.clone(), open_id.to_string()));
        } else {
            self.outputs.push_back(Output::RemoveMember {
                room: key.clone(),
                open_id: open_id.to_string(),
            });
        }
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        let Some(member) = room.members.remove(open_id) else {
            return;
        };
        room.order.retain(|m| m != open_id);
        self.tokens.remove(&member.resume_token);
        let name = stream_name(&key.app, &key.group, open_id);
        if self
            .owners
            .get(&name)
            .is_some_and(|(k, o)| k == key && o == open_id)
        {
            self.owners.remove(&name);
        }
        if let Some(conn) = member.conn {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.state = ConnState::Idle;
            }
        }
        if room.order.is_empty() {
            info!(app = %key.app, group = %key.group, "room ended: its last member left");
            self.rooms.remove(key);
            if !self.admit_in_flight(key, None) {
                self.outputs
                    .push_back(Output::EndRoom { room: key.clone() });
            }
            return;
        }
        if let Some(stream) = self.streams.get(&name).copied() {
            // Its stream no longer counts for the room.
            self.announce_from(key, open_id, &name, Some(stream), None);
        }
        self.broadcast_members(key, open_id, Vec::new());
        self.update_views(key);
        self.update_speakers(key, now);
    }
}
