//! Multi-party rooms over WebSocket (`/rooms/v1/ws`, docs/rooms-protocol.md): the I/O around the sans-IO
//! `rooms` core.
//!
//! One [`RoomService`] per server holds the core behind a `parking_lot::Mutex` that is only ever held for one
//! input and the draining of its outputs, never across an await. Outputs go to per-socket bounded queues with
//! `try_send`: a socket whose queue is full is disconnected instead of slowing the others. One task per socket
//! (`socket`), one timer task (heartbeats, resume grace, speaker updates) and one hub bridge (`bridge`: members'
//! streams starting, stopping and their audio/video presence).
//!
//! The core's store work (admit a join, remove a member, end a room) goes to the rooms' shared data: a
//! [`MemoryStore`] in this process on one node, applied at once; in cluster mode the Redis scripts of
//! `cluster::store`, applied in order by one task (`run_store`) whose answers go back into the core. In cluster
//! mode a room lives on one node, its home: a socket whose join or resume is for a room hosted elsewhere is
//! proxied there (`route`), so every rule of a room runs in one core.

mod bridge;
mod route;
mod settings;
mod socket;
mod urls;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use rooms::{AddRefused, AdmitRefused, ConnId, Input, MemoryStore, Output, Rooms, SessionKey};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::cluster::Cluster;

pub use settings::RoomsSettings;
pub(crate) use socket::upgrade;

/// What a socket task is told to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Send this JSON text.
    Text(String),
    /// Send a close frame with this code and reason, then end.
    Close(u16, &'static str),
}

/// Where the rooms' shared data lives.
enum Store {
    /// In this process (one node).
    Memory(Box<Mutex<MemoryStore>>),
    /// In the cluster's Redis, through the store task's queue.
    Cluster(mpsc::Sender<Output>),
}

/// The store task's queue: joins wait in it behind the Redis round trips of the ones before them.
const STORE_QUEUE: usize = 4096;

/// The rooms of this server.
pub(crate) struct RoomService {
    core: Mutex<Rooms>,
    store: Store,
    /// Cluster mode: rooms hosted elsewhere are proxied there.
    cluster: Option<Arc<Cluster>>,
    senders: Mutex<HashMap<ConnId, mpsc::Sender<Outgoing>>>,
    next_conn: AtomicU64,
    /// Wakes the timer task when an input may have brought a deadline forward.
    wake: Notify,
    settings: RoomsSettings,
    places: Arc<Semaphore>,
    catalog: control::Catalog,
    shutdown: CancellationToken,
    /// Publish starts and ends of the media app's streams, for the hub bridge.
    publishes: bridge::Publishes,
}

impl RoomService {
    /// Starts the rooms: the core, its timer task, the hub bridge, and in cluster mode the store task.
    ///
    /// `url_base` is where members push and play: in cluster mode, this node's advertised address, so that a
    /// member's stream is published on the room's home, where the bridge sees it.
    pub(crate) fn start(
        settings: RoomsSettings,
        catalog: control::Catalog,
        url_base: control::urls::UrlBase,
        registry: media::Registry,
        cluster: Option<Arc<Cluster>>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Arc<RoomService> {
        let urls = urls::RoomUrls::new(catalog.clone(), url_base, &settings);
        // `core_config` leaves `rng_seed` unset: the core draws its resume-token secret from OS entropy.
        let core = Rooms::new(settings.core_config(), Box::new(urls));
        let (publishes, changes) = bridge::Publishes::channel();
        let (store, store_work) = match &cluster {
            None => (
                Store::Memory(Box::new(Mutex::new(MemoryStore::new()))),
                None,
            ),
            Some(_) => {
                let (tx, rx) = mpsc::channel(STORE_QUEUE);
                (Store::Cluster(tx), Some(rx))
            }
        };
        let service = Arc::new(RoomService {
            core: Mutex::new(core),
            store,
            cluster: cluster.clone(),
            senders: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            wake: Notify::new(),
            places: Arc::new(Semaphore::new(settings.max_connections)),
            settings,
            catalog,
            shutdown,
            publishes,
        });
        tracker.spawn(service.clone().run_timers());
        tracker.spawn(bridge::run(service.clone(), registry, changes));
        if let (Some(cluster), Some(work)) = (cluster, store_work) {
            tracker.spawn(service.clone().run_store(cluster, work));
        }
        service
    }

    pub(crate) fn settings(&self) -> &RoomsSettings {
        &self.settings
    }

    /// Registers a new socket; its messages arrive on the returned receiver.
    pub(crate) fn open(self: &Arc<Self>) -> (ConnId, mpsc::Receiver<Outgoing>) {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.settings.send_queue);
        self.senders.lock().insert(conn, tx);
        self.with_core(|core| core.handle_input(Input::Open { conn }, Instant::now()));
        (conn, rx)
    }

