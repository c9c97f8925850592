//! The map of live streams: publish, subscribe, kick, statistics, and the grace timers.
//!
//! Lock order: the registry map, then a stream's state, then its ring. The map is taken only by the rare
//! events (publish, subscribe, unpublish, a subscriber leaving, grace expiry, stats), never by a push.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::error::{PublishError, SubscribeError};
use crate::key::StreamKey;
use crate::publisher::{Publisher, PublisherInfo};
use crate::stats::{StreamStats, Totals};
use crate::stream::{Protocol, State, Stream};
use crate::subscriber::{Reader, SubscribeOptions, Subscriber};
use crate::HubConfig;

/// The hub: every live stream by [`StreamKey`]. Cheap to clone (a shared handle).
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    config: HubConfig,
    streams: Mutex<HashMap<StreamKey, Arc<Stream>>>,
    retired: Retired,
}

impl Registry {
    /// An empty hub with these bounds (`ring_capacity` is raised to at least 1).
    pub fn new(config: HubConfig) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                config: config.normalized(),
                streams: Mutex::new(HashMap::new()),
                retired: Retired::default(),
            }),
        }
    }

    /// Attaches a publisher to `key`.
    ///
    /// A stream in its grace period continues with the same subscribers and a continuous timeline. A live stream
    /// is refused with [`PublishError::AlreadyPublishing`] unless its publisher has pushed nothing for
    /// `publisher_idle_takeover`: then the newcomer takes over and the old publisher's
    /// [`kicked`](Publisher::kicked) resolves.
    pub fn publish(&self, key: StreamKey, info: PublisherInfo) -> Result<Publisher, PublishError> {
        let inner = &self.inner;
        let now = Instant::now();
        let mut map = inner.streams.lock();
        let stream = match map.get(&key) {
            Some(stream) => Arc::clone(stream),
            None => {
                if map.len() >= inner.config.max_streams {
                    warn!(stream = %key, max = inner.config.max_streams, "publish refused: too many streams");
                    return Err(PublishError::TooManyStreams {
                        max: inner.config.max_streams,
                    });
                }
                let stream = Arc::new(Stream::new(key.clone(), &inner.config));
                map.insert(key.clone(), Arc::clone(&stream));
                stream
            }
        };
        let mut st = stream.state.lock();
        if let Some(current) = &st.publisher {
            let idle = now.saturating_duration_since(current.last_push);
            if current.info.relay && !info.relay {
                info!(stream = %key, addr = %info.remote_addr, "publisher replaces the stream's relay from another node");
            } else if idle < inner.config.publisher_idle_takeover {
                info!(stream = %key, addr = %info.remote_addr, "publish refused: already publishing");
                return Err(PublishError::AlreadyPublishing {
                    key: key.to_string(),
                });
            } else {
                info!(stream = %key, addr = %info.remote_addr, idle_ms = idle.as_millis(), "idle publisher taken over");
            }
            if let Some(old) = st.publisher.take() {
                old.kick();
            }
        } else if st.grace_of.is_some() {
            info!(stream = %key, addr = %info.remote_addr, "publisher back within the grace period");
        } else {
            info!(stream = %key, addr = %info.remote_addr, protocol = info.protocol, "publish started");
        }
        let (session, kicked) = stream.attach(&mut st, info, now);
        drop(st);
        drop(map);
        Ok(Publisher::new(
            Arc::clone(&stream),
            Arc::downgrade(inner),
            session,
            kicked,
        ))
    }

    /// Attaches a subscriber to a live stream (or one in its grace period).
    ///
    /// The subscriber first receives the metadata and sequence headers, then what `opts.start` asks for, then
    /// the live frames; the snapshot and the live position are taken atomically with respect to pushes.
    pub fn subscribe(
        &self,
        key: &StreamKey,
        opts: SubscribeOptions,
    ) -> Result<Subscriber, SubscribeError> {
        let map = self.inner.streams.lock();
        let Some(stream) = map.get(key).map(Arc::clone) else {
            debug!(stream = %key, "subscribe refused: not found");
            return Err(SubscribeError::NotFound {
                key: key.to_string(),
            });
        };
        let protocol = Protocol::from_name(opts.protocol);
        let mut st = stream.state.lock();
        let reader = Reader::start(&stream.ring.read(), &st.gop, opts.start);
        st.add_player(protocol);
        drop(st);
        drop(map);
        debug!(stream = %key, protocol = opts.protocol, start = ?opts.start, "subscribed");
        Ok(Subscriber::new(
            stream,
            Arc::downgrade(&self.inner),
            protocol,
            reader,
        ))
    }

    /// Statistics of every stream, sorted by key.
    pub fn list(&self) -> Vec<StreamStats> {
        let mut streams: Vec<Arc<Stream>> = self.inner.streams.lock().values().cloned().collect();
        streams.sort_by(|a, b| a.key.cmp(&b.key));
        streams.iter().map(|s| s.stats()).collect()
    }

    /// Statistics of one stream.
    pub fn get(&self, key: &StreamKey) -> Option<StreamStats> {
        let stream = self.inner.streams.lock().get(key).cloned()?;
        Some(stream.stats())
    }

    /// Detaches the publisher of `key` (its [`kicked`](Publisher::kicked) resolves, its later pushes are
    /// ignored); the subscribers then wait out the grace period. `false` if the stream has no publisher.
    pub fn kick(&self, key: &StreamKey) -> bool {
        let mut map = self.inner.streams.lock();
        let Some(stream) = map.get(key).cloned() else {
            return false;
        };
        let mut st = stream.state.lock();
        let Some(publisher) = st.publisher.take() else {
            return false;
        };
        info!(stream = %key, "publisher kicked");
        let session = publisher.session;
        publisher.kick();
        self.inner.end_session(&mut map, &stream, &mut st, session);
        true
    }

    /// Totals over the hub's life: live streams, publishers and players now, and the byte and frame counters
    /// of every stream that ever ran (monotonic, for Prometheus counters).
    pub fn totals(&self) -> Totals {
        let streams = self.list();
        let r = &self.inner.retired;
        let mut t = Totals {
            streams: streams.len() as u64,
            bytes_in: r.bytes_in.load(Ordering::Relaxed),
            bytes_out: r.bytes_out.load(Ordering::Relaxed),
            frames_in: r.frames_in.load(Ordering::Relaxed),
            dropped_frames: r.dropped_frames.load(Ordering::Relaxed),
            ..Totals::default()
        };
        for s in &streams {
            t.publishers += u64::from(s.publisher.is_some());
            t.players.rtmp += s.players.rtmp;
            t.players.flv += s.players.flv;
            t.players.other += s.players.other;
            t.players.total += s.players.total;
            t.players.relays += s.players.relays;
            t.bytes_in += s.bytes_in;
            t.bytes_out += s.bytes_out;
            t.frames_in += s.frames_in;
            t.dropped_frames += s.dropped_frames;
        }
        t
    }

    /// The bounds in use.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// What the hub's user keeps with the live stream `key` (created by `init` on first use; see
    /// [`Publisher::attachment`]). It lives as long as the stream does: a stream that leaves the hub and is
    /// published again starts with a new one. `None` when the stream is not in the hub, or when a value of
    /// another type was attached to it first (one user, one type).
    pub fn attachment<T: std::any::Any + Send + Sync>(
        &self,
        key: &StreamKey,
        init: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        let stream = self.inner.streams.lock().get(key).cloned()?;
        stream.attachment.get_or_init(init)
    }

    /// Every stream in the hub that has an attachment of type `T`, with it.
    pub fn attachments<T: std::any::Any + Send + Sync>(&self) -> Vec<(StreamKey, Arc<T>)> {
        let streams: Vec<Arc<Stream>> = self.inner.streams.lock().values().cloned().collect();
        streams
            .iter()
            .filter_map(|s| Some((s.key.clone(), s.attachment.get::<T>()?)))
            .collect()
    }
}

