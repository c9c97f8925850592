//! The stream lifecycle every protocol driver goes through (`lifecycle`), the access decisions it runs
//! (`access`), the one typed refusal it answers with (`refusal`), what the server keeps per live stream
//! (`entry`), and the health rules watching each publish (`health`).

pub(crate) mod access;
pub(crate) mod entry;
pub(crate) mod followers;
pub(crate) mod health;
pub(crate) mod history;
pub(crate) mod lifecycle;
pub(crate) mod refusal;
pub(crate) mod view;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::cluster::Cluster;
use crate::ops::metrics::Metrics;
use crate::ops::webhooks::Webhooks;
use followers::Follower;

/// The stream service: the hub and what the lifecycle decides with (apps and keys, webhooks, metrics, the
/// followers of a publish). Drivers, HLS, the recorder and the API hold it; it holds none of them, except the
/// followers it tells of each publish.
pub(crate) struct Streams {
    /// The hub: every live stream.
    pub(crate) registry: media::Registry,
    /// Apps, keys and forbids, read without waiting on the database.
    pub(crate) catalog: control::Catalog,
    pub(crate) webhooks: Webhooks,
    pub(crate) metrics: Arc<Metrics>,
    /// How long `live` players' frames are merged into one write (each stream's players' group uses it).
    pub(crate) merge_window: Duration,
    /// The longest validity a signed URL may claim (`max_url_ttl_secs`).
    pub(crate) max_url_ttl_secs: u64,
    /// Told of every publish start and end, in this order; emptied at shutdown (followers hold the service).
    followers: RwLock<Vec<Arc<dyn Follower>>>,
    /// Cluster mode: claims each publish cluster-wide and pulls a stream held by another node for a local play.
    pub(crate) cluster: Option<Arc<Cluster>>,
    /// The health rules every publish is watched with (`[health]`).
    pub(crate) health: media::health::HealthConfig,
}

impl Streams {
    pub(crate) fn new(
        registry: media::Registry,
        catalog: control::Catalog,
        webhooks: Webhooks,
        metrics: Arc<Metrics>,
        merge_window: Duration,
        max_url_ttl_secs: u64,
        cluster: Option<Arc<Cluster>>,
    ) -> Streams {
        Streams {
            registry,
            catalog,
            webhooks,
            metrics,
            merge_window,
            max_url_ttl_secs,
            followers: RwLock::new(Vec::new()),
            cluster,
            health: media::health::HealthConfig::default(),
        }
    }

    /// With these health rules instead of the defaults.
    pub(crate) fn with_health(mut self, health: media::health::HealthConfig) -> Streams {
        self.health = health;
        self
    }

    /// Adds a follower of every publish from now on.
    pub(crate) fn follow(&self, follower: Arc<dyn Follower>) {
        self.followers.write().push(follower);
    }

    /// The followers now (a copy: they are called without the lock).
    pub(crate) fn followers(&self) -> Vec<Arc<dyn Follower>> {
        self.followers.read().clone()
    }

    /// Drops the followers, which hold this service: called at shutdown so both can be freed.
    pub(crate) fn unfollow_all(&self) {
        self.followers.write().clear();
    }
}
