//! This node's record in Redis: its addresses, version and load, and the streams it serves with their players,
//! written every `heartbeat_ms` with a TTL of `node_ttl_ms`, so a dead node leaves the list on its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

use super::store::{NodeLoad, NodeRecord, NodeStream};
use super::Cluster;

/// Turns the hub's byte counter and the process's CPU time into rates between two heartbeats.
#[derive(Debug, Default)]
pub(super) struct LoadMeter {
    last: Option<(Instant, u64, Option<f64>)>,
}

impl LoadMeter {
    /// Egress in Mbit/s and CPU in percent of one core since the last call (zero at the first).
    fn rates(&mut self, bytes_out: u64) -> (f64, f64) {
        let now = Instant::now();
        let cpu = crate::ops::process::cpu_seconds();
        let rates = match self.last {
            Some((then, bytes, cpu_then)) => {
                let secs = now.duration_since(then).as_secs_f64().max(1e-3);
                let mbps = bytes_out.saturating_sub(bytes) as f64 * 8.0 / secs / 1e6;
                let cpu = match (cpu, cpu_then) {
                    (Some(now), Some(then)) => (now - then).max(0.0) / secs * 100.0,
                    _ => 0.0,
                };
                (mbps, cpu)
            }
            None => (0.0, 0.0),
        };
        self.last = Some((now, bytes_out, cpu));
        rates
    }
}

impl Cluster {
    /// This node's record now.
    pub(super) fn record(&self, meter: &mut LoadMeter) -> NodeRecord {
        let totals = self.registry.totals();
        let (egress_mbps, cpu_percent) = meter.rates(totals.bytes_out);
        let mut streams = Vec::new();
        let mut players = 0;
        let entries: std::collections::HashMap<_, _> = self
            .registry
            .attachments::<crate::stream::entry::StreamEntry>()
            .into_iter()
            .collect();
        for s in self.registry.list() {
            let entry = entries
                .get(&media::StreamKey::new(s.app.clone(), s.stream.clone()))
                .map(AsRef::as_ref);
            let (classic, low_latency) = entry.map_or((0, 0), crate::http::hls::viewers_by_variant);
            let hls = classic + low_latency;
            let origin = s
                .publisher
                .as_ref()
                .is_some_and(|p| p.protocol != super::relay::PROTOCOL);
            let viewers = s.players.rtmp + s.players.flv + hls;
            players += viewers;
            streams.push(NodeStream {
                app: s.app.clone(),
                stream: s.stream.clone(),
                origin,
                players: viewers,
                rtmp_players: s.players.rtmp,
                flv_players: s.players.flv,
                hls_players: hls,
                stats: origin.then(|| {
                    let view = crate::stream::view::StreamView::new(&s, entry);
                    serde_json::to_value(view).unwrap_or_default()
                }),
            });
        }
        NodeRecord {
            id: self.node.clone(),
            rtmp: self.rtmp.clone(),
            http: self.http.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at_ms: self.started_at_ms,
            heartbeat_at_ms: control::now_ms(),
            load: NodeLoad {
                streams: totals.streams,
                players,
                egress_mbps,
                cpu_percent,
            },
            streams,
        }
    }
}

/// Writes this node's record every `heartbeat_ms` until shutdown, then removes it.
pub(super) async fn heartbeat(cluster: Arc<Cluster>) {
    let mut meter = LoadMeter::default();
    let mut tick = tokio::time::interval(Duration::from_millis(cluster.settings.heartbeat_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cluster.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let record = cluster.record(&mut meter);
        match cluster
            .store
            .register_node(&record, cluster.node_ttl())
            .await
        {
            Ok(()) => cluster.redis_answered(true, "heartbeat", None),
            Err(e) => {
                cluster.redis_answered(false, "heartbeat", Some(&e));
                continue;
            }
        }
        match cluster.store.node_count().await {
            Ok(count) => cluster.metrics.set_cluster_nodes(count),
            Err(e) => warn!("cluster: cannot count the nodes: {e}"),
        }
    }
    cluster.leave().await;
}
