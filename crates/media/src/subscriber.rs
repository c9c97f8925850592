//! The reading side of a stream: a cursor into the stream's ring, the start snapshot, and the lag rule.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::error::SubscriberEnd;
use crate::frame::{kind_index, MediaFrame, MediaKind};
use crate::gop::GopCache;
use crate::key::StreamKey;
use crate::registry::Inner;
use crate::ring::Ring;
use crate::stream::{Protocol, Stream};

/// Where a new subscriber starts, after the metadata and sequence headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum StartPolicy {
    /// The cached GOP with its original timestamps, then live: a picture at once, one GOP behind.
    #[default]
    Gop,
    /// The cached video pictures with timestamps rewritten to end at the live edge (cached audio skipped),
    /// then live: for low-latency players (`?mode=rtc`) that pace by timestamps.
    FastGop,
    /// Live frames from the next keyframe (audio passes before it).
    NextKeyframe,
}

/// How to subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Where to start.
    pub start: StartPolicy,
    /// `"rtmp"`, `"flv"`, `"relay"` (not a viewer), `"internal"` (a reader inside the server, not counted) or
    /// anything else (counted as `other`) in the stream's player statistics.
    pub protocol: &'static str,
}

impl SubscribeOptions {
    /// Options for `protocol`, starting with the cached GOP.
    pub fn new(protocol: &'static str) -> SubscribeOptions {
        SubscribeOptions {
            start: StartPolicy::Gop,
            protocol,
        }
    }
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions::new("other")
    }
}

/// A reader of one stream. Dropping it unsubscribes.
///
/// It receives every frame in order, except when its backlog passes the lag bounds (or falls out of the ring):
/// then it skips to the next keyframe within the bounds, counting the skipped frames in
/// [`dropped_frames`](Subscriber::dropped_frames).
#[derive(Debug)]
pub struct Subscriber {
    stream: Arc<Stream>,
    registry: Weak<Inner>,
    protocol: Protocol,
    reader: Reader,
}

impl Subscriber {
    pub(crate) fn new(
        stream: Arc<Stream>,
        registry: Weak<Inner>,
        protocol: Protocol,
        reader: Reader,
    ) -> Subscriber {
        Subscriber {
            stream,
            registry,
            protocol,
            reader,
        }
    }

    /// The next frame, waiting for one if needed. `Err(Ended)` once the stream ended and everything buffered
    /// was delivered.
    ///
    /// Cancel-safe: dropping the future before it completes loses no frame.
    pub async fn recv(&mut self) -> Result<Arc<MediaFrame>, SubscriberEnd> {
        loop {
            if let Some(frame) = self.reader.next(&self.stream)? {
                return Ok(frame);
            }
            let mut notified = std::pin::pin!(self.stream.notify.notified());
            // Registered before looking again, so a push between the look and the await still wakes us.
            notified.as_mut().enable();
            if let Some(frame) = self.reader.next(&self.stream)? {
                return Ok(frame);
            }
            notified.await;
        }
    }

    /// The next frame if one is ready (`Ok(None)` if not), for draining several frames into one write.
    pub fn try_recv(&mut self) -> Result<Option<Arc<MediaFrame>>, SubscriberEnd> {
        self.reader.next(&self.stream)
    }

    /// The next ring frames of a subscriber that is plainly caught up, as a [`Window`] that every subscriber of
    /// the stream at the same place can take without reading the ring itself (a writer of many players builds it
    /// once per write instead of once per player). At most `max` frames.
    ///
    /// `None` when this subscriber has nothing to share: it has frames of its own to deliver first (its start
    /// snapshot, headers re-sent after a skip), it waits for a keyframe, it is at or past the live edge, its next
    /// frame is behind the lag bounds or gone from the ring (the skip rule must run), or the stream ended (the
    /// end must be seen through [`try_recv`](Subscriber::try_recv)).
    pub fn window(&self, max: usize) -> Option<Window> {
        if !self.reader.is_plain() {
            return None;
        }
        let ring = self.stream.ring.read();
        let from = self.reader.cursor;
        let first = ring.get(from)?;
        if ring.closed || ring.is_lagging(first, self.stream.lag) {
            return None;
        }
        let to = ring.next_seq().min(from.saturating_add(max as u64));
        let frames = (from..to)
            .filter_map(|seq| ring.get(seq).cloned())
            .collect();
        Some(Window {
            stream: Arc::clone(&self.stream),
            from,
            to,
            frames,
        })
    }

