//! What the API shows of the cluster: the nodes, every live stream of every node with its origin and its players
//! summed over nodes, and which node a publisher should be sent to (the least loaded live one).

use std::collections::BTreeMap;

use control::urls::UrlBase;
use serde_json::{json, Value};

use super::store::{NodeRecord, StoreError};
use super::Cluster;

/// The live nodes and which one is this.
pub(crate) struct NodeList {
    /// This node's id.
    pub(crate) this_node: String,
    /// Every live node, sorted by id.
    pub(crate) nodes: Vec<NodeRecord>,
}

/// One stream as the nodes' records tell it: the origin's statistics, the origin, each node's players.
type Gathered = (Option<Value>, Option<String>, Vec<Value>);

/// Splits an advertised `host:port` (`[v6]:port` too).
fn host_port(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

impl Cluster {
    /// The live nodes.
    pub(crate) async fn node_list(&self) -> Result<NodeList, StoreError> {
        Ok(NodeList {
            this_node: self.node.clone(),
            nodes: self.store.nodes().await?,
        })
    }

    /// The URL base of the node a new publisher or viewer should go to: the live node with the fewest streams and players
    /// (the lowest id on a tie) among those whose last heartbeat is recent, keeping `base`'s scheme. `base` itself when Redis does not
    /// answer, so the SDK endpoints keep working on one node's knowledge.
    pub(crate) async fn least_loaded_base(&self, base: &UrlBase) -> UrlBase {
        let nodes = match self.store.nodes().await {
            Ok(nodes) => nodes,
            Err(_) => return base.clone(),
        };
        // A node that missed two heartbeats (killed, most likely) is listed until its record expires, but a client
        // sent there would fail and come back only at its next refresh.
        let fresh_since = control::now_ms()
            - i64::try_from(self.settings.heartbeat_ms.saturating_mul(2) + 500).unwrap_or(i64::MAX);
        let best = nodes
            .iter()
            .filter(|n| n.heartbeat_at_ms >= fresh_since || n.id == self.node)
            .min_by_key(|n| (n.load.streams + n.load.players, n.id.clone()));
        let Some(best) = best else {
            return base.clone();
        };
        match (host_port(&best.rtmp), host_port(&best.http)) {
            (Some((host, rtmp_port)), Some((_, http_port))) => UrlBase {
                host,
                rtmp_port,
                http_port,
                https: base.https,
            },
            _ => base.clone(),
        }
    }

    /// Every stream live on any node: the origin's statistics (`app`, `stream`, `state`, codecs, bitrates, ...)
    /// with `origin` (the node that holds the publisher), `players` summed over nodes and `nodes` (each node's
    /// players of it). Sorted by app and stream.
    pub(crate) async fn streams(&self) -> Result<Vec<Value>, StoreError> {
        let nodes = self.store.nodes().await?;
        let mut streams: BTreeMap<(String, String), Gathered> = BTreeMap::new();
        for node in &nodes {
            for s in &node.streams {
                let entry = streams
                    .entry((s.app.clone(), s.stream.clone()))
                    .or_default();
                if s.origin {
                    entry.0 = s.stats.clone();
                    entry.1 = Some(node.id.clone());
                }
                entry.2.push(json!({
                    "node": node.id,
                    "players": s.players,
                    "rtmpPlayers": s.rtmp_players,
                    "flvPlayers": s.flv_players,
                    "hlsPlayers": s.hls_players,
                }));
            }
        }
        let mut out = Vec::with_capacity(streams.len());
        for ((app, stream), (stats, origin, per_node)) in streams {
            // A stream only relayed (its origin's record not yet written, or its node just died) still shows.
            let mut view = stats.unwrap_or_else(|| {
                serde_json::to_value(crate::stream::view::StreamView::unknown(&app, &stream))
                    .unwrap_or_default()
            });
            let total: u64 = per_node
                .iter()
                .filter_map(|n| n.get("players").and_then(Value::as_u64))
                .sum();
            if let Some(object) = view.as_object_mut() {
                object.insert("origin".into(), json!(origin));
                object.insert("clusterPlayers".into(), json!(total));
                object.insert("nodes".into(), Value::Array(per_node));
            }
            out.push(view);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn advertised_addresses_split() {
        assert_eq!(host_port("10.0.0.1:1935"), Some(("10.0.0.1".into(), 1935)));
        assert_eq!(host_port("[::1]:8080"), Some(("::1".into(), 8080)));
        assert_eq!(host_port("web1"), None);
    }
}
