//! Per-player bookkeeping: what a received frame means for the connect, keyframe and latency figures.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flv::{FrameClass, MediaKind};

use super::PlayerShared;
use crate::sendtable::{content_key, SendTable};

/// Latency samples buffered per player before they are added to the shared histogram under its lock.
const LATENCY_BATCH: usize = 128;
/// Frames whose send time is not known yet, kept for a retry (in worker processes the send-time table arrives
/// over a pipe and may trail the frame by a little).
const MAX_PENDING: usize = 64;
/// A pending frame still unknown after this long is counted as unmatched.
const PENDING_FOR_NS: u64 = 2_000_000_000;
/// The start burst (GOP cache) is what arrives within this long of the first keyframe.
const START_SPAN_NS: u64 = 100_000_000;

pub(crate) struct Tracker {
    table: Option<Arc<SendTable>>,
    /// CLOCK_MONOTONIC ns of the play request; 0 before it.
    play_request_ns: u64,
    /// Frames sent before this are the start burst, not latency samples: the play request, or for WHEP the
    /// connection (frames published between the offer and ICE + DTLS wait in the server for it).
    live_from_ns: u64,
    playing: bool,
    keyframe_seen: bool,
    /// Timestamp and arrival of the first keyframe, and how far the timestamps of the video that arrived within
    /// [`START_SPAN_NS`] of it ran ahead of the time that passed: what arrived at once (the GOP-cache burst) is
    /// how far behind the live edge a player that paces by timestamps starts.
    start: Option<(u32, u64, u64)>,
    start_recorded: bool,
    latencies_us: Vec<u64>,
    pending: Vec<(u64, u64)>,
    bytes: u64,
    frames: u64,
    burst: u64,
    unmatched: u64,
    /// Arrival of the last video frame since the first keyframe, and the longest wait between two.
    last_video_ns: Option<u64>,
    max_video_gap_ns: u64,
}

impl Tracker {
    pub(super) fn new(table: Option<Arc<SendTable>>) -> Self {
        Self {
            table,
            play_request_ns: 0,
            live_from_ns: 0,
            playing: false,
            keyframe_seen: false,
            start: None,
            start_recorded: false,
            latencies_us: Vec::new(),
            pending: Vec::new(),
            bytes: 0,
            frames: 0,
            burst: 0,
            unmatched: 0,
            last_video_ns: None,
            max_video_gap_ns: 0,
        }
    }

    pub(super) fn play_requested(&mut self, ns: u64) {
        self.play_request_ns = ns;
        self.live_from_ns = ns;
    }

    /// Frames sent before `ns` count as the start burst (see `live_from_ns`).
    pub(super) fn live_from(&mut self, ns: u64) {
        self.live_from_ns = ns;
    }

    /// Received frames are matched against send times (the bench publishes): worth computing their keys.
    pub(super) fn matches(&self) -> bool {
        self.table.is_some()
    }

    pub(super) fn is_playing(&self) -> bool {
        self.playing
    }

    /// The server accepted the play (RTMP `Playing`, HTTP 200); `connect_ns` since the TCP connect started.
    pub(super) fn now_playing(&mut self, connect_ns: u64, shared: &PlayerShared) {
        if self.playing {
            return;
        }
        self.playing = true;
        shared.playing.fetch_add(1, Ordering::Relaxed);
        shared.ever_playing.fetch_add(1, Ordering::Relaxed);
        shared.with_hists(|h| h.connect.record_us(connect_ns / 1000));
    }

    pub(super) fn received(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }

