//! The health rules of each live publish (`media::health`, `[health]` settings) wired to the server: the publish
//! session feeds each frame to its [`Watch`], a task ticks every watch every [`TICK`], and each episode start or
//! end becomes a `stream_anomaly` webhook (event_type 321), a count in `mplive_stream_anomalies_total{rule}`, a
//! log line, and an entry in the stream's statistics (active now, recent ended ones).
//!
//! Per frame this costs one uncontended lock and the evaluator's few comparisons; everything else happens only
//! when an episode starts or ends. No lock is held across an await or while a webhook is queued.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::webhook_event::{abnormal_type, Anomaly, AnomalyState, EventKind};
use control::App;
use media::health::{Detail, Episode, Health, HealthConfig, Phase};
use media::{Frame, MediaKind, StreamKey};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;
use tracing::info;
use utoipa::ToSchema;

use super::entry::StreamEntry;
use super::Streams;
use crate::ops::webhooks;

/// How often every watch is ticked: the resolution of `video_gap` while a gap lasts, and of the quiet that ends
/// `timestamp_backwards`.
pub(crate) const TICK: Duration = Duration::from_millis(500);

/// The rules of one publish and what its events are about.
pub(crate) struct Watch {
    health: Mutex<Health>,
    app: Arc<App>,
    key: StreamKey,
    /// The publish's `sequence`: its anomalies pair with its push start and end.
    sequence: String,
    peer: SocketAddr,
    param: Option<String>,
    /// The monotonic clock and the wall clock (Unix ms) at the start, to date episodes.
    origin: (Instant, i64),
    recent_max: usize,
}

/// What a publish session needs to start its watch.
pub(crate) struct Publish<'a> {
    pub(crate) app: &'a Arc<App>,
    pub(crate) key: &'a StreamKey,
    pub(crate) sequence: &'a str,
    pub(crate) peer: SocketAddr,
    pub(crate) param: Option<&'a str>,
}

impl Watch {
    /// Starts watching a publish (attached to its stream's entry, for the tick and the statistics); `None` when
    /// `[health] enabled` is off.
    pub(crate) fn start(
        config: &HealthConfig,
        entry: &StreamEntry,
        publish: Publish<'_>,
    ) -> Option<Arc<Watch>> {
        if !config.enabled {
            return None;
        }
        let now = Instant::now();
        let watch = Arc::new(Watch {
            health: Mutex::new(Health::new(config.clone(), now)),
            app: publish.app.clone(),
            key: publish.key.clone(),
            sequence: publish.sequence.to_owned(),
            peer: publish.peer,
            // Kept as the webhooks send it: the query is the client's to choose, and this lives as long as the push.
            param: publish
                .param
                .map(|p| control::webhook_event::cap_stream_param(p).to_owned()),
            origin: (now, control::now_ms()),
            recent_max: config.recent_episodes,
        });
        *entry.health.watch.lock() = Some(watch.clone());
        Some(watch)
    }

    /// A frame the publisher sent, arrived at `now`.
    pub(crate) fn frame(
        &self,
        streams: &Streams,
        entry: &StreamEntry,
        now: Instant,
        frame: &Frame,
    ) {
        let episodes = {
            let mut health = self.health.lock();
            health.handle_frame(now, frame);
            drain(&mut health)
        };
        self.report(streams, entry, episodes);
    }

    /// The publish ended: its open episodes end, and the stream's entry lets go of it.
    pub(crate) fn finish(self: &Arc<Self>, streams: &Streams, entry: &StreamEntry) {
        let episodes = {
            let mut health = self.health.lock();
            health.finish(Instant::now());
            drain(&mut health)
        };
        self.report(streams, entry, episodes);
        let mut slot = entry.health.watch.lock();
        // A publisher that took the stream over has its own watch there by now.
        if slot.as_ref().is_some_and(|w| Arc::ptr_eq(w, self)) {
            *slot = None;
        }
    }

