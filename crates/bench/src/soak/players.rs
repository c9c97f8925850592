//! The soak's players: slots that each run one player after another (RTMP, HTTP-FLV, HLS or LL-HLS) until the
//! end, so the number of players stays constant while the churn makes some leave and rejoin. A session that the
//! server ends (a closed connection, StreamEOF, an error status, an HLS stream that stops answering) counts as
//! dropped by the server; the slot then starts a new session after a pause.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::connection::{close_gracefully, connect, ConnectionError, ReadOutcome, RtmpConnection};
use client::http_flv::{Event, HttpFlvReader};
use flv::{FrameClass, MediaKind};
use rtmp::{ClientEvent, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Notify};
use tokio::time::{sleep, sleep_until, Instant};

use super::publish::Target;
use crate::net::ReadOutcome as ReadOutcomeOf;
use crate::net::{read_now, with_buf, CLOSE_WAIT};

/// Largest FLV tag accepted.
const MAX_TAG: usize = 16 << 20;
/// Pause before a slot whose player was dropped or failed starts the next one.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Most distinct error texts kept per protocol.
const MAX_ERROR_KINDS: usize = 8;

/// A player's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    Rtmp,
    Flv,
    Hls,
    LlHls,
}

impl Kind {
    pub(super) const ALL: [Kind; 4] = [Kind::Rtmp, Kind::Flv, Kind::Hls, Kind::LlHls];

