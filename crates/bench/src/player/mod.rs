//! The players: one tokio task each, RTMP, HTTP-FLV or WHEP, counting what they receive into shared totals.

mod play_flv;
mod play_rtmp;
mod play_whep;
mod track;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout_at, Instant};

use client::whep::WhepSetup;

use super::sendtable::SendTable;
use super::stats::{Hist, HistData};
pub(super) use track::Tracker;

/// Players keep reading this long after the end of the measurement window, so the server is measured with
/// every player still attached.
pub(super) const STOP_GRACE: Duration = Duration::from_millis(300);
/// Most distinct error texts kept (the rest are counted under the last key).
const MAX_ERROR_KINDS: usize = 8;

/// Where players connect and what they ask for.
#[derive(Debug, Clone)]
pub(super) enum Target {
    Rtmp {
        addr: SocketAddr,
        app: String,
        tc_url: String,
        name: String,
    },
    Flv {
        addr: SocketAddr,
        /// The URL, for the report.
        url: String,
        /// The GET request, the same for every player.
        request: String,
    },
    Whep {
        /// The WHEP endpoint the offers are `POST`ed to.
        url: String,
        /// One HTTP client (connection pool) for every player of the process.
        http: reqwest::Client,
        /// One DTLS certificate for every player of the process.
        setup: WhepSetup,
    },
}

/// What one process's players do.
pub(super) struct PlayerPlan {
    pub target: Target,
    /// Send times to match received frames against; `None` when nothing is published by the bench.
    pub table: Option<Arc<SendTable>>,
    pub connect_timeout: Duration,
    /// Player `i` of `total` starts at `start + ramp * i / total`.
    pub ramp: Duration,
    pub total: u32,
    /// Global index of this process's first player, and how many it runs.
    pub first: u32,
    pub count: u32,
    pub start: Instant,
    /// End of the measurement window.
    pub end: Instant,
}

/// Totals of all players of a process, updated as they run.
#[derive(Default)]
pub(super) struct PlayerShared {
    pub playing: AtomicU64,
    pub ever_playing: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: AtomicU64,
    pub frames: AtomicU64,
    pub burst_frames: AtomicU64,
    pub unmatched_frames: AtomicU64,
    errors: Mutex<Errors>,
    hists: Mutex<Hists>,
    at_end: Mutex<Option<(u64, u64, u64)>>,
}

#[derive(Default)]
struct Errors {
    first: Option<String>,
    kinds: BTreeMap<String, u64>,
}

#[derive(Default)]
pub(super) struct Hists {
    pub connect: Hist,
    pub keyframe: Hist,
    pub latency: Hist,
    pub start_offset: Hist,
    /// Per player: the longest wait between two video frames after the first keyframe.
    pub video_gap: Hist,
}

impl PlayerShared {
    pub(super) fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.first.is_none() {
            errors.first = Some(error.clone());
        }
        let n = errors.kinds.len();
        match errors.kinds.get_mut(&error) {
            Some(c) => *c += 1,
            None if n < MAX_ERROR_KINDS => {
                errors.kinds.insert(error, 1);
            }
            None => *errors.kinds.entry("(other errors)".into()).or_default() += 1,
        }
    }

    pub(super) fn with_hists<R>(&self, f: impl FnOnce(&mut Hists) -> R) -> R {
        f(&mut self.hists.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes the window totals (bytes, frames, players playing) at the end of the measurement window.
    pub(super) fn mark_end(&self) {
        let snapshot = (
            self.bytes.load(Ordering::Relaxed),
            self.frames.load(Ordering::Relaxed),
            self.playing.load(Ordering::Relaxed),
        );
        *self.at_end.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot);
    }

    pub(super) fn result(&self, requested: u32) -> PlayersResult {
        let (bytes, frames, playing) = self
            .at_end
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or((
                self.bytes.load(Ordering::Relaxed),
                self.frames.load(Ordering::Relaxed),
                self.playing.load(Ordering::Relaxed),
            ));
        let errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        let hists = self.hists.lock().unwrap_or_else(|e| e.into_inner());
        PlayersResult {
            requested: u64::from(requested),
            playing_at_end: playing,
            ever_playing: self.ever_playing.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            first_error: errors.first.clone(),
            errors: errors.kinds.clone(),
            window_bytes: bytes,
            window_frames: frames,
            total_bytes: self.bytes.load(Ordering::Relaxed),
            total_frames: self.frames.load(Ordering::Relaxed),
            burst_frames: self.burst_frames.load(Ordering::Relaxed),
            unmatched_frames: self.unmatched_frames.load(Ordering::Relaxed),
            connect: hists.connect.to_data(),
            keyframe: hists.keyframe.to_data(),
            latency: hists.latency.to_data(),
            start_offset: hists.start_offset.to_data(),
            video_gap: hists.video_gap.to_data(),
        }
    }
}

