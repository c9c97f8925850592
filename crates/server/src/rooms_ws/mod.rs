//! Multi-party rooms over WebSocket (`/rooms/v1/ws`, docs/rooms-protocol.md): the I/O around the sans-IO
//! `rooms` core.
//!
//! One [`RoomService`] per server holds the core behind a `parking_lot::Mutex` that is only ever held for one
//! input and the draining of its outputs, never across an await. Outputs go to per-socket bounded queues with
//! `try_send`: a socket whose queue is full is disconnected instead of slowing the others. One task per socket
//! (`socket`), one timer task (heartbeats, resume grace, speaker updates) and one hub bridge (`bridge`: members'
//! streams starting, stopping and their audio/video presence).

mod bridge;
mod settings;
mod socket;
mod urls;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use rooms::{ConnId, Input, MemoryStore, Output, Rooms, SessionKey};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

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

/// The rooms of this server.
pub(crate) struct RoomService {
    core: Mutex<Rooms<MemoryStore>>,
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
    /// Starts the rooms: the core, its timer task and the hub bridge.
    pub(crate) fn start(
        settings: RoomsSettings,
        catalog: control::Catalog,
        url_base: control::urls::UrlBase,
        registry: media::Registry,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Arc<RoomService> {
        let urls = urls::RoomUrls::new(catalog.clone(), url_base, &settings);
        // `core_config` leaves `rng_seed` unset: the core draws its resume-token secret from OS entropy.
        let core = Rooms::new(settings.core_config(), MemoryStore::new(), Box::new(urls));
        let (publishes, changes) = bridge::Publishes::channel();
        let service = Arc::new(RoomService {
            core: Mutex::new(core),
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
    fn with_core(self: &Arc<Self>, input: impl FnOnce(&mut Rooms<MemoryStore>)) {
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
                }
            }
        }
        for (conn, app_id, open_id) in lookups {
            self.spawn_lookup(conn, app_id, open_id);
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