    /// Takes `window` as delivered by the caller: when this subscriber is plainly caught up at the window's start,
    /// its cursor moves past it and `true` is returned; otherwise nothing changes and the caller delivers through
    /// [`try_recv`](Subscriber::try_recv).
    pub fn take_window(&mut self, window: &Window) -> bool {
        if !Arc::ptr_eq(&window.stream, &self.stream)
            || !self.reader.is_plain()
            || self.reader.cursor != window.from
        {
            return false;
        }
        for frame in &window.frames {
            self.reader.note_delivered(frame);
        }
        self.reader.cursor = window.to;
        true
    }

    /// Adds bytes written to this subscriber's connection to the stream's `bytes_out`.
    pub fn record_sent(&self, bytes: u64) {
        self.stream.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Whether the stream has ended (its publisher gone past the grace): the frames still ahead of this
    /// subscriber can be read, then [`try_recv`](Subscriber::try_recv) reports the end.
    pub fn is_closed(&self) -> bool {
        self.stream.ring.read().closed
    }

    /// Frames this subscriber skipped because it lagged.
    pub fn dropped_frames(&self) -> u64 {
        self.reader.dropped
    }

    /// Its protocol as counted in the stream's statistics: `rtmp`, `flv`, `relay` or `other` (or `internal`,
    /// not counted).
    pub fn protocol(&self) -> &'static str {
        match self.protocol {
            Protocol::Rtmp => "rtmp",
            Protocol::Flv => "flv",
            Protocol::Relay => "relay",
            Protocol::Other => "other",
            Protocol::Internal => "internal",
        }
    }

    /// The stream it reads.
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    /// What the hub's user keeps with this stream, created by `init` on first use (see
    /// [`Registry::attachment`](crate::Registry::attachment)); without a lookup in the hub's map. `None` only
    /// when a value of another type was attached first.
    pub fn attachment<T: std::any::Any + Send + Sync>(
        &self,
        init: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        self.stream.attachment.get_or_init(init)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        match self.registry.upgrade() {
            Some(registry) => registry.detach_subscriber(&self.stream, self.protocol),
            None => self.stream.state.lock().remove_player(self.protocol),
        }
    }
}

/// Consecutive ring frames of one stream, read once for every subscriber caught up at the same place (see
/// [`Subscriber::window`]).
#[derive(Debug)]
pub struct Window {
    /// The stream it was read from (held so that its address cannot be reused while the window lives).
    stream: Arc<Stream>,
    from: u64,
    to: u64,
    frames: Vec<Arc<MediaFrame>>,
}

impl Window {
    /// The frames, oldest first.
    pub fn frames(&self) -> &[Arc<MediaFrame>] {
        &self.frames
    }

    /// Sequence number of its first frame.
    pub fn from(&self) -> u64 {
        self.from
    }
}

/// What the reader is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Delivering every frame.
    Live,
    /// Just subscribed without a GOP: video waits for a keyframe, audio and script pass.
    AwaitStart,
    /// Lagged: everything is skipped (and counted) until a keyframe.
    AwaitResume,
}

/// Most frequent drop warning per subscriber.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// A subscriber's position and pending frames.
#[derive(Debug)]
pub(crate) struct Reader {
    /// Frames to deliver before the ring: the start snapshot, or headers re-sent after a skip.
    pending: VecDeque<Arc<MediaFrame>>,
    /// Sequence number of the next ring frame to read.
    cursor: u64,
    mode: Mode,
    /// Sequence number of the last header of each kind delivered.
    header_seq: [Option<u64>; 3],
    dropped: u64,
    unlogged_drops: u64,
    last_drop_log: Option<Instant>,
}

impl Reader {
    /// The start snapshot: headers, then per `policy` the cached GOP; the cursor at the live edge.
    pub(crate) fn start(ring: &Ring, gop: &GopCache, policy: StartPolicy) -> Reader {
        let mut pending: VecDeque<Arc<MediaFrame>> =
            ring.headers.iter().flatten().cloned().collect();
        let cached = gop.frames();
        let mode = match policy {
            _ if cached.is_empty() => Mode::AwaitStart,
            StartPolicy::NextKeyframe => Mode::AwaitStart,
            StartPolicy::Gop => {
                pending.extend(cached.iter().cloned());
                Mode::Live
            }
            StartPolicy::FastGop => {
                let count = u32::try_from(gop.video_frames().count()).unwrap_or(u32::MAX);
                let first = ring.last_ts.saturating_sub(count.saturating_sub(1));
                for (i, frame) in (0u32..).zip(gop.video_frames()) {
                    pending.push_back(with_timestamp(frame, first.saturating_add(i)));
                }
                Mode::Live
            }
        };
        Reader {
            pending,
            cursor: ring.next_seq(),
            mode,
            header_seq: [None; 3],
            dropped: 0,
            unlogged_drops: 0,
            last_drop_log: None,
        }
    }

    /// Nothing of its own to deliver before the ring, and every ring frame delivered as it is.
    fn is_plain(&self) -> bool {
        self.pending.is_empty() && self.mode == Mode::Live
    }

