//! The publishing side of a stream.

use std::future::Future;
use std::sync::{Arc, Weak};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::frame::Frame;
use crate::key::StreamKey;
use crate::registry::Inner;
use crate::stream::Stream;

/// Who publishes, for statistics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherInfo {
    /// The remote address of the publishing connection.
    pub remote_addr: String,
    /// The protocol it publishes with (`"rtmp"`, ...).
    pub protocol: &'static str,
    /// How long subscribers wait for this publisher to come back after it leaves; `None` keeps the hub's
    /// `republish_grace` (an app's policy may set its own).
    pub republish_grace: Option<std::time::Duration>,
    /// When the publish started, in Unix milliseconds (the stream's `started_at_ms`): the caller reads the wall
    /// clock, the hub does not.
    pub started_at_ms: u64,
    /// A relay of the stream from another node of a cluster, not a client: any other publish of the stream
    /// replaces it at once (the real publisher moved here), whether it is idle or not.
    pub relay: bool,
}

/// The right to push frames into a stream, owned by the publishing connection. Dropping it unpublishes (the
/// stream's subscribers then wait out the grace period).
///
/// After a takeover or [`Registry::kick`](crate::Registry::kick) it is detached: [`kicked`](Publisher::kicked)
/// resolves, pushes are ignored and dropping it does nothing to the stream.
#[derive(Debug)]
pub struct Publisher {
    stream: Arc<Stream>,
    registry: Weak<Inner>,
    session: u64,
    kicked: watch::Receiver<bool>,
}

impl Publisher {
    pub(crate) fn new(
        stream: Arc<Stream>,
        registry: Weak<Inner>,
        session: u64,
        kicked: watch::Receiver<bool>,
    ) -> Publisher {
        Publisher {
            stream,
            registry,
            session,
            kicked,
        }
    }

    /// Publishes a frame: updates statistics, headers and GOP cache, and makes it available to every
    /// subscriber. Never blocks on or waits for a subscriber. Ignored once this publisher was kicked.
    ///
    /// Timestamps are moved onto the hub timeline (unchanged for the first session of a stream); video frames
    /// of a session before its first keyframe are counted but not forwarded.
    pub fn push(&mut self, frame: Frame) {
        let now = Instant::now();
        {
            let mut st = self.stream.state.lock();
            let Some(slot) = st.publisher.as_mut().filter(|p| p.session == self.session) else {
                return;
            };
            slot.last_push = now;
            self.stream.push(&mut st, frame, now);
        }
        self.stream.notify.notify_waiters();
    }

    /// Resolves when this publisher was detached: another publisher took over an idle stream, or
    /// [`Registry::kick`](crate::Registry::kick). The connection should then close.
    pub fn kicked(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut kicked = self.kicked.clone();
        async move {
            // An error means the slot was dropped, which also means this publisher is no longer attached.
            let _ = kicked.wait_for(|k| *k).await;
        }
    }

    /// Whether this publisher was detached (see [`kicked`](Publisher::kicked)).
    pub fn is_kicked(&self) -> bool {
        *self.kicked.borrow()
    }

    /// The stream it publishes.
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

impl Drop for Publisher {
    fn drop(&mut self) {
        match self.registry.upgrade() {
            Some(registry) => registry.unpublish(&self.stream, self.session),
            None => {
                let mut st = self.stream.state.lock();
                if st.is_current(self.session) {
                    self.stream.close(&mut st);
                }
            }
        }
    }
}
