//! Cluster mode: several `mplive serve` nodes on one PostgreSQL (what lasts) and one Redis (what is live).
//!
//! Each node registers itself in Redis with its advertised addresses and load (`node`), claims every stream it
//! publishes so that a stream has one publisher cluster-wide (`claims`), pulls a stream it does not hold from the
//! node that does when a local player asks for it (`relay`, one relay per stream per node, with a cluster
//! credential from `credential`), and acts on kicks, forbids and app changes sent by other nodes over Redis
//! pub/sub (`remote`). `store` is the Redis side, each rule one atomic script; it also holds the rooms' shared state
//! (`store/room_state.rs`: which node hosts a room, its members, the quota, the replay memory). Without `redis_url`, none of this
//! runs. `docs/cluster.md` has the keys, their TTLs and what happens on each failure.

pub(crate) mod claims;
pub(crate) mod credential;
mod node;
pub(crate) mod relay;
mod remote;
mod settings;
pub(crate) mod store;
pub(crate) mod view;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use media::{Registry, StreamKey};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use settings::ClusterSettings;

use crate::ops::metrics::Metrics;
use store::Store;

/// The cluster service of one node: its identity, the Redis store, the claims it holds and the relays it runs.
pub(crate) struct Cluster {
    pub(crate) store: Store,
    /// This node's id (`--node-id`).
    pub(crate) node: String,
    /// Where other nodes and clients reach this node's RTMP listener (`host:port`).
    pub(crate) rtmp: String,
    /// Where they reach its HTTP listener (`host:port`).
    pub(crate) http: String,
    started_at_ms: i64,
    /// Signs and checks the relays' credential; shared by every node through Redis.
    secret: Vec<u8>,
    pub(crate) settings: ClusterSettings,
    registry: Registry,
    catalog: control::Catalog,
    metrics: Arc<Metrics>,
    session_config: rtmp::SessionConfig,
    /// The `live` players' merge window, for the players' group of a relayed stream.
    merge_window: Duration,
    /// The streams this node publishes, with their claim.
    claims: Mutex<HashMap<StreamKey, claims::LocalClaim>>,
    /// The relays running (or starting) on this node.
    relays: Mutex<HashMap<StreamKey, relay::Handle>>,
    /// Whether Redis answered the last time it was asked.
    up: AtomicBool,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// What a node needs to join the cluster.
pub(crate) struct Join<'a> {
    pub(crate) settings: &'a ClusterSettings,
    pub(crate) node: String,
    pub(crate) rtmp: String,
    pub(crate) http: String,
    pub(crate) registry: Registry,
    pub(crate) catalog: control::Catalog,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) session_config: rtmp::SessionConfig,
    pub(crate) merge_window: Duration,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

/// Redis could not be used when the node started.
#[derive(Debug, thiserror::Error)]
#[error(
    "cluster: {0} (is redis-server running at the redis_url given? `redis-cli -u URL ping` tells)"
)]
pub struct JoinError(String);

impl Cluster {
    /// Connects to Redis, agrees on the cluster secret, registers this node and starts its heartbeat, the claim
    /// refresher and the control listener.
    pub(crate) async fn join(join: Join<'_>) -> Result<Arc<Cluster>, JoinError> {
        let settings = join.settings;
        let url = settings.redis_url.as_deref().unwrap_or_default();
        let store = Store::connect(url)
            .await
            .map_err(|e| JoinError(e.to_string()))?;
        let candidate = match &settings.secret {
            Some(s) => s.clone(),
            None => format!(
                "{:032x}{:032x}",
                rand::random::<u128>(),
                rand::random::<u128>()
            ),
        };
        let secret = store
            .cluster_secret(&candidate)
            .await
            .map_err(|e| JoinError(e.to_string()))?;
        if settings.secret.as_ref().is_some_and(|s| *s != secret) {
            warn!("cluster: the cluster secret set on this node differs from the one the cluster uses; using the cluster's (relays would be refused otherwise)");
        }
        let cluster = Arc::new(Cluster {
            store,
            node: join.node,
            rtmp: join.rtmp,
            http: join.http,
            started_at_ms: control::now_ms(),
            secret: secret.into_bytes(),
            settings: settings.clone(),
            registry: join.registry,
            catalog: join.catalog,
            metrics: join.metrics,
            session_config: join.session_config,
            merge_window: join.merge_window,
            claims: Mutex::new(HashMap::new()),
            relays: Mutex::new(HashMap::new()),
            up: AtomicBool::new(true),
            shutdown: join.shutdown,
            tracker: join.tracker,
        });
        cluster
            .store
            .register_node(
                &cluster.record(&mut node::LoadMeter::default()),
                cluster.node_ttl(),
            )
            .await
            .map_err(|e| JoinError(e.to_string()))?;
        cluster.metrics.set_cluster_up(true);
        // Rooms this node hosted in an earlier run died with it; their members must not block anyone now (a node
        // restarted under the same id within its TTL looks alive to the others).
        match cluster.store.purge_rooms_of(&cluster.node).await {
            Ok(0) => {}
            Ok(n) => {
                info!(node = %cluster.node, rooms = n, "cluster: dropped the rooms this node hosted before it restarted")
            }
            Err(e) => {
                warn!(node = %cluster.node, "cluster: could not drop the rooms this node hosted before it restarted: {e}")
            }
        }
        info!(node = %cluster.node, rtmp = %cluster.rtmp, http = %cluster.http, "joined the cluster");
        cluster.tracker.spawn(node::heartbeat(cluster.clone()));
        cluster.tracker.spawn(claims::refresher(cluster.clone()));
        remote::listen(&cluster);
        Ok(cluster)
    }

    /// Leaves the cluster at a clean shutdown: this node's record goes at once rather than at its TTL.
    pub(crate) async fn leave(&self) {
        if let Err(e) = self.store.remove_node(&self.node).await {
            warn!(node = %self.node, "cluster: could not remove this node's record at shutdown: {e}");
        }
    }

    fn node_ttl(&self) -> Duration {
        Duration::from_millis(self.settings.node_ttl_ms)
    }

    /// Records whether Redis answered; logs the change once, not at every failure.
    fn redis_answered(&self, ok: bool, what: &str, error: Option<&store::StoreError>) {
        let was = self.up.swap(ok, Ordering::Relaxed);
        self.metrics.set_cluster_up(ok);
        match (was, ok) {
            (true, false) => warn!(
                node = %self.node,
                "cluster: Redis does not answer ({what}: {}); local streams go on, new publishes and remote plays are refused until it does",
                error.map(ToString::to_string).unwrap_or_default()
            ),
            (false, true) => info!(node = %self.node, "cluster: Redis answers again ({what})"),
            _ => {}
        }
    }
}