    /// An FLV audio or video frame (RTMP, HTTP-FLV) arrived at `recv_ns`.
    pub(super) fn frame(
        &mut self,
        video: bool,
        timestamp: u32,
        payload: &[u8],
        recv_ns: u64,
        shared: &PlayerShared,
    ) {
        let kind = if video {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        let class = FrameClass::of(kind, payload);
        // Sequence headers are sent again to every player: not a frame with a send time.
        let key =
            (self.table.is_some() && !class.is_sequence_header()).then(|| content_key(payload));
        self.media(video, timestamp, class.is_keyframe(), key, recv_ns, shared);
    }

    /// A frame arrived at `recv_ns`: `timestamp` in ms, `key` its content key (`None`: not matched, as sequence
    /// headers and a WHEP player's audio).
    pub(super) fn media(
        &mut self,
        video: bool,
        timestamp: u32,
        keyframe: bool,
        key: Option<u64>,
        recv_ns: u64,
        shared: &PlayerShared,
    ) {
        self.frames += 1;
        if video {
            self.track_start(timestamp, recv_ns, shared);
        }
        if !self.keyframe_seen && keyframe {
            self.keyframe_seen = true;
            self.start = Some((timestamp, recv_ns, 0));
            let us = recv_ns.saturating_sub(self.play_request_ns) / 1000;
            shared.with_hists(|h| h.keyframe.record_us(us));
        }
        if video && self.keyframe_seen {
            if let Some(last) = self.last_video_ns {
                self.max_video_gap_ns = self.max_video_gap_ns.max(recv_ns.saturating_sub(last));
            }
            self.last_video_ns = Some(recv_ns);
        }
        let (Some(key), Some(table)) = (key, &self.table) else {
            return;
        };
        match table.lookup(key) {
            Some(sent) => self.matched(sent, recv_ns, shared),
            None => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.remove(0);
                    self.unmatched += 1;
                }
                self.pending.push((key, recv_ns));
            }
        }
    }

    /// Widens the start span with video that arrives shortly after the first keyframe; records it once after.
    fn track_start(&mut self, timestamp: u32, recv_ns: u64, shared: &PlayerShared) {
        let Some((first_ts, first_ns, ahead_ms)) = self.start.as_mut() else {
            return;
        };
        if self.start_recorded {
            return;
        }
        let elapsed_ns = recv_ns.saturating_sub(*first_ns);
        if elapsed_ns <= START_SPAN_NS {
            let span_ms = u64::from(timestamp.saturating_sub(*first_ts));
            *ahead_ms = (*ahead_ms).max(span_ms.saturating_sub(elapsed_ns / 1_000_000));
        } else {
            self.start_recorded = true;
            let ahead_us = *ahead_ms * 1000;
            shared.with_hists(|h| h.start_offset.record_us(ahead_us));
        }
    }

    fn matched(&mut self, sent_ns: u64, recv_ns: u64, shared: &PlayerShared) {
        if sent_ns < self.live_from_ns {
            self.burst += 1;
            return;
        }
        self.latencies_us
            .push(recv_ns.saturating_sub(sent_ns) / 1000);
        if self.latencies_us.len() >= LATENCY_BATCH {
            self.flush_latencies(shared);
        }
    }

    fn flush_latencies(&mut self, shared: &PlayerShared) {
        if self.latencies_us.is_empty() {
            return;
        }
        shared.with_hists(|h| {
            for &us in &self.latencies_us {
                h.latency.record_us(us);
            }
        });
        self.latencies_us.clear();
    }

    /// After each read: retry pending lookups and publish the counters.
    pub(super) fn end_of_read(&mut self, now_ns: u64, shared: &PlayerShared) {
        if !self.pending.is_empty() {
            self.retry_pending(Some(now_ns), shared);
        }
        if self.bytes > 0 {
            shared.bytes.fetch_add(self.bytes, Ordering::Relaxed);
            self.bytes = 0;
        }
        if self.frames > 0 {
            shared.frames.fetch_add(self.frames, Ordering::Relaxed);
            self.frames = 0;
        }
    }

    /// `now_ns` None: last chance, whatever is still unknown is unmatched.
    fn retry_pending(&mut self, now_ns: Option<u64>, shared: &PlayerShared) {
        let Some(table) = self.table.clone() else {
            return;
        };
        let pending = std::mem::take(&mut self.pending);
        for (key, recv_ns) in pending {
            match table.lookup(key) {
                Some(sent) => self.matched(sent, recv_ns, shared),
                None => match now_ns {
                    Some(now) if now.saturating_sub(recv_ns) < PENDING_FOR_NS => {
                        self.pending.push((key, recv_ns))
                    }
                    _ => self.unmatched += 1,
                },
            }
        }
    }

    /// The player stopped: flush everything into the shared totals.
    pub(super) fn finish(&mut self, shared: &PlayerShared) {
        self.retry_pending(None, shared);
        self.end_of_read(0, shared);
        self.flush_latencies(shared);
        shared.burst_frames.fetch_add(self.burst, Ordering::Relaxed);
        shared
            .unmatched_frames
            .fetch_add(self.unmatched, Ordering::Relaxed);
        if self.max_video_gap_ns > 0 {
            let us = self.max_video_gap_ns / 1000;
            shared.with_hists(|h| h.video_gap.record_us(us));
        }
        if self.playing {
            self.playing = false;
            shared.playing.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