    fn tick(&self, streams: &Streams, entry: &StreamEntry, now: Instant) {
        let episodes = {
            let mut health = self.health.lock();
            health.handle_tick(now);
            drain(&mut health)
        };
        self.report(streams, entry, episodes);
    }

    fn report(&self, streams: &Streams, entry: &StreamEntry, episodes: Option<Vec<Episode>>) {
        for episode in episodes.into_iter().flatten() {
            let view = self.view(&episode);
            let state = match episode.phase {
                Phase::Started => AnomalyState::Start,
                Phase::Ended => AnomalyState::End,
            };
            info!(stream = %self.key, peer = %self.peer, rule = %view.rule, state = state.as_str(),
                detail = %view.detail, "stream anomaly");
            if episode.phase == Phase::Started {
                streams.metrics.anomaly(episode.rule);
            } else if self.recent_max > 0 {
                let mut recent = entry.health.recent.lock();
                if recent.len() >= self.recent_max {
                    recent.pop_front();
                }
                recent.push_back(view.clone());
            }
            let mut event = webhooks::stream_event(
                EventKind::StreamAnomaly,
                &self.key.app,
                &self.key.name,
                self.peer,
                self.param.as_deref(),
            );
            event.sequence = self.sequence.clone();
            if let Some(stats) = streams.registry.get(&self.key) {
                event.width = stats.video_width;
                event.height = stats.video_height;
            }
            event.anomaly = Some(anomaly(&episode, state, &view));
            streams.webhooks.emit(&self.app, event);
        }
    }

    /// Unix ms of a monotonic instant of this publish.
    fn unix_ms(&self, at: Instant) -> u64 {
        let (origin, origin_ms) = self.origin;
        let since = i64::try_from(at.saturating_duration_since(origin).as_millis()).unwrap_or(0);
        u64::try_from(origin_ms.saturating_add(since)).unwrap_or(0)
    }

    fn view(&self, episode: &Episode) -> EpisodeView {
        let started_ms = self.unix_ms(episode.started);
        let ended = episode.phase == Phase::Ended;
        let duration_ms = u64::try_from(episode.duration.as_millis()).unwrap_or(u64::MAX);
        EpisodeView {
            rule: episode.rule.as_str().to_owned(),
            started_at_ms: started_ms,
            ended_at_ms: ended.then(|| started_ms.saturating_add(duration_ms)),
            duration_ms: ended.then_some(duration_ms),
            detail: Value::Object(values(&episode.detail)),
        }
    }
}

fn drain(health: &mut Health) -> Option<Vec<Episode>> {
    // Allocates only when something happened, which is rare.
    health
        .has_output()
        .then(|| std::iter::from_fn(|| health.poll_episode()).collect())
}

