//! One room's local state: its members in join order, what each has been told, and the pure rules (video
//! subscription, speakers) computed from it.

use std::collections::HashMap;
use std::time::Instant;

use crate::protocol::{MuteConfig, RoomType};
use crate::{Config, ConnId};

/// What the hub says about a live stream of the media app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamState {
    /// The stream carries audio.
    pub has_audio: bool,
    /// The stream carries video.
    pub has_video: bool,
}

#[derive(Debug)]
pub(crate) struct Member {
    /// The socket, or `None` while the member waits for a resume.
    pub(crate) conn: Option<ConnId>,
    /// When a dropped member is removed.
    pub(crate) grace_until: Option<Instant>,
    pub(crate) resume_token: String,
    pub(crate) mute: MuteConfig,
    /// The last reported volume and when.
    pub(crate) volume: Option<(u8, Instant)>,
    /// `subscribeVideoMembers`, replacing the default rule.
    pub(crate) subscription: Option<Vec<String>>,
    pub(crate) enable_1v1: bool,
    /// The last `videoMembersChanged` list sent to it.
    pub(crate) seen_video: Vec<String>,
    /// The last roomEvent 1020 user list sent to it.
    pub(crate) seen_pushers: Vec<String>,
}

impl Member {
    pub(crate) fn new(conn: ConnId, resume_token: String, mute: MuteConfig) -> Member {
        Member {
            conn: Some(conn),
            grace_until: None,
            resume_token,
            mute,
            volume: None,
            subscription: None,
            enable_1v1: true,
            seen_video: Vec::new(),
            seen_pushers: Vec::new(),
        }
    }

    /// Speaking: a loud enough volume inside the window, microphone not muted.
    pub(crate) fn speaking(&self, config: &Config, now: Instant) -> bool {
        match self.volume {
            Some((volume, at)) => {
                !self.mute.mute_microphone
                    && volume >= config.speaker_threshold
                    && now.saturating_duration_since(at) < config.speaker_window
            }
            None => false,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Room {
    pub(crate) room_type: RoomType,
    /// Join order; mirrors the store for the members this node serves.
    pub(crate) order: Vec<String>,
    pub(crate) members: HashMap<String, Member>,
    pub(crate) sent_speakers: Vec<String>,
    pub(crate) speakers_sent_at: Option<Instant>,
    /// The earliest speakers timer in the queue, so a later one is not queued again.
    pub(crate) speakers_timer: Option<Instant>,
}

impl Room {
    pub(crate) fn new(room_type: RoomType) -> Room {
        Room {
            room_type,
            order: Vec::new(),
            members: HashMap::new(),
            sent_speakers: Vec::new(),
            speakers_sent_at: None,
            speakers_timer: None,
        }
    }

    /// Members whose stream is live and carries video, in join order (none in a voice room).
    pub(crate) fn video_members(
        &self,
        stream_of: impl Fn(&str) -> Option<StreamState>,
    ) -> Vec<String> {
        if self.room_type == RoomType::Voice {
            return Vec::new();
        }
        self.order
            .iter()
            .filter(|m| stream_of(m).is_some_and(|s| s.has_video))
            .cloned()
            .collect()
    }

    /// The subscription rule: the video members `viewer` sees. Without a subscription, the first two (join order)
    /// other than itself, which is every other one when there are at most two; with one, the listed openIds that
    /// are video members, in join order.
    pub(crate) fn view_of(&self, viewer: &str, video_members: &[String]) -> Vec<String> {
        let others = video_members.iter().filter(|m| *m != viewer);
        match self
            .members
            .get(viewer)
            .and_then(|m| m.subscription.as_ref())
        {
            Some(chosen) => others.filter(|m| chosen.contains(m)).cloned().collect(),
            None => others.take(2).cloned().collect(),
        }
    }

    /// Members now speaking, in join order.
    pub(crate) fn speakers(&self, config: &Config, now: Instant) -> Vec<String> {
        self.order
            .iter()
            .filter(|m| {
                self.members
                    .get(*m)
                    .is_some_and(|m| m.speaking(config, now))
            })
            .cloned()
            .collect()
    }

    /// When the speaker set may next change by itself: the earliest end of a counted volume.
    pub(crate) fn next_speaker_expiry(&self, config: &Config, now: Instant) -> Option<Instant> {
        self.members
            .values()
            .filter(|m| m.speaking(config, now))
            .filter_map(|m| m.volume.map(|(_, at)| at + config.speaker_window))
            .min()
    }

    /// Connections of the members, with their openIds.
    pub(crate) fn connected(&self) -> impl Iterator<Item = (&String, ConnId)> {
        self.members
            .iter()
            .filter_map(|(id, m)| m.conn.map(|c| (id, c)))
    }
}
