//! Publisher-driven delivery to players (RTMP and HTTP-FLV): the task that pushes a frame into the hub also writes it to the
//! players' sockets, with non-blocking vectored writes, instead of waking one task per player per frame.
//!
//! Why: with hundreds of players per stream, waking each player's task for each frame (or each merge window)
//! costs more CPU than the writes themselves. Here the publisher's task, after `Publisher::push`, walks the
//! stream's [`Group`] once:
//! - `rtc` players get every frame at once;
//! - `live` players are flushed together once per merge window, by one timer task per stream.
//!
//! A write never blocks the publisher: `try_write_vectored` takes what the socket accepts, the rest stays in the
//! player's pending batch and the player is marked blocked; its own connection task waits for the socket to drain
//! and finishes the write. Meanwhile the hub keeps the player's backlog bounded (it skips to the next keyframe).
//! Each player's connection task also services it on a slow timer, which ends the play after the republish grace
//! and delivers frames when no publisher is pushing.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use media::Subscriber;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::output::batch::{Batch, WritePolicy};
use crate::output::encode::{flv_tag, rtmp_chunks};

/// The wire format a player receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    /// RTMP chunks for a message stream at a chunk size.
    Rtmp {
        /// The play's message stream id.
        stream_id: u32,
        /// The connection's outgoing chunk size.
        chunk_size: u32,
    },
    /// FLV tags (HTTP-FLV).
    Flv,
}

/// How often a player's own task looks at its stream: to end the play after the republish grace, and for frames
/// nobody pushed to it. Everything else reaches players through the publisher or a wake-up.
pub(crate) const SERVICE_INTERVAL: Duration = Duration::from_secs(1);

/// Most bytes queued for one player; past it the player stops taking frames from the hub until its socket
/// drains, so a slow socket shows up as hub backlog (dropped to the next keyframe there), not as memory here.
const PLAYER_HIGH_WATER: usize = 512 * 1024;

/// The players of one stream, kept in the stream's entry ([`crate::stream::entry::StreamEntry`]).
pub(crate) struct Group {
    /// Players written at every push (`?mode=rtc`).
    rtc: Mutex<Vec<Arc<DirectPlayer>>>,
    /// Players written once per merge window. Its lock also guards starting and ending the merge timer.
    live: Mutex<Vec<Arc<DirectPlayer>>>,
    merge_window: Duration,
    /// When the oldest frame not yet written to the `live` players was pushed.
    merged_since: Mutex<Option<Instant>>,
    /// Wakes the group's merge timer when a merge window opens (or its last `live` player leaves).
    merge_due: Notify,
    /// The merge timer task runs (only while there are `live` players). Changed under the `live` lock.
    timer_running: std::sync::atomic::AtomicBool,
    /// Players that write themselves rather than through the group (HTTP-FLV over hyper's keep-alive path),
    /// registered so the API can list them.
    streaming: Mutex<Vec<Arc<StreamingPlayer>>>,
}

/// A player outside the group's writing (its own task pulls from the hub), as the API lists it.
pub(crate) struct StreamingPlayer {
    protocol: &'static str,
    peer: std::net::SocketAddr,
    since_ms: u64,
    /// Bytes handed to the connection; updated once per burst.
    pub(crate) bytes: std::sync::atomic::AtomicU64,
    /// Frames skipped because it lagged, as of its last burst.
    pub(crate) dropped_frames: std::sync::atomic::AtomicU64,
}

/// A [`StreamingPlayer`]'s registration; dropping it removes the player from the list.
pub(crate) struct Streaming {
    group: Arc<Group>,
    pub(crate) player: Arc<StreamingPlayer>,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        lock(&self.group.streaming).retain(|p| !Arc::ptr_eq(p, &self.player));
    }
}

impl Group {
    pub(crate) fn new(merge_window: Duration) -> Group {
        Group {
            rtc: Mutex::new(Vec::new()),
            live: Mutex::new(Vec::new()),
            merge_window,
            merged_since: Mutex::new(None),
            merge_due: Notify::new(),
            timer_running: std::sync::atomic::AtomicBool::new(false),
            streaming: Mutex::new(Vec::new()),
        }
    }

