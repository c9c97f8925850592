//! Follows the hub for the rooms: members' streams (in `rooms.media_app`, named by `rooms::stream_name`) starting
//! and stopping, and whether each live one carries audio and video. Every stream of the media app is passed on by
//! name; the core alone maps a name to the member that owns it, so a stream nobody owns is ignored there.
//!
//! Start and stop come from the stream lifecycle, which tells the room service of every publish like any other
//! follower (on publish and unpublish, never per frame), through a bounded queue to this task. Track presence is
//! read from the stream statistics every `rooms.media_poll_ms` for the live streams of the media app: a track
//! counts while its codec is known and it carried data in the last two seconds (or the stream is younger than
//! that), so a member who turns its camera off is seen as without video.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use media::{Registry, StreamKey};
use rooms::StreamState;
use tokio::sync::mpsc;

use super::RoomService;

/// Younger streams count a track from its codec alone: rates cover two complete seconds.
const RATE_WARMUP_MS: u64 = 3000;

/// Publish changes the bridge may be behind before it resynchronizes from the hub instead.
const QUEUE: usize = 1024;

/// A member's stream (by name, in the media app) went live or away.
#[derive(Debug)]
pub(super) enum Change {
    Started(String),
    Stopped(String),
}

/// The lifecycle's side of the queue: never waits; a full queue makes the bridge resynchronize.
pub(super) struct Publishes {
    tx: mpsc::Sender<Change>,
    overflowed: Arc<AtomicBool>,
}

/// The bridge's side.
pub(super) struct Changes {
    rx: mpsc::Receiver<Change>,
    overflowed: Arc<AtomicBool>,
}

impl Publishes {
    pub(super) fn channel() -> (Publishes, Changes) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let publishes = Publishes {
            tx,
            overflowed: overflowed.clone(),
        };
        (publishes, Changes { rx, overflowed })
    }

    pub(super) fn send(&self, change: Change) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(change) {
            self.overflowed.store(true, Ordering::Release);
        }
    }
}

pub(super) async fn run(service: Arc<RoomService>, registry: Registry, mut changes: Changes) {
    let app = service.settings().media_app.clone();
    let mut live: HashMap<String, StreamState> = HashMap::new();
    let mut poll = tokio::time::interval(Duration::from_millis(service.settings().media_poll_ms));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Streams already live when the rooms started (none on a normal start).
    for stats in registry.list() {
        if stats.app == app {
            live.insert(stats.stream.clone(), StreamState::default());
        }
    }
    loop {
        tokio::select! {
            _ = service.shutdown.cancelled() => return,
            change = changes.rx.recv() => match change {
                Some(Change::Started(name)) => {
                    let key = StreamKey::new(app.clone(), name.clone());
                    let state = presence(&registry, &key).unwrap_or_default();
                    live.insert(name.clone(), state);
                    service.stream(&name, Some(state));
                }
                Some(Change::Stopped(name)) => {
                    live.remove(&name);
                    service.stream(&name, None);
                }
                None => return,
            },
            _ = poll.tick() => {
                if changes.overflowed.swap(false, Ordering::AcqRel) {
                    tracing::warn!("rooms fell behind the publish changes; resynchronizing from the hub");
                    while changes.rx.try_recv().is_ok() {}
                    resync(&service, &registry, &app, &mut live);
                    continue;
                }
                for (name, state) in live.iter_mut() {
                    let Some(now) = presence(&registry, &StreamKey::new(app.clone(), name.clone())) else {
                        continue;
                    };
                    if now != *state {
                        *state = now;
                        service.stream(name, Some(now));
                    }
                }
            }
        }
    }
}

/// Whether a live stream carries audio and video now; `None` when it has no publisher.
fn presence(registry: &Registry, key: &StreamKey) -> Option<StreamState> {
    let stats = registry.get(key)?;
    stats.publisher.as_ref()?;
    let young = stats.uptime_ms < RATE_WARMUP_MS;
    Some(StreamState {
        has_audio: stats.audio_codec.is_some() && (young || stats.audio_bitrate > 0.0),
        has_video: stats.video_codec.is_some() && (young || stats.video_bitrate > 0.0),
    })
}

fn resync(
    service: &Arc<RoomService>,
    registry: &Registry,
    app: &str,
    live: &mut HashMap<String, StreamState>,
) {
    let now: HashMap<String, StreamState> = registry
        .list()
        .into_iter()
        .filter(|s| s.app == app && s.publisher.is_some())
        .filter_map(|s| {
            let key = StreamKey::new(s.app.clone(), s.stream.clone());
            presence(registry, &key).map(|p| (s.stream, p))
        })
        .collect();
    for name in live.keys() {
        if !now.contains_key(name) {
            service.stream(name, None);
        }
    }
    for (name, state) in &now {
        service.stream(name, Some(*state));
    }
    *live = now;
}
