//! One live stream: its publisher slot, timeline, GOP cache, statistics and the ring its subscribers read.
//!
//! Locking: `state` (a mutex) is the publisher side and is taken first; `ring` (a read-write lock) is written only
//! while `state` is held, and read by subscribers without `state`. So a subscriber that takes both locks
//! (subscribe) sees a snapshot no push can interleave with, and a push never waits for a reader's await: no lock
//! is held across one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::attachment::Slot;
use crate::frame::{kind_index, Frame, MediaFrame, MediaKind};
use crate::gop::GopCache;
use crate::key::StreamKey;
use crate::publisher::PublisherInfo;
use crate::ring::{LagBounds, Ring};
use crate::stats::{Meter, PlayerStats, PublisherStats, Rates, StreamState, StreamStats};
use crate::HubConfig;

/// Shared by the registry, the publisher and every subscriber of one stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) key: StreamKey,
    pub(crate) state: Mutex<State>,
    pub(crate) ring: RwLock<Ring>,
    /// Woken after every push and when the stream closes.
    pub(crate) notify: Notify,
    pub(crate) lag: LagBounds,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) dropped_frames: AtomicU64,
    /// What the hub's user keeps with this stream (see [`Registry::attachment`](crate::Registry::attachment)).
    pub(crate) attachment: Slot,
    created_at: Instant,
}

/// The subscriber's protocol, as counted in [`PlayerStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Rtmp,
    Flv,
    Other,
    /// Another node's relay of the stream: not a viewer, so not in `total`.
    Relay,
    /// A reader inside the server (a probe, a re-encoder): not counted at all.
    Internal,
}

impl Protocol {
    pub(crate) fn from_name(name: &str) -> Protocol {
        match name {
            "rtmp" => Protocol::Rtmp,
            "flv" => Protocol::Flv,
            "relay" => Protocol::Relay,
            "internal" => Protocol::Internal,
            _ => Protocol::Other,
        }
    }
}

/// The attached publisher.
#[derive(Debug)]
pub(crate) struct PublisherSlot {
    pub(crate) session: u64,
    pub(crate) info: PublisherInfo,
    pub(crate) last_push: Instant,
    kick: watch::Sender<bool>,
}

impl PublisherSlot {
    /// Resolves the publisher's `kicked()` futures.
    pub(crate) fn kick(self) {
        self.kick.send_replace(true);
    }
}

/// Where a session's timestamps land on the hub timeline.
#[derive(Debug, Default)]
struct Timeline {
    /// Added (wrapping) to the current session's timestamps; fixed by its first frame.
    offset: Option<u32>,
    /// Highest hub timestamp published so far, by any session.
    last: Option<u32>,
}

impl Timeline {
    fn map(&mut self, ts: u32) -> u32 {
        let last = self.last;
        // The first session keeps its timestamps; a later one starts just after the last published timestamp.
        let offset = *self
            .offset
            .get_or_insert_with(|| last.map_or(0, |l| l.wrapping_add(1).wrapping_sub(ts)));
        let mapped = ts.wrapping_add(offset);
        self.last = Some(last.map_or(mapped, |l| l.max(mapped)));
        mapped
    }
}

/// The publisher side of a stream, under `Stream::state`.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) publisher: Option<PublisherSlot>,
    /// Session id of the last publisher attached (ids start at 1).
    session: u64,
    /// Set while the grace timer of that session runs.
    pub(crate) grace_of: Option<u64>,
    /// The current (or last) publisher's own grace period, when it has one.
    pub(crate) grace: Option<std::time::Duration>,
    pub(crate) closed: bool,
    pub(crate) players: PlayerStats,
    timeline: Timeline,
    /// The session has not sent a video keyframe yet: its other video frames are not forwarded.
    awaiting_keyframe: bool,
    pub(crate) gop: GopCache,
    pub(crate) meter: Meter,
}

impl Stream {
    pub(crate) fn new(key: StreamKey, config: &HubConfig) -> Stream {
        let lag = LagBounds {
            max_ms: u64::try_from(config.subscriber_max_lag.as_millis()).unwrap_or(u64::MAX),
            max_bytes: config.subscriber_max_lag_bytes,
        };
        Stream {
            key,
            state: Mutex::new(State {
                publisher: None,
                session: 0,
                grace_of: None,
                grace: None,
                closed: false,
                players: PlayerStats::default(),
                timeline: Timeline::default(),
                awaiting_keyframe: true,
                gop: GopCache::new(
                    config.gop_cache,
                    config.gop_cache_max_bytes,
                    config.gop_cache_max_frames,
                ),
                meter: Meter::default(),
            }),
            ring: RwLock::new(Ring::new(config.ring_capacity)),
            notify: Notify::new(),
            lag,
            bytes_out: AtomicU64::new(0),
            dropped_frames: AtomicU64::new(0),
            attachment: Slot::default(),
            created_at: Instant::now(),
        }
    }

