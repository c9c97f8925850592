//! An in-memory snapshot of apps and forbids that the server reads synchronously on every connect, kept fresh
//! by polling the store's revision.
//!
//! Readers clone an `Arc` of the current snapshot under a short lock and never hold the lock across an await; a
//! reload builds a whole new snapshot and swaps it in. That is how a server sees `mplive app set ...` run by
//! another process within one polling period, without a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::store::{chain, App, Forbid, Store, StoreError};

/// The apps and forbids at one revision of the store.
#[derive(Debug, Default)]
struct Snapshot {
    /// The store's revision read before the data, so a change made during the read shows as a newer revision.
    revision: i64,
    by_name: HashMap<String, Arc<App>>,
    by_id: HashMap<String, Arc<App>>,
    /// Forbids by app id, then stream.
    forbids: HashMap<String, HashMap<String, Forbid>>,
}

/// The server's view of apps and forbids. Cloning is cheap; clones share the snapshot.
#[derive(Clone, Debug)]
pub struct Catalog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serializes reloads, so an older read can never replace a newer one.
    reloading: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// Reads apps and forbids from `store`.
    pub async fn load(store: Store) -> Result<Catalog, StoreError> {
        let catalog = Catalog {
            inner: Arc::new(Inner {
                store,
                snapshot: RwLock::new(Arc::new(Snapshot::default())),
                reloading: tokio::sync::Mutex::new(()),
            }),
        };
        catalog.reload().await?;
        Ok(catalog)
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        // The guard is a temporary of this statement: the lock is released before the caller continues.
        self.inner.snapshot.read().clone()
    }

    /// The app with this RTMP application name.
    pub fn app(&self, name: &str) -> Option<Arc<App>> {
        self.snapshot().by_name.get(name).cloned()
    }

    /// The app with this id, or else with this name.
    pub fn app_by_id_or_name(&self, id_or_name: &str) -> Option<Arc<App>> {
        let snapshot = self.snapshot();
        snapshot
            .by_id
            .get(id_or_name)
            .or_else(|| snapshot.by_name.get(id_or_name))
            .cloned()
    }

    /// The forbid that refuses publishing `stream` of the app at `now_ms`, if any.
    pub fn forbidden(&self, app_id: &str, stream: &str, now_ms: i64) -> Option<Forbid> {
        let snapshot = self.snapshot();
        let forbid = snapshot.forbids.get(app_id)?.get(stream)?;
        (forbid.until_ms > now_ms).then(|| forbid.clone())
    }

    /// Every app, sorted by name.
    pub fn apps(&self) -> Vec<Arc<App>> {
        let mut apps: Vec<_> = self.snapshot().by_name.values().cloned().collect();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        apps
    }

    /// The store revision the snapshot was read at.
    pub fn revision(&self) -> i64 {
        self.snapshot().revision
    }

    /// The store the catalog reads.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Re-reads apps and forbids now.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let store = &self.inner.store;
        let revision = store.revision().await?;
        let apps = store.apps().await?;
        let forbids = store.forbids(now_ms()).await?;

        let mut snapshot = Snapshot {
            revision,
            ..Snapshot::default()
        };
        for app in apps {
            let app = Arc::new(app);
            snapshot.by_id.insert(app.id.clone(), app.clone());
            snapshot.by_name.insert(app.name.clone(), app);
        }
        for forbid in forbids {
            snapshot
                .forbids
                .entry(forbid.app_id.clone())
                .or_default()
                .insert(forbid.stream.clone(), forbid);
        }
        *self.inner.snapshot.write() = Arc::new(snapshot);
        Ok(())
    }

    /// Reloads if the store's revision differs from the snapshot's; `true` if it reloaded.
    pub async fn refresh_if_changed(&self) -> Result<bool, StoreError> {
        let revision = self.inner.store.revision().await?;
        if revision == self.revision() {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Runs [`refresh_if_changed`](Self::refresh_if_changed) every `every` until `cancel` fires. Errors are logged
    /// (once when they start or change, then every minute while they last) and the loop keeps going, serving
    /// the last good snapshot meanwhile.
    pub fn spawn_refresh(
        &self,
        every: Duration,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let catalog = self.clone();
        tokio::spawn(async move {
            // interval() panics on a zero period; a floor also keeps a misconfiguration from hammering the DB.
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing: Option<(String, tokio::time::Instant)> = None;
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                match catalog.refresh_if_changed().await {
                    Ok(reloaded) => {
                        if failing.take().is_some() {
                            tracing::info!("catalog refresh works again");
                        }
                        if reloaded {
                            tracing::debug!(revision = catalog.revision(), "catalog reloaded");
                        }
                    }
                    Err(e) => {
                        let message = chain(&e);
                        let now = tokio::time::Instant::now();
                        let repeat = matches!(&failing, Some((last, since))
                            if *last == message && now.duration_since(*since) < Duration::from_secs(60));
                        if !repeat {
                            tracing::warn!(error = %message, "cannot refresh the app catalog; serving the last one read");
                            failing = Some((message, now));
                        }
                    }
                }
            }
        })
    }
}
