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

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use media::Subscriber;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::output::batch::{Batch, WritePolicy};
use crate::output::encode::{flv_tag, rtmp_chunks};
use crate::output::window::SharedWindows;

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

/// The instants in a [`SERVICE_INTERVAL`] at which players' looks fall (see [`next_look`]).
const LOOK_SLOTS: u32 = 16;

/// When a player in `slot` next looks at its stream: on a grid of [`LOOK_SLOTS`] instants per
/// [`SERVICE_INTERVAL`] shared by the whole process, its slot's one. Each player's own timer would fall in a
/// millisecond of its own and wake the runtime for it alone (hundreds of wake-ups a second with 500 players);
/// on the grid the runtime wakes at most 16 times a second for all of them, and each time for a sixteenth.
pub(crate) fn next_look(slot: usize) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let step = SERVICE_INTERVAL / LOOK_SLOTS;
    let first = epoch + step * (slot % LOOK_SLOTS as usize) as u32;
    let now = tokio::time::Instant::now();
    if now < first {
        return first;
    }
    let periods = (now - first).as_nanos() / SERVICE_INTERVAL.as_nanos() + 1;
    first + SERVICE_INTERVAL * u32::try_from(periods).unwrap_or(u32::MAX)
}

/// Most bytes queued for one player; past it the player stops taking frames from the hub until its socket
/// drains, so a slow socket shows up as hub backlog (dropped to the next keyframe there), not as memory here.
const PLAYER_HIGH_WATER: usize = 512 * 1024;

/// Fewest `live` players per phase: below 2 x this many, a stream's `live` players are written together once per
/// merge window; above it their windows are spread over 2, 4 or 8 phases (see [`merge_timer`]).
const PLAYERS_PER_PHASE: usize = 256;
/// Most phases a merge window is split into.
const MAX_PHASES: usize = 8;
/// Fewest `rtc` players per shard: below 2 x this many, the publisher's task writes them all itself; above it
/// their writes are spread over one task per runtime worker (see [`Group::on_push`]).
const PLAYERS_PER_SHARD: usize = 64;

/// The players of one stream, kept in the stream's entry ([`crate::stream::entry::StreamEntry`]).
pub(crate) struct Group {
    /// Players written at every push (`?mode=rtc`), in one list per shard (a player's slot picks it), so shards
    /// written on different worker threads never share a lock.
    rtc: Vec<Shard>,
    /// Players written once per merge window, by phase. Its lock also guards starting and ending the merge timer.
    live: Mutex<LivePlayers>,
    merge_window: Duration,
    /// Frames pushed and not yet written to every `live` player.
    merge: Mutex<MergeState>,
    /// Wakes the group's merge timer when a merge window opens (or its last `live` player leaves).
    merge_due: Notify,
    /// The merge timer task runs (only while there are `live` players). Changed under the `live` lock.
    timer_running: AtomicBool,
    /// The slot of the next player: round robin, so phases and shards stay balanced as players come and go.
    next_slot: AtomicUsize,
    /// `rtc` players in all shards.
    rtc_count: AtomicUsize,
    /// Players that write themselves rather than through the group (HTTP-FLV over hyper's keep-alive path),
    /// registered so the API can list them.
    streaming: Mutex<Vec<Arc<StreamingPlayer>>>,
}

/// One shard of a group's `rtc` players and the task that writes it when the stream is large.
struct Shard {
    players: Mutex<Vec<Arc<DirectPlayer>>>,
    /// Wakes the shard's task: frames were pushed.
    due: Notify,
    /// The shard's task runs. Started on the first push that needs it, ended when the shard empties.
    running: AtomicBool,
}

/// A group's `live` players in [`MAX_PHASES`] lists (a player's slot picks one), so that a tick of a phased window
/// walks only the players of its phase.
#[derive(Default)]
struct LivePlayers {
    lists: [Vec<Arc<DirectPlayer>>; MAX_PHASES],
    count: usize,
}

impl LivePlayers {
    /// The players of `phase` when a window has `phases` phases (a power of two up to [`MAX_PHASES`]), or all.
    fn of_phase(&self, phase: Option<(usize, usize)>) -> impl Iterator<Item = &Arc<DirectPlayer>> {
        self.lists
            .iter()
            .enumerate()
            .filter(move |(i, _)| phase.is_none_or(|(k, p)| i % p == k))
            .flat_map(|(_, list)| list.iter())
    }
}