    /// Registers a player that writes itself, for the API's list; it leaves when the result is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        protocol: &'static str,
        peer: std::net::SocketAddr,
    ) -> Streaming {
        let player = Arc::new(StreamingPlayer {
            protocol,
            peer,
            since_ms: u64::try_from(control::now_ms()).unwrap_or(0),
            bytes: std::sync::atomic::AtomicU64::new(0),
            dropped_frames: std::sync::atomic::AtomicU64::new(0),
        });
        lock(&self.streaming).push(player.clone());
        Streaming {
            group: self.clone(),
            player,
        }
    }

    /// Adds a player; it leaves when the returned membership is dropped.
    pub(crate) fn join(self: &Arc<Self>, player: Arc<DirectPlayer>) -> Membership {
        match player.policy {
            WritePolicy::Immediate => lock(&self.rtc).push(player.clone()),
            WritePolicy::Merged(_) => {
                let mut live = lock(&self.live);
                live.push(player.clone());
                if !self.timer_running.swap(true, Ordering::AcqRel) {
                    tokio::spawn(merge_timer(Arc::downgrade(self)));
                }
            }
        }
        Membership {
            group: self.clone(),
            player,
        }
    }

    /// Called by the publisher's task after pushing frames: `rtc` players get them now, and the first push of a
    /// merge window starts the group's timer for the `live` players.
    pub(crate) fn on_push(&self, now: Instant) {
        if !lock(&self.live).is_empty() {
            let mut since = lock(&self.merged_since);
            if since.is_none() {
                *since = Some(now);
                self.merge_due.notify_one();
            }
        }
        deliver(&self.rtc);
    }
}

/// One player as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlayerInfo {
    /// `rtmp`, `flv` or `relay` (another node pulling the stream).
    pub(crate) protocol: &'static str,
    /// The client's address.
    pub(crate) addr: String,
    /// When it started playing, Unix ms.
    pub(crate) since_ms: u64,
    /// Bytes written to it.
    pub(crate) bytes: u64,
    /// Frames it skipped because it lagged.
    pub(crate) dropped_frames: u64,
}

impl Group {
    /// The players now, oldest first. Each player's lock is taken briefly, one at a time (an API call, not the
    /// media path).
    pub(crate) fn players(&self) -> Vec<PlayerInfo> {
        let mut all: Vec<Arc<DirectPlayer>> = lock(&self.rtc).clone();
        all.extend(lock(&self.live).iter().cloned());
        let mut players: Vec<PlayerInfo> = all
            .iter()
            .map(|p| {
                let out = p.lock();
                PlayerInfo {
                    protocol: out.subscriber.protocol(),
                    addr: p.peer.to_string(),
                    since_ms: p.since_ms,
                    bytes: out.sent,
                    dropped_frames: out.subscriber.dropped_frames(),
                }
            })
            .collect();
        players.extend(lock(&self.streaming).iter().map(|p| PlayerInfo {
            protocol: p.protocol,
            addr: p.peer.to_string(),
            since_ms: p.since_ms,
            bytes: p.bytes.load(Ordering::Relaxed),
            dropped_frames: p.dropped_frames.load(Ordering::Relaxed),
        }));
        players.sort_by_key(|p| p.since_ms);
        players
    }
}

/// A player's place in its stream's [`Group`]; dropping it removes the player.
pub(crate) struct Membership {
    group: Arc<Group>,
    player: Arc<DirectPlayer>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let group = &self.group;
        lock(&group.rtc).retain(|p| !Arc::ptr_eq(p, &self.player));
        let mut live = lock(&group.live);
        live.retain(|p| !Arc::ptr_eq(p, &self.player));
        if live.is_empty() {
            // The timer looks at the list under this lock and ends when it is empty.
            group.merge_due.notify_one();
        }
    }
}

/// Delivers to each player of `list`, skipping those whose own task is finishing a blocked write.
fn deliver(list: &Mutex<Vec<Arc<DirectPlayer>>>) {
    let players = lock(list);
    for player in players.iter() {
        let mut out = player.lock();
        if !out.blocked {
            if let Delivery::Blocked | Delivery::Ended | Delivery::Failed = out.deliver() {
                player.wake.notify_one();
            }
        }
    }
}

/// One task per group while it has `live` players: once per merge window, writes what collected to all of them at
/// once. Ends when the last `live` player leaves (a later one starts a new task) or the group is dropped.
async fn merge_timer(group: std::sync::Weak<Group>) {
    loop {
        let due = {
            let Some(g) = group.upgrade() else { return };
            let live = lock(&g.live);
            if live.is_empty() {
                g.timer_running.store(false, Ordering::Release);
                return;
            }
            drop(live);
            let since = *lock(&g.merged_since);
            since.map(|t| t + g.merge_window)
        };
        match due {
            Some(due) => {
                tokio::time::sleep_until(due).await;
                let Some(g) = group.upgrade() else { return };
                *lock(&g.merged_since) = None;
                deliver(&g.live);
            }
            None => {
                // notify_one keeps a permit, so a window opened (or a last player gone) since the look above is
                // not missed.
                let Some(g) = group.upgrade() else { return };
                g.merge_due.notified().await;
            }
        }
    }
}