impl Inner {
    /// The publisher of `session` is going away (dropped): unless it was already replaced, the stream enters
    /// its grace period.
    pub(crate) fn unpublish(self: &Arc<Self>, stream: &Arc<Stream>, session: u64) {
        let mut map = self.streams.lock();
        let mut st = stream.state.lock();
        if !st.is_current(session) {
            return;
        }
        st.publisher = None;
        info!(stream = %stream.key, "publisher left");
        self.end_session(&mut map, stream, &mut st, session);
    }

    /// A subscriber left; a stream with neither publisher nor subscribers goes away at once.
    pub(crate) fn detach_subscriber(&self, stream: &Arc<Stream>, protocol: Protocol) {
        let mut map = self.streams.lock();
        let mut st = stream.state.lock();
        st.remove_player(protocol);
        if st.publisher.is_none() && st.players.total == 0 && !st.closed {
            info!(stream = %stream.key, "stream ended: publisher gone and no subscribers left");
            stream.close(&mut st);
            self.remove(&mut map, stream, &st);
        }
    }

    /// The publisher of `session` was detached: close now if nobody watches, else start the grace timer.
    fn end_session(
        self: &Arc<Self>,
        map: &mut HashMap<StreamKey, Arc<Stream>>,
        stream: &Arc<Stream>,
        st: &mut State,
        session: u64,
    ) {
        let grace = st.grace.unwrap_or(self.config.republish_grace);
        if st.players.total == 0 || grace.is_zero() {
            info!(stream = %stream.key, "stream ended");
            stream.close(st);
            self.remove(map, stream, st);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!(stream = %stream.key, "no tokio runtime for the grace timer: stream ended without grace");
            stream.close(st);
            self.remove(map, stream, st);
            return;
        };
        st.grace_of = Some(session);
        let registry = Arc::downgrade(self);
        let weak_stream = Arc::downgrade(stream);
        runtime.spawn(async move {
            tokio::time::sleep(grace).await;
            let Some(stream) = weak_stream.upgrade() else {
                return;
            };
            match registry.upgrade() {
                Some(registry) => registry.expire(&stream, session),
                None => expire_orphan(&stream, session),
            }
        });
    }