/// What the merge timer needs to know about pushes.
struct MergeState {
    /// When the oldest frame not yet written to the `live` players was pushed (`None`: nothing waits).
    since: Option<Instant>,
    /// When the last frame was pushed.
    last_push: Option<Instant>,
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
        // One shard per worker thread: more could not run at once.
        let shards = tokio::runtime::Handle::try_current()
            .map_or(1, |h| h.metrics().num_workers())
            .max(1);
        Group {
            rtc: (0..shards)
                .map(|_| Shard {
                    players: Mutex::new(Vec::new()),
                    due: Notify::new(),
                    running: AtomicBool::new(false),
                })
                .collect(),
            live: Mutex::new(LivePlayers::default()),
            merge_window,
            merge: Mutex::new(MergeState {
                since: None,
                last_push: None,
            }),
            merge_due: Notify::new(),
            timer_running: AtomicBool::new(false),
            next_slot: AtomicUsize::new(0),
            rtc_count: AtomicUsize::new(0),
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

    /// How many players that write themselves say `protocol` (`webrtc`, `flv`).
    pub(crate) fn streaming_count(&self, protocol: &str) -> u64 {
        lock(&self.streaming)
            .iter()
            .filter(|p| p.protocol == protocol)
            .count() as u64
    }

    /// Adds a player; it leaves when the returned membership is dropped.
    pub(crate) fn join(self: &Arc<Self>, player: Arc<DirectPlayer>) -> Membership {
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        player.slot.store(slot, Ordering::Relaxed);
        match player.policy {
            WritePolicy::Immediate => {
                lock(&self.rtc[slot % self.rtc.len()].players).push(player.clone());
                self.rtc_count.fetch_add(1, Ordering::Relaxed);
            }
            WritePolicy::Merged(_) => {
                let mut live = lock(&self.live);
                live.lists[slot % MAX_PHASES].push(player.clone());
                live.count += 1;
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
    ///
    /// A large stream's `rtc` players are written by one task per shard instead, so that every worker thread
    /// writes a part of them at once. All shards go to tasks, none is written here: tokio keeps the task woken
    /// last in its worker's LIFO slot, which other workers cannot steal, so a shard kept for this task would run
    /// on the same thread as that one; waking them all puts every shard but the last in a stealable queue.
    pub(crate) fn on_push(self: &Arc<Self>, now: Instant) {
        if lock(&self.live).count > 0 {
            let mut merge = lock(&self.merge);
            merge.last_push = Some(now);
            if merge.since.is_none() {
                merge.since = Some(now);
                self.merge_due.notify_one();
            }
        }
        let count = self.rtc_count.load(Ordering::Relaxed);
        if self.rtc.len() == 1 || count < 2 * PLAYERS_PER_SHARD {
            for shard in &self.rtc {
                deliver(&shard.players);
            }
            return;
        }
        for (index, shard) in self.rtc.iter().enumerate() {
            if !shard.running.swap(true, Ordering::AcqRel) {
                tokio::spawn(shard_writer(self.clone(), index));
            }
            shard.due.notify_one();
        }
    }

    /// In how many phases the `live` players' windows are spread: 1 below 2 x [`PLAYERS_PER_PHASE`] players, then
    /// 2, 4 or 8, so that one tick writes at most about 512 players.
    fn phases(&self) -> usize {
        let players = lock(&self.live).count;
        let wanted = players / PLAYERS_PER_PHASE;
        if wanted < 2 {
            1
        } else {
            // The largest power of two not above `wanted`: a divisor of MAX_PHASES, so a player's phase
            // (slot % phases) stays the same one of the eight slots as the count changes.
            (1usize << (usize::BITS - 1 - wanted.leading_zeros())).min(MAX_PHASES)
        }
    }
}

/// Writes one `rtc` shard of a large stream whenever the publisher pushed. Ends when the shard is empty (a later
/// push starts it again); a leaving player wakes it to look.
async fn shard_writer(group: Arc<Group>, index: usize) {
    let Some(shard) = group.rtc.get(index) else {
        return;
    };
    loop {
        shard.due.notified().await;
        if lock(&shard.players).is_empty() {
            shard.running.store(false, Ordering::Release);
            return;
        }
        deliver(&shard.players);
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
        let mut all: Vec<Arc<DirectPlayer>> = Vec::new();
        for shard in &self.rtc {
            all.extend(lock(&shard.players).iter().cloned());
        }
        all.extend(lock(&self.live).of_phase(None).cloned());
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
        if self.player.policy == WritePolicy::Immediate {
            let slot = self.player.slot.load(Ordering::Relaxed);
            let shard = &group.rtc[slot % group.rtc.len()];
            let mut players = lock(&shard.players);
            let before = players.len();
            players.retain(|p| !Arc::ptr_eq(p, &self.player));
            if players.len() < before {
                group.rtc_count.fetch_sub(1, Ordering::Relaxed);
            }
            if players.is_empty() {
                // Its writer, if running, looks at the list and ends.
                shard.due.notify_one();
            }
            return;
        }
        let mut live = lock(&group.live);
        let slot = self.player.slot.load(Ordering::Relaxed);
        let list = &mut live.lists[slot % MAX_PHASES];
        let before = list.len();
        list.retain(|p| !Arc::ptr_eq(p, &self.player));
        let removed = before - list.len();
        live.count -= removed;
        if live.count == 0 {
            // The timer looks at the list under this lock and ends when it is empty.
            group.merge_due.notify_one();
        }
    }
}

/// Delivers to each player of a shard's `list`.
fn deliver(list: &Mutex<Vec<Arc<DirectPlayer>>>) {
    deliver_each(lock(list).iter());
}

/// Delivers to the group's `live` players of one phase (`Some((phase, phases))`), or to all.
fn deliver_live(group: &Group, phase: Option<(usize, usize)>) {
    deliver_each(lock(&group.live).of_phase(phase));
}

/// Delivers to each player, skipping those whose own task is finishing a blocked write. Caught-up players take the
/// round's shared window ([`SharedWindows`]); the others read the hub themselves.
fn deliver_each<'a>(players: impl Iterator<Item = &'a Arc<DirectPlayer>>) {
    let mut windows = SharedWindows::default();
    let mut players = players.peekable();
    while let Some(player) = players.next() {
        // Each player's state is on its own cache lines, cold since the last round: have the next one's come in
        // while this one's write is in the kernel.
        if let Some(next) = players.peek() {
            hot::prefetch(&next.out);
        }
        let mut out = player.lock();
        out.fed = true;
        if !out.blocked {
            let delivery = match out.deliver_shared(&mut windows) {
                Some(delivery) => delivery,
                None => out.deliver(),
            };
            if let Delivery::Blocked | Delivery::Ended | Delivery::Failed = delivery {
                player.wake.notify_one();
            }
        }
    }
}

/// One task per group while it has `live` players: writes what the publisher pushed to all of them once per merge
/// window. Ends when the last `live` player leaves (a later one starts a new task) or the group is dropped.
///
/// Up to 511 players, a window opens at the first push after a flush and all players are written at its end.
/// A larger stream's players are spread over phases (by slot): a tick every `window / phases` writes one phase,
/// so each player still gets one write per window, of up to a window of frames, but a tick writes a fraction of
/// the players and the last socket of a tick is written that much sooner after the tick (the tail latency of a
/// stream with thousands of players). With several worker threads each tick is written by a task of its own, so
/// the ticks of a very large stream run on every core. Ticks go on while frames come and stop once every phase was written after
/// the last push.
async fn merge_timer(group: std::sync::Weak<Group>) {
    loop {
        let (since, window, phases) = {
            let Some(g) = group.upgrade() else { return };
            let live = lock(&g.live);
            if live.count == 0 {
                g.timer_running.store(false, Ordering::Release);
                return;
            }
            drop(live);
            let since = lock(&g.merge).since;
            (since, g.merge_window, g.phases())
        };
        let Some(since) = since else {
            // notify_one keeps a permit, so a window opened (or a last player gone) since the look above is not
            // missed.
            let Some(g) = group.upgrade() else { return };
            g.merge_due.notified().await;
            continue;
        };
        if phases == 1 {
            tokio::time::sleep_until(since + window).await;
            let Some(g) = group.upgrade() else { return };
            lock(&g.merge).since = None;
            deliver_live(&g, None);
            continue;
        }
        phased_ticks(&group, since, window, phases).await;
    }
}

/// The ticks of a phased merge window (see [`merge_timer`]), from `since` until every phase was written after the
/// last push (then the window state is cleared under its lock, so a push racing with the end opens a new one).
async fn phased_ticks(
    group: &std::sync::Weak<Group>,
    since: Instant,
    window: Duration,
    mut phases: usize,
) {
    let mut tick = since;
    let mut phase = 0;
    loop {
        tick += window / u32::try_from(phases).unwrap_or(1);
        tokio::time::sleep_until(tick).await;
        let Some(g) = group.upgrade() else { return };
        if g.rtc.len() > 1 {
            // With several worker threads each tick's writes are a task of their own: a tick still writing on one
            // worker does not hold up the next one, which another worker takes, so a stream with more `live`
            // players than one core can write uses every core (the players of two ticks are different ones; a
            // player's lock keeps two writes to it in order should ticks of one phase ever overlap).
            let (g, this) = (g.clone(), (phase, phases));
            tokio::spawn(async move { deliver_live(&g, Some(this)) });
        } else {
            deliver_live(&g, Some((phase, phases)));
        }
        phase += 1;
        if phase == phases {
            phase = 0;
            let mut merge = lock(&g.merge);
            let idle = merge.last_push.is_none_or(|t| t + window <= tick);
            if idle || lock(&g.live).count == 0 {
                merge.since = None;
                return;
            }
            drop(merge);
            // Players came or went: a new count of phases from the next cycle on.
            phases = g.phases();
            if phases == 1 {
                lock(&g.merge).since = Some(tick);
                return;
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
    /// Its place in the group's round robin: picks its `rtc` shard or its `live` phase.
    slot: AtomicUsize,
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
            slot: AtomicUsize::new(0),
            peer,
            since_ms: u64::try_from(control::now_ms()).unwrap_or(0),
            out: Mutex::new(PlayerOut {
                writer: hot::SocketFd::new(writer),
                subscriber,
                format,
                pending: Batch::default(),
                blocked: false,
                ended: false,
                error: None,
                sent: 0,
                fed: false,
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

    /// Whether the player's own look at its stream (every [`SERVICE_INTERVAL`]) should deliver: not when its
    /// group's rounds reached it since the last look and its stream goes on. Those rounds keep it fed; a
    /// delivery from the look would write part of a merge window early (one more write, and the player off the
    /// round's shared window for that window). A player nobody fed, or whose stream ended, is served.
    pub(crate) fn needs_look(&self) -> bool {
        let mut out = self.lock();
        let fed = std::mem::take(&mut out.fed);
        !fed || out.error.is_some() || out.subscriber.is_closed()
    }

    /// Its place in the group's round robin, which also picks its [`next_look`] slot.
    pub(crate) fn slot(&self) -> usize {
        self.slot.load(Ordering::Relaxed)
    }

    /// Locks the player's output state. Never held across an await.
    pub(crate) fn lock(&self) -> MutexGuard<'_, PlayerOut> {
        lock(&self.out)
    }
}

/// A player's output: its socket, its hub cursor and what is queued for it.
pub(crate) struct PlayerOut {
    /// The socket, with its descriptor beside it: a round's write reaches the kernel without going through the
    /// socket's `Arc`s (their cache lines, a sixth of mplive's user-space time in a 500-player `live` profile).
    writer: hot::SocketFd<OwnedWriteHalf>,
    subscriber: Subscriber,
    format: OutputFormat,
    pending: Batch,
    blocked: bool,
    ended: bool,
    error: Option<std::io::Error>,
    /// Bytes written to this player's socket (counted under the lock the write already holds).
    sent: u64,
    /// A round of its group reached it since its own task last looked ([`DirectPlayer::needs_look`]).
    fed: bool,
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

    /// Writes the round's shared window when this player is caught up at its start, with nothing of its own
    /// queued; `None` (nothing done) otherwise.
    fn deliver_shared(&mut self, windows: &mut SharedWindows) -> Option<Delivery> {
        if self.error.is_some() || self.ended || !self.pending.is_empty() {
            return None;
        }
        let shared = windows.get(self.format, &self.subscriber)?;
        if !self.subscriber.take_window(&shared.window) {
            return None;
        }
        #[cfg(test)]
        crate::output::window::TAKEN.fetch_add(1, Ordering::Relaxed);
        let writer = &self.writer;
        let result = self
            .pending
            .write_shared(&shared.bufs, |s| write_now(writer, s));
        Some(self.wrote(result))
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
        let result = self.pending.write_nonblocking(|s| write_now(writer, s));
        self.wrote(result)
    }

    /// Accounts for a write: bytes sent, blocked or not, and what it means for the player.
    fn wrote(&mut self, result: std::io::Result<(usize, bool)>) -> Delivery {
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

/// One non-blocking vectored write. Straight to the kernel first: tokio's `try_write_vectored` reads and updates
/// the socket's readiness around every call, which cost as much as the rest of a player's delivery (a profile of
/// 500 `live` players: 4.5% of the server's CPU, a fifth of its user-space time). Only a full socket needs that
/// bookkeeping, so that `writable()` wakes the player's task: then the write is tried again through tokio, which
/// clears the readiness it saw only if no new readiness came meanwhile (no lost wake-up).
fn write_now(
    writer: &hot::SocketFd<OwnedWriteHalf>,
    bufs: &[std::io::IoSlice<'_>],
) -> std::io::Result<usize> {
    match socket2::SockRef::from(&writer.fd()).send_vectored(bufs) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            writer.owner().try_write_vectored(bufs)
        }
        other => other,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind (buffers, flags): still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::{Frame, MediaKind, PublisherInfo, Registry, StreamKey, SubscribeOptions};
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// Players' looks fall on a grid of 16 instants a second: the same instant for slots 16 apart, a sixteenth of
    /// a second between neighbours, always ahead and at most one interval away.
    #[tokio::test]
    async fn looks_fall_on_a_shared_grid() {
        let now = tokio::time::Instant::now();
        let step = SERVICE_INTERVAL / LOOK_SLOTS;
        for slot in 0..40 {
            let at = next_look(slot);
            assert!(
                at > now && at <= tokio::time::Instant::now() + SERVICE_INTERVAL,
                "slot {slot}"
            );
            assert_eq!(at, next_look(slot + LOOK_SLOTS as usize), "slot {slot}");
        }
        let (a, b) = (next_look(3), next_look(4));
        let apart = if b > a { b - a } else { a - b };
        assert!(
            apart == step || apart == SERVICE_INTERVAL - step,
            "{apart:?}"
        );
    }

    /// `n` players of `policy` on real loopback sockets, joined to `group`; returns their memberships and the
    /// client ends, which count what they read.
    async fn players(
        registry: &Registry,
        key: &StreamKey,
        group: &Arc<Group>,
        policy: WritePolicy,
        n: usize,
    ) -> (Vec<Membership>, Vec<tokio::task::JoinHandle<usize>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut members = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..n {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, peer) = listener.accept().await.unwrap();
            let (_read, write) = server.into_split();
            let subscriber = registry
                .subscribe(key, SubscribeOptions::new("flv"))
                .unwrap();
            let player = Arc::new(DirectPlayer::new(
                Arc::new(write),
                subscriber,
                OutputFormat::Flv,
                policy,
                peer,
            ));
            members.push(group.join(player));
            readers.push(tokio::spawn(async move {
                let mut client = client;
                let mut buf = vec![0u8; 65536];
                let mut total = 0;
                loop {
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return total,
                        Ok(n) => total += n,
                    }
                }
            }));
        }
        (members, readers)
    }

    /// Every player of a large stream gets every byte, whether its writes are spread over shards (`rtc`) or phases
    /// (`live`), and each one exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sharded_and_phased_players_get_every_frame_once() {
        let registry = Registry::new(Default::default());
        let key = StreamKey::new("live", "big");
        let info = PublisherInfo {
            remote_addr: "127.0.0.1:1".into(),
            protocol: "rtmp",
            republish_grace: None,
            started_at_ms: 0,
            relay: false,
        };
        let mut publisher = registry.publish(key.clone(), info).unwrap();
        let group = Arc::new(Group::new(Duration::from_millis(20)));
        assert_eq!(group.rtc.len(), 2, "one shard per worker thread");
        let rtc_n = 2 * PLAYERS_PER_SHARD + 3;
        let live_n = 2 * PLAYERS_PER_PHASE + 5;
        let (rtc, rtc_readers) =
            players(&registry, &key, &group, WritePolicy::Immediate, rtc_n).await;
        let (live, live_readers) = players(
            &registry,
            &key,
            &group,
            WritePolicy::Merged(Duration::from_millis(20)),
            live_n,
        )
        .await;
        assert_eq!(group.phases(), 2);
        // A keyframe then 40 frames, 5 ms apart: several windows and ticks.
        let mut expected = 0;
        for i in 0..41u32 {
            let mut body = vec![if i == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0];
            body.extend(std::iter::repeat_n(i as u8, 1000));
            // An FLV tag: 11-byte header, body, 4-byte previous tag size.
            expected += 11 + body.len() + 4;
            let frame = Frame::new(MediaKind::Video, i * 5, Bytes::from(body));
            publisher.push(frame);
            group.on_push(Instant::now());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            group.rtc.iter().all(|s| s.running.load(Ordering::Acquire)),
            "both shards were written by their own tasks"
        );
        // Let the last window close, then end the stream: each player's own task would now finish.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for m in rtc.iter().chain(&live) {
            assert_eq!(m.player.lock().pending.len(), 0, "everything written");
            assert_eq!(m.player.lock().sent as usize, expected);
        }
        assert!(
            crate::output::window::TAKEN.load(Ordering::Relaxed) > live_n,
            "caught-up players took shared windows"
        );
        drop(rtc);
        drop(live);
        drop(publisher);
        drop(group);
        drop(registry);
        let _ = (rtc_readers, live_readers);
    }
}
