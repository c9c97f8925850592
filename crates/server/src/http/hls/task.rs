//! The segmenter task of one stream: a hub subscriber feeding the HLS variants that are asked for.
//!
//! Each variant (classic MPEG-TS, LL-HLS fMP4) is muxed only once a playlist of that variant has been requested
//! (both at once with `hls.always`), so a stream watched over one variant costs one mux. A variant asked for
//! mid-stream starts from [`Replay`]: the frames since the last keyframe, which the task keeps (as the hub's
//! `Bytes`, nothing copied) with the time each arrived, so it does not wait for the next keyframe and its
//! program date times stay those of arrival.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use control::now_ms;
use hls::ll::{LlConfig, LlSegmenter, LlWindow};
use hls::{HlsError, Segmenter, SegmenterConfig};
use media::{MediaKind, StreamKey, Subscriber};
use tracing::{debug, info, warn};

use super::viewers::expire_viewers;
use super::Hls;
use super::{HlsStream, Window};
use crate::settings::HlsSettings;
use crate::stream::entry::StreamEntry;

/// Most frames [`Replay`] holds: a GOP longer than this (over 2.5 min at 25 fps with audio) replays from the
/// middle, and the new variant starts at the next keyframe.
const REPLAY_MAX_FRAMES: usize = 8192;

/// One frame as the task keeps it.
#[derive(Clone)]
struct Held {
    kind: MediaKind,
    timestamp: u32,
    payload: Bytes,
    /// Wall-clock milliseconds when the task received it.
    received_ms: u64,
}

/// The sequence headers in force and the frames since the last video keyframe (audio-only streams: the last
/// target duration): what a variant enabled now needs to start without waiting.
#[derive(Default)]
struct Replay {
    video_header: Option<Held>,
    audio_header: Option<Held>,
    frames: VecDeque<Held>,
}

impl Replay {
    fn push(&mut self, held: Held, sequence_header: bool, keyframe: bool, audio_window_ms: u64) {
        if sequence_header {
            match held.kind {
                MediaKind::Video => self.video_header = Some(held),
                MediaKind::Audio => self.audio_header = Some(held),
                MediaKind::Script => {}
            }
            return;
        }
        if held.kind == MediaKind::Video && keyframe {
            self.frames.clear();
        } else if self.video_header.is_none() {
            let oldest = held.received_ms.saturating_sub(audio_window_ms);
            while self.frames.front().is_some_and(|f| f.received_ms < oldest) {
                self.frames.pop_front();
            }
        }
        if self.frames.len() >= REPLAY_MAX_FRAMES {
            self.frames.pop_front();
        }
        self.frames.push_back(held);
    }

    /// A new publisher: its frames start afresh (its headers replace the old ones as they come).
    fn discontinuity(&mut self) {
        self.frames.clear();
    }

    fn iter(&self) -> impl Iterator<Item = &Held> {
        self.video_header
            .iter()
            .chain(self.audio_header.iter())
            .chain(self.frames.iter())
    }
}

/// The variants being muxed, and the errors they report.
struct Variants {
    settings: HlsSettings,
    classic: Option<Segmenter>,
    ll: Option<LlSegmenter>,
    errors: u64,
}

impl Variants {
    /// Starts the variants that have been asked for and are not running yet, from the replay. Returns which
    /// were started (classic, low-latency): they have taken the newest frame already.
    fn start_wanted(
        &mut self,
        key: &StreamKey,
        stream: &HlsStream,
        replay: &Replay,
    ) -> (bool, bool) {
        let mut started = (false, false);
        if self.classic.is_none() && stream.wants_classic.load(Ordering::Relaxed) {
            let mut segmenter = Segmenter::new(SegmenterConfig {
                target_duration_ms: self.settings.target_duration_ms,
                window: self.settings.window,
            });
            for h in replay.iter() {
                let r = segmenter.handle_frame(h.kind, h.timestamp, &h.payload, h.received_ms);
                self.report(key, r.err());
            }
            publish(stream, &segmenter, false);
            debug!(stream = %key, replayed = replay.frames.len(), "HLS: classic variant started");
            self.classic = Some(segmenter);
            started.0 = true;
        }
        if self.ll.is_none() && stream.wants_ll.load(Ordering::Relaxed) {
            let mut segmenter = LlSegmenter::new(LlConfig {
                target_duration_ms: self.settings.target_duration_ms,
                part_target_ms: self.settings.part_target_ms,
                window: self.settings.window,
            });
            for h in replay.iter() {
                let r = segmenter.handle_frame(h.kind, h.timestamp, &h.payload, h.received_ms);
                self.report(key, r.err());
            }
            publish_ll(stream, &segmenter, false);
            debug!(stream = %key, replayed = replay.frames.len(), "HLS: low-latency variant started");
            self.ll = Some(segmenter);
            started.1 = true;
        }
        started
    }

    /// Feeds a frame to the running variants, but those in `skip` (classic, low-latency).
    fn handle(&mut self, key: &StreamKey, stream: &HlsStream, h: &Held, skip: (bool, bool)) {
        if let Some(segmenter) = self.classic.as_mut().filter(|_| !skip.0) {
            match segmenter.handle_frame(h.kind, h.timestamp, &h.payload, h.received_ms) {
                Ok(true) => publish(stream, segmenter, false),
                Ok(false) => {}
                Err(e) => self.report(key, Some(e)),
            }
        }
        if let Some(segmenter) = self.ll.as_mut().filter(|_| !skip.1) {
            match segmenter.handle_frame(h.kind, h.timestamp, &h.payload, h.received_ms) {
                Ok(true) => publish_ll(stream, segmenter, false),
                Ok(false) => {}
                Err(e) => self.report(key, Some(e)),
            }
        }
    }