    /// A text message from `conn`.
    pub(crate) fn text(self: &Arc<Self>, conn: ConnId, text: &str) {
        let unix_secs = control::now_unix();
        let input = Input::Text {
            conn,
            text,
            unix_secs,
        };
        self.with_core(|core| core.handle_input(input, Instant::now()));
    }

    /// `conn`'s socket is gone.
    pub(crate) fn closed(self: &Arc<Self>, conn: ConnId) {
        self.senders.lock().remove(&conn);
        self.with_core(|core| core.handle_input(Input::Closed { conn }, Instant::now()));
    }

    /// Runs one input on the core, then routes what it produced. The lock covers the input and the draining only.
    fn with_core(self: &Arc<Self>, input: impl FnOnce(&mut Rooms)) {
        let outputs: Vec<Output> = {
            let mut core = self.core.lock();
            input(&mut core);
            std::iter::from_fn(|| core.poll_output()).collect()
        };
        self.wake.notify_one();
        self.route(outputs);
    }

    fn route(self: &Arc<Self>, outputs: Vec<Output>) {
        if outputs.is_empty() {
            return;
        }
        let mut lookups = Vec::new();
        let mut store_work = Vec::new();
        {
            let mut senders = self.senders.lock();
            for output in outputs {
                match output {
                    Output::Send { conn, message } => {
                        let Some(tx) = senders.get(&conn) else {
                            continue;
                        };
                        match tx.try_send(Outgoing::Text(message.to_json())) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                // Dropping the sender ends the socket's task once it has written what is queued.
                                warn!(conn, queue = self.settings.send_queue, "room socket too slow: its send queue (rooms.send_queue) is full; disconnecting it");
                                senders.remove(&conn);
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => {
                                senders.remove(&conn);
                            }
                        }
                    }
                    Output::Close { conn, reason } => {
                        if let Some(tx) = senders.remove(&conn) {
                            let why = match reason {
                                rooms::CloseReason::HeartbeatTimeout => "heartbeat timeout",
                                rooms::CloseReason::Replaced => "replaced by another socket",
                            };
                            let _ = tx.try_send(Outgoing::Close(4000, why));
                        }
                    }
                    Output::LookupSessionKey {
                        conn,
                        app_id,
                        open_id,
                    } => {
                        lookups.push((conn, app_id, open_id));
                    }
                    work @ (Output::Admit { .. }
                    | Output::RemoveMember { .. }
                    | Output::EndRoom { .. }) => store_work.push(work),
                }
            }
        }
        for (conn, app_id, open_id) in lookups {
            self.spawn_lookup(conn, app_id, open_id);
        }
        if !store_work.is_empty() {
            self.store_work(store_work);
        }
    }

    /// Hands the core's store work to the store, in the order the core asked; answers go back into the core.
    fn store_work(self: &Arc<Self>, work: Vec<Output>) {
        match &self.store {
            Store::Memory(store) => {
                let answers: Vec<Input<'static>> = {
                    let mut store = store.lock();
                    work.iter().filter_map(|w| store.apply(w)).collect()
                };
                for answer in answers {
                    self.with_core(|core| core.handle_input(answer, Instant::now()));
                }
            }
            Store::Cluster(queue) => {
                for w in work {
                    match queue.try_send(w) {
                        Ok(()) => {}
                        Err(
                            mpsc::error::TrySendError::Full(w)
                            | mpsc::error::TrySendError::Closed(w),
                        ) => {
                            warn!(
                                queue = STORE_QUEUE,
                                "room store queue full or closed: {w:?} not applied"
                            );
                            if let Output::Admit { conn, .. } = w {
                                let result = Err(AdmitRefused::Add(AddRefused::Backend(
                                    "too many joins waiting for the cluster's Redis; retry".into(),
                                )));
                                self.with_core(|core| {
                                    core.handle_input(
                                        Input::Admitted { conn, result },
                                        Instant::now(),
                                    )
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Cluster mode: applies the core's store work to Redis one at a time, in order, until shutdown.
    async fn run_store(self: Arc<Self>, cluster: Arc<Cluster>, mut work: mpsc::Receiver<Output>) {
        loop {
            let next = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                next = work.recv() => next,
            };
            let Some(next) = next else { return };
            let store = &cluster.store;
            match next {
                Output::Admit { conn, admit } => {
                    let result = store.admit_member(&admit).await.unwrap_or_else(|e| {
                        warn!(conn, app = %admit.room.app, group = %admit.room.group, open_id = %admit.open_id, "room join: {e}");
                        Err(AdmitRefused::Add(AddRefused::Backend(
                            "the cluster's Redis does not answer; retry".into(),
                        )))
                    });
                    self.with_core(|core| {
                        core.handle_input(Input::Admitted { conn, result }, Instant::now())
                    });
                }
                Output::RemoveMember { room, open_id } => {
                    if let Err(e) = store.remove_room_member(&room, &open_id).await {
                        // The room's records are dropped when it ends or its home is found dead.
                        warn!(app = %room.app, group = %room.group, %open_id, "room member left but the cluster's Redis did not record it: {e}");
                    }
                }
                Output::EndRoom { room } => {
                    if let Err(e) = store.end_room(&room).await {
                        warn!(app = %room.app, group = %room.group, "room ended but the cluster's Redis did not record it: {e}");
                    }
                }
                _ => {}
            }
        }
    }

    /// Looks the session key up in the store (join is not a hot path) and hands the answer to the core.
    fn spawn_lookup(self: &Arc<Self>, conn: ConnId, app_name: String, open_id: String) {
        let catalog = self.catalog.clone();
        let service = self.clone();
        tokio::spawn(async move {
            let key = match catalog.app(&app_name) {
                None => SessionKey::UnknownApp,
                Some(app) => match catalog.store().room_session(&app.id, &open_id).await {
                    Ok(Some(session)) => SessionKey::Found(session.session_key),
                    Ok(None) => SessionKey::NoKey,
                    Err(e) => {
                        warn!(conn, app = %app_name, open_id = %open_id, "room session key lookup failed: {e}");
                        SessionKey::Failed("the session key store is unavailable".into())
                    }
                },
            };
            service.with_core(|core| {
                core.handle_input(Input::SessionKey { conn, key }, Instant::now())
            });
        });
    }

    /// Runs the core's timers until shutdown.
    async fn run_timers(self: Arc<Self>) {
        loop {
            let deadline = self.core.lock().poll_timeout();
            // Re-read at least every second: cheap, and a missed wake-up then costs at most that.
            let cap = Instant::now() + std::time::Duration::from_secs(1);
            let at = deadline.map_or(cap, |d| d.min(cap));
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| d <= now) {
                self.with_core(|core| core.handle_timeout(now));
            }
        }
    }

    /// A stream of the media app changed (`None`: stopped).
    pub(crate) fn stream(self: &Arc<Self>, name: &str, state: Option<rooms::StreamState>) {
        debug!(stream = name, ?state, "room media stream changed");
        self.with_core(|core| core.handle_input(Input::Stream { name, state }, Instant::now()));
    }

    /// The live rooms of this node and their members, now.
    pub(crate) fn snapshot(&self) -> Vec<rooms::RoomSnapshot> {
        self.core.lock().snapshot(Instant::now())
    }

    /// Whether `conn` has nothing going on in the core (not joining, not a member).
    pub(crate) fn is_idle(&self, conn: ConnId) -> bool {
        self.core.lock().is_idle(conn)
    }

    /// Takes a place under `rooms.max_connections`.
    pub(crate) fn place(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.places.clone().try_acquire_owned().ok()
    }
}

impl crate::stream::followers::Follower for RoomService {
    fn published(&self, publish: &crate::stream::followers::Published<'_>) {
        if publish.key.app == self.settings.media_app {
            self.publishes
                .send(bridge::Change::Started(publish.key.name.clone()));
        }
    }

    fn unpublished(&self, key: &media::StreamKey) {
        if key.app == self.settings.media_app {
            self.publishes
                .send(bridge::Change::Stopped(key.name.clone()));
        }
    }
}