/// What the players of one process (or of all, merged) saw. Sent by worker processes as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct PlayersResult {
    pub requested: u64,
    pub playing_at_end: u64,
    pub ever_playing: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub errors: BTreeMap<String, u64>,
    /// Received during the measurement window.
    pub window_bytes: u64,
    pub window_frames: u64,
    /// Received until the players stopped.
    pub total_bytes: u64,
    pub total_frames: u64,
    /// Frames the publisher sent before the player asked to play (the GOP-cache burst): no latency for those.
    pub burst_frames: u64,
    /// Frames whose content matched no recently sent frame (sequence headers are not counted).
    pub unmatched_frames: u64,
    pub connect: HistData,
    pub keyframe: HistData,
    pub latency: HistData,
    /// Timestamp span of the video that arrived within 100 ms of the first keyframe.
    #[serde(default)]
    pub start_offset: HistData,
    /// Per player, the longest wait between two video frames after the first keyframe.
    #[serde(default)]
    pub video_gap: HistData,
}

impl PlayersResult {
    pub(super) fn merge(&mut self, other: PlayersResult) {
        self.requested += other.requested;
        self.playing_at_end += other.playing_at_end;
        self.ever_playing += other.ever_playing;
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.window_bytes += other.window_bytes;
        self.window_frames += other.window_frames;
        self.total_bytes += other.total_bytes;
        self.total_frames += other.total_frames;
        self.burst_frames += other.burst_frames;
        self.unmatched_frames += other.unmatched_frames;
        for (mine, theirs) in [
            (&mut self.connect, other.connect),
            (&mut self.keyframe, other.keyframe),
            (&mut self.latency, other.latency),
            (&mut self.start_offset, other.start_offset),
            (&mut self.video_gap, other.video_gap),
        ] {
            let mut h = Hist::default();
            h.merge(mine);
            h.merge(&theirs);
            *mine = h.to_data();
        }
    }
}

/// Runs this process's players until `end` (+ [`STOP_GRACE`]).
pub(super) async fn run_players(plan: Arc<PlayerPlan>, shared: Arc<PlayerShared>) {
    let mut set = JoinSet::new();
    for i in 0..plan.count {
        let global = u64::from(plan.first + i);
        let offset = plan
            .ramp
            .mul_f64(global as f64 / f64::from(plan.total.max(1)));
        let start = plan.start + offset;
        let (plan, shared) = (plan.clone(), shared.clone());
        set.spawn(async move {
            sleep_until(start).await;
            let mut tracker = Tracker::new(plan.table.clone());
            let stop = plan.end + STOP_GRACE;
            let connect_deadline = (start + plan.connect_timeout).min(stop);
            let result = match &plan.target {
                Target::Rtmp {
                    addr,
                    app,
                    tc_url,
                    name,
                } => {
                    play_rtmp::run(
                        *addr,
                        app,
                        tc_url,
                        name,
                        connect_deadline,
                        stop,
                        &mut tracker,
                        &shared,
                    )
                    .await
                }
                Target::Flv { addr, request, .. } => {
                    play_flv::run(
                        *addr,
                        request,
                        connect_deadline,
                        stop,
                        &mut tracker,
                        &shared,
                    )
                    .await
                }
                Target::Whep { url, http, setup } => {
                    let endpoint = play_whep::Endpoint { url, http, setup };
                    play_whep::run(&endpoint, connect_deadline, stop, &mut tracker, &shared).await
                }
            };
            tracker.finish(&shared);
            if let Err(e) = result {
                shared.fail(e);
            }
        });
    }
    let marker = {
        let (end, shared) = (plan.end, shared.clone());
        tokio::spawn(async move {
            sleep_until(end).await;
            shared.mark_end();
        })
    };
    // Every player returns by `end + STOP_GRACE`; the margin covers a slow final write.
    let drained = timeout_at(plan.end + STOP_GRACE + Duration::from_secs(5), async {
        while set.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        set.abort_all();
    }
    let _ = marker.await;
}

/// The error of a player that was not playing when it had to stop.
pub(super) fn not_playing(connect_deadline: Instant, stop: Instant) -> String {
    if connect_deadline < stop {
        "not playing before the connect timeout".to_string()
    } else {
        "the run ended before the player was playing".to_string()
    }
}
