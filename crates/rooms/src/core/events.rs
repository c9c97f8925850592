//! What members are told: membersChanged, ROOM-protocol events, video views and speakers.

use std::cmp::Reverse;
use std::time::Instant;

use super::{stream_name, ConnId, Output, Rooms, Timer};
use crate::protocol::{MemberInfo, ServerMessage};
use crate::room::StreamState;
use crate::store::RoomKey;

impl Rooms {
    // ---- events ----

    /// `membersChanged` to every connected member but `except`.
    pub(super) fn broadcast_members(&mut self, key: &RoomKey, except: &str, new: Vec<MemberInfo>) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let targets: Vec<ConnId> = room
            .connected()
            .filter(|(id, _)| id.as_str() != except)
            .map(|(_, c)| c)
            .collect();
        let message = ServerMessage::MembersChanged {
            open_id_list: room.order.clone(),
            err_code: 0,
            err_msg: "ok".into(),
            members: new,
        };
        for conn in targets {
            self.send(conn, message.clone());
        }
    }

    pub(super) fn announce_stream(
        &mut self,
        key: &RoomKey,
        open_id: &str,
        before: Option<StreamState>,
        after: Option<StreamState>,
    ) {
        let name = stream_name(&key.app, &key.group, open_id);
        self.announce_from(key, open_id, &name, before, after);
    }

    /// ROOM-protocol events 1031/1032/1033/1034 about `open_id`'s stream, to the other members.
    pub(super) fn announce_from(
        &mut self,
        key: &RoomKey,
        open_id: &str,
        name: &str,
        before: Option<StreamState>,
        after: Option<StreamState>,
    ) {
        let playurl = self.urls.play_urls(name).rtmp;
        let user = serde_json::json!({"userid": open_id, "playurl": playurl});
        let mut events = Vec::new();
        let was = before.unwrap_or_default();
        let is = after.unwrap_or_default();
        match (before.is_some(), after.is_some()) {
            (false, true) => events.push((1031, serde_json::json!({"userlist": [user.clone()]}))),
            (true, false) => events.push((1032, serde_json::json!({"userlist": [user.clone()]}))),
            _ => {}
        }
        if after.is_some() && was.has_video != is.has_video {
            events.push((1033, serde_json::json!({"userid": open_id, "playurl": playurl, "hasvideo": is.has_video})));
        }
        if after.is_some() && was.has_audio != is.has_audio {
            events.push((1034, serde_json::json!({"userid": open_id, "playurl": playurl, "hasaudio": is.has_audio})));
        }
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let targets: Vec<ConnId> = room
            .connected()
            .filter(|(id, _)| id.as_str() != open_id)
            .map(|(_, c)| c)
            .collect();
        for (code, message) in events {
            let message = ServerMessage::RoomEvent {
                code,
                message: message.to_string(),
            };
            for &conn in &targets {
                self.send(conn, message.clone());
            }
        }
    }

    /// Sends each member its `videoMembersChanged` and roomEvent 1020 when what it sees changed.
    pub(super) fn update_views(&mut self, key: &RoomKey) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let stream_of = |m: &str| {
            self.streams
                .get(&stream_name(&key.app, &key.group, m))
                .copied()
        };
        let video = room.video_members(stream_of);
        let pushing: Vec<String> = room
            .order
            .iter()
            .filter(|m| stream_of(m).is_some())
            .cloned()
            .collect();
        let mut sends = Vec::new();
        let mut updates = Vec::new();
        for (open_id, conn) in room.connected() {
            let member = &room.members[open_id];
            let view = room.view_of(open_id, &video);
            if view != member.seen_video {
                sends.push((
                    conn,
                    ServerMessage::VideoMembersChanged {
                        open_id_list: view.clone(),
                    },
                ));
            }
            let others: Vec<String> = pushing.iter().filter(|m| *m != open_id).cloned().collect();
            if others != member.seen_pushers {
                let userlist: Vec<serde_json::Value> = others
                    .iter()
                    .map(|m| {
                        serde_json::json!({"userid": m, "playurl": self.urls.play_urls(&stream_name(&key.app, &key.group, m)).rtmp})
                    })
                    .collect();
                sends.push((
                    conn,
                    ServerMessage::RoomEvent {
                        code: 1020,
                        message: serde_json::json!({ "userlist": userlist }).to_string(),
                    },
                ));
            }
            updates.push((open_id.clone(), view, others));
        }
        if let Some(room) = self.rooms.get_mut(key) {
            for (open_id, view, others) in updates {
                if let Some(m) = room.members.get_mut(&open_id) {
                    m.seen_video = view;
                    m.seen_pushers = others;
                }
            }
        }
        for (conn, message) in sends {
            self.send(conn, message);
        }
    }

    /// Sends `speakersChanged` when the set changed and the room's last one is `speakers_min_interval` old;
    /// otherwise arms the timer that will.
    pub(super) fn update_speakers(&mut self, key: &RoomKey, now: Instant) {
        let config = &self.config;
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        let speakers = room.speakers(config, now);
        let mut wake = room.next_speaker_expiry(config, now);
        if speakers != room.sent_speakers {
            let allowed_at = room
                .speakers_sent_at
                .map_or(now, |at| at + config.speakers_min_interval);
            if allowed_at <= now {
                room.sent_speakers = speakers.clone();
                room.speakers_sent_at = Some(now);
                let targets: Vec<ConnId> = room.connected().map(|(_, c)| c).collect();
                for conn in targets {
                    self.outputs.push_back(Output::Send {
                        conn,
                        message: ServerMessage::SpeakersChanged {
                            open_id_list: speakers.clone(),
                        },
                    });
                }
            } else {
                wake = Some(wake.map_or(allowed_at, |w| w.min(allowed_at)));
            }
        }
        if let Some(at) = wake {
            if room.speakers_timer.is_none_or(|armed| at < armed) {
                room.speakers_timer = Some(at);
                self.timers
                    .push(Reverse((at, Timer::Speakers(key.clone()))));
            }
        }
    }
}