    /// The name the webhooks' `protocol` field uses.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Rtmp => "rtmp",
            Kind::Flv => "flv",
            Kind::Hls => "hls",
            Kind::LlHls => "ll-hls",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One player position: the churn asks the player in it to leave; a new one takes its place at once.
pub(super) struct Slot {
    pub kind: Kind,
    /// A session of this slot is playing (the churn picks among these).
    pub playing: AtomicBool,
    pub leave: Notify,
}

/// Counters of one protocol's players.
#[derive(Default)]
pub(super) struct KindStats {
    pub sessions: AtomicU64,
    /// Sessions the server accepted: RTMP `Playing`, FLV `200`, HLS the first `200` (a viewer, with play_start).
    pub played: AtomicU64,
    /// Sessions the churn ended.
    pub left: AtomicU64,
    /// Sessions ended by the end of the run.
    pub stopped: AtomicU64,
    /// Sessions the server ended while playing.
    pub dropped: AtomicU64,
    /// Sessions that never played (refused, timed out).
    pub not_playing: AtomicU64,
    /// Frames (RTMP, FLV), segments (HLS) or parts (LL-HLS) received.
    pub media: AtomicU64,
    pub bytes: AtomicU64,
    /// Timestamps (RTMP, FLV: per audio/video; HLS: first PTS / tfdt) that went backwards, discontinuities aside.
    pub ts_backwards: AtomicU64,
    /// Of those, on sequence headers (RTMP, FLV).
    pub ts_backwards_headers: AtomicU64,
    /// Largest step back, in ms.
    pub ts_max_back_ms: AtomicU64,
    /// Sessions that saw at least one backward timestamp.
    pub sessions_with_backwards: AtomicU64,
    /// HLS: times the playlist's media sequence went backwards.
    pub msn_backwards: AtomicU64,
    /// HLS: timestamps that went backwards across an `EXT-X-DISCONTINUITY` (allowed; reported).
    pub backwards_at_discontinuity: AtomicU64,
    /// HLS: discontinuities crossed.
    pub discontinuities: AtomicU64,
    /// HLS: segment or part fetches that failed (a listed URI answered 404, ...).
    pub fetch_errors: AtomicU64,
    /// LL-HLS: blocking reloads answered 503 (nothing new within three target durations).
    pub blocking_timeouts: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl KindStats {
    pub(super) fn error(&self, e: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        let n = errors.len();
        match errors.get_mut(&e) {
            Some(c) => *c += 1,
            None if n < MAX_ERROR_KINDS => {
                errors.insert(e, 1);
            }
            None => *errors.entry("(other errors)".into()).or_default() += 1,
        }
    }

    pub(super) fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn add(&self, c: &AtomicU64, n: u64) {
        let _ = self;
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one session's timestamp findings.
    pub(super) fn backwards(&self, n: u64, headers: u64, max_back_ms: u64) {
        if n > 0 {
            self.ts_backwards.fetch_add(n, Ordering::Relaxed);
            self.ts_backwards_headers
                .fetch_add(headers, Ordering::Relaxed);
            self.ts_max_back_ms
                .fetch_max(max_back_ms, Ordering::Relaxed);
            self.sessions_with_backwards.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Everything the players share.
pub(super) struct Ctx {
    pub rtmp: Target,
    pub flv_addr: SocketAddr,
    /// The HTTP-FLV GET, the same for every player.
    pub flv_request: String,
    pub hls_url: String,
    pub ll_url: String,
    pub http: reqwest::Client,
    pub stop: watch::Receiver<bool>,
    pub connect_timeout: Duration,
    pub stats: [KindStats; 4],
}

impl Ctx {
    pub(super) fn stats(&self, kind: Kind) -> &KindStats {
        &self.stats[kind.index()]
    }
}

/// How a session ended.
pub(super) enum Outcome {
    /// The churn asked it to leave.
    Left,
    /// The run ended.
    Stopped,
    /// The server ended it while playing.
    Dropped(String),
    /// It never played.
    Failed(String),
}

/// Resolves when the run's stop is set (or its sender is gone).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Runs the slot's players one after another until the stop.
pub(super) async fn run_slot(ctx: Arc<Ctx>, slot: Arc<Slot>, id: usize) {
    let mut generation = 0u64;
    let mut stop = ctx.stop.clone();
    while !*stop.borrow() {
        generation += 1;
        let stats = ctx.stats(slot.kind);
        stats.sessions.fetch_add(1, Ordering::Relaxed);
        let outcome = match slot.kind {
            Kind::Rtmp => rtmp_session(&ctx, &slot).await,
            Kind::Flv => flv_session(&ctx, &slot).await,
            Kind::Hls | Kind::LlHls => {
                // One User-Agent per session: the server tells HLS viewers apart by address and User-Agent, so
                // each session is a viewer of its own with its own play_start and play_stop.
                let ua = format!("mplive-soak/{}-{id}-{generation}", slot.kind.name());
                super::hls::session(&ctx, &slot, &ua).await
            }
        };
        slot.playing.store(false, Ordering::Relaxed);
        match outcome {
            Outcome::Left => stats.add(&stats.left, 1),
            Outcome::Stopped => {
                stats.add(&stats.stopped, 1);
                return;
            }
            Outcome::Dropped(e) => {
                stats.add(&stats.dropped, 1);
                stats.error(format!("dropped: {e}"));
                pause(&mut stop).await;
            }
            Outcome::Failed(e) => {
                stats.add(&stats.not_playing, 1);
                stats.error(format!("not playing: {e}"));
                pause(&mut stop).await;
            }
        }
    }
}

async fn pause(stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = sleep(RETRY_PAUSE) => {}
        _ = stopped(stop) => {}
    }
}

/// Timestamps of one RTMP or FLV session, per media kind.
#[derive(Default)]
struct TsCheck {
    last: [Option<u32>; 2],
    backwards: u64,
    headers: u64,
    max_back: u64,
}

impl TsCheck {
    fn frame(&mut self, kind: MediaKind, ts: u32, payload: &[u8]) {
        let i = match kind {
            MediaKind::Video => 0,
            MediaKind::Audio => 1,
            MediaKind::Script => return,
        };
        if let Some(last) = self.last[i] {
            if ts < last {
                self.backwards += 1;
                self.max_back = self.max_back.max(u64::from(last - ts));
                if is_sequence_header(kind, payload) {
                    self.headers += 1;
                }
            }
        }
        self.last[i] = Some(self.last[i].map_or(ts, |l| l.max(ts)));
    }

    fn finish(&self, stats: &KindStats) {
        stats.backwards(self.backwards, self.headers, self.max_back);
    }
}

/// A sequence header: what the parsers say, or (for headers they refuse) the AVC / AAC packet type 0.
fn is_sequence_header(kind: MediaKind, payload: &[u8]) -> bool {
    if FrameClass::of(kind, payload).is_sequence_header() {
        return true;
    }
    match (kind, payload) {
        (MediaKind::Video, [first, 0, ..]) => first & 0x0f == 7,
        (MediaKind::Audio, [first, 0, ..]) => first >> 4 == 10,
        _ => false,
    }
}

async fn rtmp_session(ctx: &Ctx, slot: &Slot) -> Outcome {
    let mut stop = ctx.stop.clone();
    let stats = ctx.stats(Kind::Rtmp);
    let connect_deadline = Instant::now() + ctx.connect_timeout;
    let stream = match connect(ctx.rtmp.addr, connect_deadline).await {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let t = &ctx.rtmp;
    let mut conn = RtmpConnection::start(
        stream,
        &t.app,
        &t.tc_url,
        SessionConfig::default(),
        std::time::Instant::now(),
    );
    let mut ts = TsCheck::default();
    let mut playing = false;
    let end = |playing: bool, e: String| {
        if playing {
            Outcome::Dropped(e)
        } else {
            Outcome::Failed(e)
        }
    };
    let outcome = loop {
        if let Err(e) = conn.flush().await {
            break end(playing, e.to_string());
        }
        let deadline = if playing {
            None
        } else {
            Some(connect_deadline)
        };
        let timer = conn
            .session()
            .poll_timeout()
            .map(Instant::from_std)
            .into_iter()
            .chain(deadline)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            ready = conn.readable() => {
                if let Err(e) = ready {
                    break end(playing, e.to_string());
                }
                let read = with_buf(|buf| match conn.try_read(buf) {
                    Ok(ReadOutcome::Data(n)) => {
                        stats.add(&stats.bytes, n as u64);
                        conn.handle_input(&buf[..n], std::time::Instant::now()).map_err(|e| e.to_string())
                    }
                    Ok(ReadOutcome::Closed) => Err("the server closed the connection".to_string()),
                    Ok(ReadOutcome::WouldBlock) => Ok(()),
                    Err(e) => Err(e.to_string()),
                });
                if let Err(e) = read {
                    break end(playing, e);
                }
                let mut failed = None;
                while let Some(event) = conn.session().poll_output() {
                    match event {
                        ClientEvent::Connected => conn.session().play(&t.stream),
                        ClientEvent::Playing { .. } => {
                            if !playing {
                                playing = true;
                                stats.add(&stats.played, 1);
                                slot.playing.store(true, Ordering::Relaxed);
                            }
                        }
                        ClientEvent::Media { kind, timestamp, payload } => {
                            if kind != MediaKind::Script {
                                stats.add(&stats.media, 1);
                            }
                            ts.frame(kind, timestamp, &payload);
                        }
                        ClientEvent::StreamEof => failed = Some("StreamEOF".to_string()),
                        other => {
                            if let Some(e) = ConnectionError::from_event(other, "play") {
                                failed = Some(e.to_string());
                            }
                        }
                    }
                }
                if let Some(e) = failed {
                    break end(playing, e);
                }
            }
            _ = slot.leave.notified(), if playing => {
                conn.close(CLOSE_WAIT).await;
                ts.finish(stats);
                return Outcome::Left;
            }
            _ = stopped(&mut stop) => {
                conn.close(CLOSE_WAIT).await;
                ts.finish(stats);
                return Outcome::Stopped;
            }
            _ = sleep_until(timer) => {
                let now = Instant::now();
                if !playing && now >= connect_deadline {
                    break Outcome::Failed("not playing before the connect timeout".into());
                }
                if let Err(e) = conn.session().handle_timeout(now.into_std()) {
                    break end(playing, format!("rtmp: {e}"));
                }
            }
        }
    };
    ts.finish(stats);
    conn.abandon(CLOSE_WAIT).await;
    outcome
}

async fn flv_session(ctx: &Ctx, slot: &Slot) -> Outcome {
    let mut stop = ctx.stop.clone();
    let stats = ctx.stats(Kind::Flv);
    let connect_deadline = Instant::now() + ctx.connect_timeout;
    let mut stream = match connect(ctx.flv_addr, connect_deadline).await {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if let Err(e) = stream.write_all(ctx.flv_request.as_bytes()).await {
        return Outcome::Failed(format!("write: {e}"));
    }
    let mut reader = HttpFlvReader::new(MAX_TAG);
    let mut ts = TsCheck::default();
    let mut playing = false;
    let end = |playing: bool, e: String| {
        if playing {
            Outcome::Dropped(e)
        } else {
            Outcome::Failed(e)
        }
    };
    let outcome = loop {
        let deadline = if playing {
            Instant::now() + Duration::from_secs(3600)
        } else {
            connect_deadline
        };
        tokio::select! {
            ready = stream.readable() => {
                if let Err(e) = ready {
                    break end(playing, format!("read: {e}"));
                }
                let read = read_now(&stream, |data| {
                    stats.add(&stats.bytes, data.len() as u64);
                    reader.handle_input(data).map_err(|e| e.to_string())?;
                    let mut events = Vec::new();
                    while let Some(event) = reader.poll_output() {
                        events.push(event);
                    }
                    Ok::<_, String>(events)
                });
                let events = match read {
                    Ok(ReadOutcomeOf::Data(Ok(events))) => events,
                    Ok(ReadOutcomeOf::Data(Err(e))) => break end(playing, e),
                    Ok(ReadOutcomeOf::Closed) => break end(playing, "the server closed the connection".into()),
                    Ok(ReadOutcomeOf::WouldBlock) => continue,
                    Err(e) => break end(playing, format!("read: {e}")),
                };
                let mut failed = None;
                for event in events {
                    match event {
                        Event::Playing(_) => {
                            playing = true;
                            stats.add(&stats.played, 1);
                            slot.playing.store(true, Ordering::Relaxed);
                        }
                        Event::Tag(tag) => {
                            if tag.tag_type != MediaKind::Script {
                                stats.add(&stats.media, 1);
                            }
                            ts.frame(tag.tag_type, tag.timestamp, &tag.body);
                        }
                        Event::Refused { head, .. } => failed = Some(head.status_line),
                        Event::Ended => failed = Some("the server ended the response".into()),
                        _ => {}
                    }
                }
                if let Some(e) = failed {
                    break end(playing, e);
                }
            }
            _ = slot.leave.notified(), if playing => {
                close_gracefully(stream, None, CLOSE_WAIT).await;
                ts.finish(stats);
                return Outcome::Left;
            }
            _ = stopped(&mut stop) => {
                close_gracefully(stream, None, CLOSE_WAIT).await;
                ts.finish(stats);
                return Outcome::Stopped;
            }
            _ = sleep_until(deadline) => {
                if !playing {
                    break Outcome::Failed("not playing before the connect timeout".into());
                }
            }
        }
    };
    ts.finish(stats);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_per_kind() {
        let mut ts = TsCheck::default();
        ts.frame(MediaKind::Video, 100, &[0x27, 1]);
        ts.frame(MediaKind::Audio, 90, &[0xaf, 1]);
        ts.frame(MediaKind::Video, 140, &[0x27, 1]);
        ts.frame(MediaKind::Audio, 130, &[0xaf, 1]);
        assert_eq!(ts.backwards, 0);
        // A sequence header sent again with timestamp 0 after a republish counts, and is told apart.
        ts.frame(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f]);
        ts.frame(MediaKind::Video, 120, &[0x27, 1]);
        ts.frame(MediaKind::Script, 0, &[]);
        assert_eq!((ts.backwards, ts.headers, ts.max_back), (2, 1, 140));
    }
}