    /// The grace timer of `session` fired: end the stream unless a publisher came back.
    fn expire(&self, stream: &Arc<Stream>, session: u64) {
        let mut map = self.streams.lock();
        let mut st = stream.state.lock();
        if st.publisher.is_none() && st.grace_of == Some(session) && !st.closed {
            info!(stream = %stream.key, "stream ended: publisher did not come back within the grace period");
            stream.close(&mut st);
            self.remove(&mut map, stream, &st);
        }
    }
}

/// The grace timer fired after the registry was dropped.
fn expire_orphan(stream: &Stream, session: u64) {
    let mut st = stream.state.lock();
    if st.publisher.is_none() && st.grace_of == Some(session) {
        stream.close(&mut st);
    }
}

impl Inner {
    /// Removes `stream` from the map if the map still holds this very stream under its key, keeping its
    /// counters in the hub's totals.
    fn remove(&self, map: &mut HashMap<StreamKey, Arc<Stream>>, stream: &Arc<Stream>, st: &State) {
        if map.get(&stream.key).is_some_and(|s| Arc::ptr_eq(s, stream)) {
            map.remove(&stream.key);
            let r = &self.retired;
            r.bytes_in.fetch_add(st.meter.bytes_in, Ordering::Relaxed);
            r.frames_in.fetch_add(st.meter.frames_in, Ordering::Relaxed);
            r.bytes_out
                .fetch_add(stream.bytes_out.load(Ordering::Relaxed), Ordering::Relaxed);
            r.dropped_frames.fetch_add(
                stream.dropped_frames.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
        }
    }
}

/// Counters of the streams that have ended, so the hub's totals never go backwards.
#[derive(Debug, Default)]
struct Retired {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    frames_in: AtomicU64,
    dropped_frames: AtomicU64,
}