/// The `stream_anomaly` fields of an episode.
fn anomaly(episode: &Episode, state: AnomalyState, view: &EpisodeView) -> Anomaly {
    let (abnormal_type, count, desc) = match episode.detail {
        Detail::VideoGap { gap_ms } => (
            abnormal_type::VIDEO_GAP,
            1,
            format!("video frame arrive interval too long, interval={gap_ms}(msec)"),
        ),
        Detail::LowFps { fps, baseline_fps } => (
            abnormal_type::LOW_FPS,
            1,
            format!("video frame rate too low, fps={fps:.1}, recent fps={baseline_fps:.1}"),
        ),
        Detail::LongGop { gop_ms } => (
            abnormal_type::LONG_GOP,
            1,
            format!("gop size too large, gop={gop_ms}(msec)"),
        ),
        Detail::AvDrift { drift_ms } => (
            abnormal_type::AV_DRIFT,
            1,
            format!("audio and video timestamps drift apart, audio ahead by {drift_ms}(msec)"),
        ),
        Detail::BitrateDrop {
            kbps,
            baseline_kbps,
        } => (
            abnormal_type::BITRATE_DROP,
            1,
            format!("bitrate dropped, kbps={kbps:.1}, recent kbps={baseline_kbps:.1}"),
        ),
        Detail::TimestampBackwards {
            kind,
            from_ms,
            to_ms,
            count,
        } => (
            if kind == MediaKind::Video {
                abnormal_type::VIDEO_TS_BACKWARDS
            } else {
                abnormal_type::AUDIO_TS_BACKWARDS
            },
            count,
            format!(
                "{} timestamp rollback, from {from_ms} to {to_ms}(msec)",
                kind_name(kind)
            ),
        ),
    };
    let values = match &view.detail {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    Anomaly {
        rule: view.rule.clone(),
        state,
        abnormal_type,
        count,
        desc,
        started_ms: view.started_at_ms,
        duration_ms: view.duration_ms,
        values,
    }
}

/// A rule's values by name, rates rounded to 0.1.
fn values(detail: &Detail) -> Map<String, Value> {
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let value = match *detail {
        Detail::VideoGap { gap_ms } => json!({ "gap_ms": gap_ms }),
        Detail::LowFps { fps, baseline_fps } => {
            json!({ "fps": round(fps), "baseline_fps": round(baseline_fps) })
        }
        Detail::LongGop { gop_ms } => json!({ "gop_ms": gop_ms }),
        Detail::AvDrift { drift_ms } => json!({ "drift_ms": drift_ms }),
        Detail::BitrateDrop {
            kbps,
            baseline_kbps,
        } => json!({ "kbps": round(kbps), "baseline_kbps": round(baseline_kbps) }),
        Detail::TimestampBackwards {
            kind,
            from_ms,
            to_ms,
            count,
        } => json!({ "kind": kind_name(kind), "from_ms": from_ms, "to_ms": to_ms, "count": count }),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Script => "script",
    }
}

/// What a stream's entry keeps: the running publish's watch, and the episodes that ended.
#[derive(Default)]
pub(crate) struct StreamHealth {
    watch: Mutex<Option<Arc<Watch>>>,
    recent: Mutex<VecDeque<EpisodeView>>,
}

impl StreamHealth {
    /// The view for the stream's statistics.
    pub(crate) fn view(&self) -> HealthView {
        let watch = self.watch.lock().clone();
        let active = watch.map_or_else(Vec::new, |w| {
            let health = w.health.lock();
            health
                .active()
                .map(|(rule, open)| EpisodeView {
                    rule: rule.as_str().to_owned(),
                    started_at_ms: w.unix_ms(open.since),
                    ended_at_ms: None,
                    duration_ms: None,
                    detail: Value::Object(values(&open.worst)),
                })
                .collect()
        });
        HealthView {
            active,
            recent: self.recent.lock().iter().cloned().collect(),
        }
    }
}

/// A stream's anomalies, in its statistics (`health`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct HealthView {
    /// Episodes open now, one per rule at most, with the worst values so far.
    pub(crate) active: Vec<EpisodeView>,
    /// The last episodes that ended (`[health] recent_episodes`), oldest first, with the worst values seen.
    pub(crate) recent: Vec<EpisodeView>,
}

/// One anomaly episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EpisodeView {
    /// `video_gap`, `low_fps`, `long_gop`, `av_drift`, `bitrate_drop` or `timestamp_backwards`.
    pub(crate) rule: String,
    /// When it started, Unix ms.
    pub(crate) started_at_ms: u64,
    /// When it ended, Unix ms; null while open.
    pub(crate) ended_at_ms: Option<u64>,
    /// How long it lasted, ms; null while open.
    pub(crate) duration_ms: Option<u64>,
    /// The rule's values (as in the webhook's `anomaly_detail`).
    #[schema(value_type = Object)]
    pub(crate) detail: Value,
}

/// Ticks every live publish's watch every [`TICK`] until `shutdown`.
pub(crate) async fn run(streams: Arc<Streams>, shutdown: CancellationToken) {
    if !streams.health.enabled {
        return;
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        for (_, entry) in super::entry::all(&streams) {
            let watch = entry.health.watch.lock().clone();
            if let Some(watch) = watch {
                watch.tick(&streams, &entry, now);
            }
        }
    }
}