    fn discontinuity(&mut self, stream: &HlsStream, now: u64) {
        if let Some(segmenter) = self.classic.as_mut() {
            segmenter.discontinuity();
        }
        if let Some(segmenter) = self.ll.as_mut() {
            segmenter.discontinuity(now);
            publish_ll(stream, segmenter, false);
        }
    }

    fn finish(&mut self, stream: &HlsStream, now: u64) {
        if let Some(segmenter) = self.classic.as_mut() {
            segmenter.finish();
            publish(stream, segmenter, true);
        }
        if let Some(segmenter) = self.ll.as_mut() {
            segmenter.finish(now);
            publish_ll(stream, segmenter, true);
        }
        // Requests waiting on a variant that never started learn that nothing more will come.
        if self.classic.is_none() {
            stream.window.send_replace(Arc::new(Window {
                ended: true,
                ..Window::default()
            }));
        }
        if self.ll.is_none() {
            stream.ll.send_replace(Arc::new(LlWindow {
                ended: true,
                ..LlWindow::default()
            }));
        }
    }

    fn report(&mut self, key: &StreamKey, error: Option<HlsError>) {
        let Some(e) = error else {
            return;
        };
        self.errors += 1;
        // The first one says what is wrong; the rest would repeat it for every frame.
        if self.errors == 1 {
            warn!(stream = %key, "HLS: {e}");
        } else {
            debug!(stream = %key, errors = self.errors, "HLS: {e}");
        }
    }
}

/// The segmenter task of one stream.
// Long on purpose: the one loop of the task (frame, timer, shutdown), whose per-frame steps share the replay and
// discontinuity state; the muxing itself is in `Variants`.
pub(super) async fn run(
    hls: Arc<Hls>,
    key: StreamKey,
    entry: Arc<StreamEntry>,
    stream: Arc<HlsStream>,
    mut sub: Subscriber,
) {
    let settings = hls.settings.clone();
    let idle_ms =
        i64::try_from(settings.idle_timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let audio_window_ms = settings.target_duration_ms;
    let mut variants = Variants {
        settings: settings.clone(),
        classic: None,
        ll: None,
        errors: 0,
    };
    let mut replay = Replay::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // The hub sequence number of the last sequence header of each kind (video, audio): headers re-sent after a
    // skip keep their old number, new ones (a republish, a configuration change) have a higher one and start a
    // discontinuity. Per kind: the start snapshot sends the video header before the audio one whatever their
    // numbers, and a publisher may have sent its audio header first (a WHIP publish does).
    let mut header_seq: [Option<u64>; 2] = [None, None];
    let mut media_since_headers = false;
    let why = loop {
        let frame = tokio::select! {
            _ = hls.shutdown.cancelled() => break "shutdown",
            _ = tick.tick() => {
                expire_viewers(&hls, &key, &stream, false);
                let idle = now_ms() - stream.last_request_ms.load(Ordering::Relaxed);
                if !settings.always && idle > idle_ms {
                    break "idle";
                }
                continue;
            }
            frame = sub.recv() => match frame {
                Ok(f) => f,
                Err(_) => break "stream ended",
            },
        };
        let f = frame.frame();
        let kind = f.kind;
        if kind == MediaKind::Script {
            continue;
        }
        let now = u64::try_from(now_ms()).unwrap_or(0);
        if f.sequence_header {
            let last = &mut header_seq[usize::from(kind == MediaKind::Audio)];
            if last.is_some_and(|m| frame.seq() <= m) {
                continue;
            }
            *last = Some(frame.seq());
            if media_since_headers {
                info!(stream = %key, "HLS: new sequence headers, discontinuity");
                variants.discontinuity(&stream, now);
                replay.discontinuity();
                media_since_headers = false;
            }
        } else {
            media_since_headers = true;
        }
        let held = Held {
            kind,
            timestamp: f.timestamp,
            payload: f.payload.clone(),
            received_ms: now,
        };
        // Once every variant that can be asked for is running, nothing will replay: keep nothing.
        let all_running =
            variants.classic.is_some() && (variants.ll.is_some() || !settings.low_latency);
        if all_running {
            replay = Replay::default();
        } else {
            replay.push(held.clone(), f.sequence_header, f.keyframe, audio_window_ms);
        }
        // A variant started now replays this frame with the rest; the running ones take it here.
        let started = variants.start_wanted(&key, &stream, &replay);
        variants.handle(&key, &stream, &held, started);
    };
    variants.finish(&stream, u64::try_from(now_ms()).unwrap_or(0));
    {
        let mut slot = entry.hls.lock();
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &stream)) {
            *slot = None;
        }
    }
    expire_viewers(&hls, &key, &stream, true);
    info!(stream = %key, reason = why, "HLS segmenter stopped");
}

fn publish(stream: &HlsStream, segmenter: &Segmenter, ended: bool) {
    stream.window.send_replace(Arc::new(Window {
        segments: segmenter.segments().cloned().collect(),
        discontinuity_sequence: segmenter.discontinuity_sequence(),
        ended,
    }));
}

fn publish_ll(stream: &HlsStream, segmenter: &LlSegmenter, ended: bool) {
    stream
        .ll
        .send_replace(Arc::new(LlWindow::of(segmenter, ended)));
}