    /// Attaches a new publisher (the caller checked the slot) and starts its session; returns the session id and
    /// the receiver its `kicked()` futures watch.
    pub(crate) fn attach(
        &self,
        st: &mut State,
        info: PublisherInfo,
        now: Instant,
    ) -> (u64, watch::Receiver<bool>) {
        st.session += 1;
        st.grace = info.republish_grace;
        let (kick, kicked) = watch::channel(false);
        st.publisher = Some(PublisherSlot {
            session: st.session,
            info,
            last_push: now,
            kick,
        });
        st.grace_of = None;
        st.timeline.offset = None;
        st.awaiting_keyframe = true;
        // The cached pictures belong to the previous session's decoder configuration.
        st.gop.invalidate();
        st.meter.new_session();
        self.ring.write().has_video = false;
        (st.session, kicked)
    }

    /// Publishes one frame of the current session. Never waits on a subscriber.
    pub(crate) fn push(&self, st: &mut State, mut frame: Frame, now: Instant) {
        frame.timestamp = st.timeline.map(frame.timestamp);
        st.meter.record(&frame);
        let keyframe = frame.is_video_keyframe();
        let mut unclassified = false;
        if frame.kind == MediaKind::Video && !frame.sequence_header && !keyframe {
            unclassified =
                flv::FrameClass::of(MediaKind::Video, &frame.payload) == flv::FrameClass::Unknown;
            if st.awaiting_keyframe && !unclassified {
                // Pictures that reference a frame nobody has (start of a session): useless to every subscriber.
                return;
            }
        }
        if keyframe {
            st.awaiting_keyframe = false;
        }
        let kind = frame.kind;
        let header = frame.sequence_header;
        let mut config_changed = false;
        let frame = {
            let mut ring = self.ring.write();
            let frame = MediaFrame::new(frame, ring.next_seq(), ring.end_offset, now.into_std());
            let frame = Arc::new(frame.with_unclassified(unclassified));
            if header {
                let slot = &mut ring.headers[kind_index(kind)];
                config_changed = kind != MediaKind::Script
                    && slot
                        .as_ref()
                        .is_none_or(|old| old.frame().payload != frame.frame().payload);
                *slot = Some(Arc::clone(&frame));
            }
            ring.push(Arc::clone(&frame), self.lag);
            frame
        };
        if config_changed {
            // The cached pictures were encoded with the previous configuration.
            st.gop.invalidate();
        } else {
            st.gop.push(&frame, keyframe);
        }
    }

    /// Marks the stream closed: subscribers get [`SubscriberEnd::Ended`](crate::SubscriberEnd) once they have
    /// read what the ring still holds.
    pub(crate) fn close(&self, st: &mut State) {
        st.closed = true;
        st.publisher = None;
        st.grace_of = None;
        st.gop.invalidate();
        self.ring.write().closed = true;
        self.notify.notify_waiters();
    }

    pub(crate) fn stats(&self) -> StreamStats {
        let st = self.state.lock();
        let live = st.publisher.is_some();
        let rates = if live {
            st.meter.rates()
        } else {
            Rates::default()
        };
        let video = st.meter.video_params;
        let audio = st.meter.audio_params;
        StreamStats {
            app: self.key.app.clone(),
            stream: self.key.name.clone(),
            state: if live {
                StreamState::Live
            } else {
                StreamState::Grace
            },
            publisher: st.publisher.as_ref().map(|p| PublisherStats {
                addr: p.info.remote_addr.clone(),
                protocol: p.info.protocol,
                started_at_ms: p.info.started_at_ms,
            }),
            video_codec: video.codec.map(str::to_owned),
            audio_codec: audio.codec.map(str::to_owned),
            video_bitrate: rates.video_kbps,
            audio_bitrate: rates.audio_kbps,
            video_fps: rates.fps,
            video_gop: rates.gop_secs,
            video_width: video.width,
            video_height: video.height,
            audio_sample_rate: audio.sample_rate,
            audio_channels: audio.channels,
            players: st.players,
            bytes_in: st.meter.bytes_in,
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            frames_in: st.meter.frames_in,
            dropped_frames: self.dropped_frames.load(Ordering::Relaxed),
            uptime_ms: u64::try_from(self.created_at.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl State {
    /// The publisher of `session` is still the attached one.
    pub(crate) fn is_current(&self, session: u64) -> bool {
        self.publisher
            .as_ref()
            .is_some_and(|p| p.session == session)
    }

    pub(crate) fn add_player(&mut self, protocol: Protocol) {
        let Some(counter) = self.player_counter(protocol) else {
            return;
        };
        *counter += 1;
        self.players.total += u64::from(protocol != Protocol::Relay);
    }

    pub(crate) fn remove_player(&mut self, protocol: Protocol) {
        let Some(counter) = self.player_counter(protocol) else {
            return;
        };
        *counter = counter.saturating_sub(1);
        if protocol != Protocol::Relay {
            self.players.total = self.players.total.saturating_sub(1);
        }
    }

    /// The counter of `protocol`; `None` for readers that are not counted.
    fn player_counter(&mut self, protocol: Protocol) -> Option<&mut u64> {
        match protocol {
            Protocol::Rtmp => Some(&mut self.players.rtmp),
            Protocol::Flv => Some(&mut self.players.flv),
            Protocol::Other => Some(&mut self.players.other),
            Protocol::Relay => Some(&mut self.players.relays),
            Protocol::Internal => None,
        }
    }
}