/// What a delivery attempt left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Everything available was written.
    Done,
    /// The socket is full; the rest waits in the player's batch.
    Blocked,
    /// The stream ended (publisher gone past the grace).
    Ended,
    /// The socket failed.
    Failed,
}

/// One player fed by its stream's publisher.
pub(crate) struct DirectPlayer {
    policy: WritePolicy,
    /// The client's address, for the API's list of players.
    peer: std::net::SocketAddr,
    /// When it started playing, Unix ms.
    since_ms: u64,
    out: Mutex<PlayerOut>,
    /// Wakes the player's own task: blocked write, end of stream, or socket failure.
    pub(crate) wake: Notify,
}

impl DirectPlayer {
    pub(crate) fn new(
        writer: Arc<OwnedWriteHalf>,
        subscriber: Subscriber,
        format: OutputFormat,
        policy: WritePolicy,
        peer: std::net::SocketAddr,
    ) -> DirectPlayer {
        DirectPlayer {
            policy,
            peer,
            since_ms: u64::try_from(control::now_ms()).unwrap_or(0),
            out: Mutex::new(PlayerOut {
                writer,
                subscriber,
                format,
                pending: Batch::default(),
                blocked: false,
                ended: false,
                error: None,
                sent: 0,
            }),
            wake: Notify::new(),
        }
    }

    /// Delivers what the hub has for this player, waiting for the socket while it is full (the player's own task
    /// calls this; the publisher never waits). Returns `Done`, `Ended` or `Failed`, never `Blocked`.
    pub(crate) async fn service(&self, writer: &OwnedWriteHalf) -> Delivery {
        loop {
            let delivery = self.lock().deliver();
            match delivery {
                Delivery::Blocked => {
                    if let Err(e) = writer.writable().await {
                        self.lock().error = Some(e);
                        return Delivery::Failed;
                    }
                }
                other => return other,
            }
        }
    }

    /// Locks the player's output state. Never held across an await.
    pub(crate) fn lock(&self) -> MutexGuard<'_, PlayerOut> {
        lock(&self.out)
    }
}

/// A player's output: its socket, its hub cursor and what is queued for it.
pub(crate) struct PlayerOut {
    writer: Arc<OwnedWriteHalf>,
    subscriber: Subscriber,
    format: OutputFormat,
    pending: Batch,
    blocked: bool,
    ended: bool,
    error: Option<std::io::Error>,
    /// Bytes written to this player's socket (counted under the lock the write already holds).
    sent: u64,
}

impl PlayerOut {
    /// Queues bytes of the session (status messages, acks) in order with the media.
    pub(crate) fn queue(&mut self, buf: Bytes) {
        self.pending.push(buf);
    }

    /// Queues a whole batch (the play status and anything before it) ahead of the media.
    pub(crate) fn queue_batch(&mut self, batch: Batch) {
        self.pending.append(batch);
    }

    /// The socket error that failed a write, if any.
    pub(crate) fn take_error(&mut self) -> Option<std::io::Error> {
        self.error.take()
    }

    /// Takes what the hub has for this player and writes as much as the socket accepts.
    pub(crate) fn deliver(&mut self) -> Delivery {
        if self.error.is_some() {
            return Delivery::Failed;
        }
        while !self.ended && self.pending.len() < PLAYER_HIGH_WATER {
            match self.subscriber.try_recv() {
                Ok(Some(frame)) => self.pending.push(match self.format {
                    OutputFormat::Rtmp {
                        stream_id,
                        chunk_size,
                    } => rtmp_chunks(&frame, stream_id, chunk_size),
                    OutputFormat::Flv => flv_tag(&frame),
                }),
                Ok(None) => break,
                Err(_) => self.ended = true,
            }
        }
        let writer = &self.writer;
        let result = self
            .pending
            .write_nonblocking(|s| writer.try_write_vectored(s));
        match result {
            Ok((n, done)) => {
                if n > 0 {
                    self.subscriber.record_sent(n as u64);
                    self.sent += n as u64;
                }
                self.blocked = !done;
                match (done, self.ended) {
                    (false, _) => Delivery::Blocked,
                    (true, true) => Delivery::Ended,
                    (true, false) => Delivery::Done,
                }
            }
            Err(e) => {
                self.error = Some(e);
                Delivery::Failed
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind (buffers, flags): still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
