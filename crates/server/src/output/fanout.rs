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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use media::{StreamKey, Subscriber};
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

/// The delivery groups of all streams that have players.
#[derive(Default)]
pub(crate) struct Fanout {
    groups: RwLock<HashMap<StreamKey, Arc<Group>>>,
}

impl Fanout {
    /// The group of `key`, if it has players.
    pub(crate) fn get(&self, key: &StreamKey) -> Option<Arc<Group>> {
        self.groups
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Adds a player to the group of `key` (created on demand).
    pub(crate) fn join(&self, key: &StreamKey, player: Arc<DirectPlayer>, merge_window: Duration) {
        let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
        let group = groups.entry(key.clone()).or_insert_with(|| {
            let group = Arc::new(Group::new(merge_window));
            tokio::spawn(merge_timer(Arc::downgrade(&group)));
            group
        });
        let list = match player.policy {
            WritePolicy::Immediate => &group.rtc,
            WritePolicy::Merged(_) => &group.live,
        };
        lock(list).push(player);
    }

    /// Removes a player; the group goes when its last player does.
    pub(crate) fn leave(&self, key: &StreamKey, player: &Arc<DirectPlayer>) {
        let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
        if let Some(group) = groups.get(key) {
            let mut rtc = lock(&group.rtc);
            let mut live = lock(&group.live);
            rtc.retain(|p| !Arc::ptr_eq(p, player));
            live.retain(|p| !Arc::ptr_eq(p, player));
            if rtc.is_empty() && live.is_empty() {
                group
                    .detached
                    .store(true, std::sync::atomic::Ordering::Release);
                group.merge_due.notify_one();
                drop((rtc, live));
                groups.remove(key);
            }
        }
    }
}

/// The players of one stream.
pub(crate) struct Group {
    /// Players written at every push (`?mode=rtc`).
    rtc: Mutex<Vec<Arc<DirectPlayer>>>,
    /// Players written once per merge window.
    live: Mutex<Vec<Arc<DirectPlayer>>>,
    merge_window: Duration,
    /// When the oldest frame not yet written to the `live` players was pushed.
    merged_since: Mutex<Option<Instant>>,
    /// Wakes the group's merge timer when a merge window opens (or the group goes).
    merge_due: Notify,
    /// Removed from [`Fanout`]: a publisher holding it must look the stream's group up again.
    detached: std::sync::atomic::AtomicBool,
}

impl Group {
    fn new(merge_window: Duration) -> Group {
        Group {
            rtc: Mutex::new(Vec::new()),
            live: Mutex::new(Vec::new()),
            merge_window,
            merged_since: Mutex::new(None),
            merge_due: Notify::new(),
            detached: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether this group was removed from the registry of groups.
    pub(crate) fn is_detached(&self) -> bool {
        self.detached.load(std::sync::atomic::Ordering::Acquire)
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

/// One task per group: once per merge window, writes what collected to all `live` players at once. Ends when the
/// group is dropped or detached.
async fn merge_timer(group: std::sync::Weak<Group>) {
    loop {
        let (due, notified) = {
            let Some(g) = group.upgrade() else { return };
            if g.is_detached() {
                return;
            }
            let since = *lock(&g.merged_since);
            match since {
                Some(t) => (Some(t + g.merge_window), None),
                None => (None, Some(g.clone())),
            }
        };
        match (due, notified) {
            (Some(due), _) => {
                tokio::time::sleep_until(due).await;
                let Some(g) = group.upgrade() else { return };
                *lock(&g.merged_since) = None;
                deliver(&g.live);
            }
            // notify_one keeps a permit, so a window opened since the look above is not missed; a detached
            // group is notified too, and the next look ends the task.
            (None, Some(g)) => g.merge_due.notified().await,
            (None, None) => return,
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
    ) -> DirectPlayer {
        DirectPlayer {
            policy,
            out: Mutex::new(PlayerOut {
                writer,
                subscriber,
                format,
                pending: Batch::default(),
                blocked: false,
                ended: false,
                error: None,
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