    /// The next deliverable frame, `Ok(None)` if there is none yet.
    pub(crate) fn next(
        &mut self,
        stream: &Stream,
    ) -> Result<Option<Arc<MediaFrame>>, SubscriberEnd> {
        if let Some(frame) = self.pending.pop_front() {
            if self.pending.is_empty() {
                // The start snapshot held a whole GOP; an idle subscriber should not keep its slots.
                self.pending = VecDeque::new();
            }
            return Ok(Some(self.deliver(frame)));
        }
        let ring = stream.ring.read();
        loop {
            if self.cursor < ring.oldest_seq() {
                self.skip(&ring, stream);
                continue;
            }
            let Some(frame) = ring.get(self.cursor) else {
                return if ring.closed {
                    Err(SubscriberEnd::Ended)
                } else {
                    Ok(None)
                };
            };
            if ring.is_lagging(frame, stream.lag) {
                self.skip(&ring, stream);
                continue;
            }
            let frame = Arc::clone(frame);
            self.cursor += 1;
            match self.mode {
                Mode::Live => {}
                Mode::AwaitStart => {
                    if ring.is_sync_point(&frame) {
                        self.mode = Mode::Live;
                    } else if frame.frame().kind == MediaKind::Video
                        && !frame.frame().sequence_header
                    {
                        continue;
                    }
                }
                Mode::AwaitResume => {
                    if !ring.is_sync_point(&frame) {
                        self.count_dropped(1, stream);
                        continue;
                    }
                    self.mode = Mode::Live;
                    self.queue_changed_headers(&ring, &frame, stream);
                    if let Some(header) = self.pending.pop_front() {
                        self.pending.push_back(frame);
                        return Ok(Some(self.deliver(header)));
                    }
                }
            }
            return Ok(Some(self.deliver(frame)));
        }
    }

    fn deliver(&mut self, frame: Arc<MediaFrame>) -> Arc<MediaFrame> {
        self.note_delivered(&frame);
        frame
    }

    /// Remembers which headers the subscriber has (for the re-send after a skip).
    fn note_delivered(&mut self, frame: &MediaFrame) {
        let f = frame.frame();
        if f.sequence_header {
            self.header_seq[kind_index(f.kind)] = Some(frame.seq());
        }
    }

    /// Moves the cursor to the oldest keyframe within the lag bounds (or to the live edge to wait for the next
    /// one), counting what it passes over.
    fn skip(&mut self, ring: &Ring, stream: &Stream) {
        let target = ring
            .resume_point(self.cursor, stream.lag)
            .unwrap_or(ring.next_seq());
        let skipped = target.saturating_sub(self.cursor);
        self.cursor = target;
        self.mode = Mode::AwaitResume;
        self.count_dropped(skipped, stream);
    }

    /// Before resuming at `keyframe`, the headers that changed while skipping (stamped with its timestamp so the
    /// subscriber's timeline does not go back). They were counted as dropped when skipped; delivered now, they
    /// no longer are.
    fn queue_changed_headers(&mut self, ring: &Ring, keyframe: &MediaFrame, stream: &Stream) {
        let mut resent = 0;
        for (kind, header) in ring.headers.iter().enumerate() {
            let Some(header) = header else { continue };
            let seen = self.header_seq.get(kind).copied().flatten();
            if header.seq() < keyframe.seq() && seen != Some(header.seq()) {
                self.pending
                    .push_back(with_timestamp(header, keyframe.frame().timestamp));
                resent += 1;
            }
        }
        let resent = resent.min(self.dropped);
        self.dropped -= resent;
        stream.dropped_frames.fetch_sub(resent, Ordering::Relaxed);
    }

    fn count_dropped(&mut self, count: u64, stream: &Stream) {
        if count == 0 {
            return;
        }
        self.dropped += count;
        self.unlogged_drops += count;
        stream.dropped_frames.fetch_add(count, Ordering::Relaxed);
        let now = Instant::now();
        if self
            .last_drop_log
            .is_none_or(|last| now.duration_since(last) >= DROP_LOG_INTERVAL)
        {
            warn!(
                stream = %stream.key,
                dropped = self.unlogged_drops,
                total = self.dropped,
                "subscriber too slow: skipped frames to the next keyframe"
            );
            self.unlogged_drops = 0;
            self.last_drop_log = Some(now);
        }
    }
}

/// `frame` itself if it already has `timestamp`, else a restamped copy.
fn with_timestamp(frame: &Arc<MediaFrame>, timestamp: u32) -> Arc<MediaFrame> {
    if frame.frame().timestamp == timestamp {
        Arc::clone(frame)
    } else {
        Arc::new(frame.restamped(timestamp))
    }
}
