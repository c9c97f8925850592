//! What the store keeps and answers: node records, stream claims, the outcomes of claim operations and the
//! control messages. Node records and control messages travel as JSON; claims are Redis hashes of strings.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// One node as the others see it: where to reach it and how busy it is. Stored as JSON under
/// `mplive:node:{id}` with a TTL, so a node that stops refreshing disappears on its own.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeRecord {
    /// The node's id, unique in the cluster.
    pub(crate) id: String,
    /// Its RTMP address for relays, `host:port`.
    pub(crate) rtmp: String,
    /// Its HTTP address, `host:port`.
    pub(crate) http: String,
    /// The mplive version it runs.
    pub(crate) version: String,
    /// When it started, Unix ms.
    pub(crate) started_at_ms: i64,
    /// When the node wrote this record, Unix ms (its clock): a record whose node missed heartbeats is still
    /// listed until its TTL, but is not worth sending a new client to.
    #[serde(default)]
    pub(crate) heartbeat_at_ms: i64,
    /// How busy it is.
    pub(crate) load: NodeLoad,
    /// The streams it carries (published there, or relayed in).
    pub(crate) streams: Vec<NodeStream>,
}

/// A node's load, for choosing where to send players and for the console.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeLoad {
    /// Live streams on the node.
    pub(crate) streams: u64,
    /// Players of all protocols.
    pub(crate) players: u64,
    /// Outgoing media, Mbit/s.
    pub(crate) egress_mbps: f64,
    /// Process CPU use, percent of one core.
    pub(crate) cpu_percent: f64,
}

/// One stream on a node.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeStream {
    /// The app name.
    pub(crate) app: String,
    /// The stream name.
    pub(crate) stream: String,
    /// Whether the publisher is on this node (else the stream is relayed in from its origin).
    pub(crate) origin: bool,
    /// Players of all protocols.
    pub(crate) players: u64,
    /// RTMP players.
    pub(crate) rtmp_players: u64,
    /// HTTP-FLV players.
    pub(crate) flv_players: u64,
    /// HLS players.
    pub(crate) hls_players: u64,
    /// The origin's statistics of the stream (the API's stream view), on the origin's record only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stats: Option<serde_json::Value>,
}

/// Who publishes a stream, cluster-wide. Stored as the hash `mplive:stream:{app}/{stream}` with a TTL.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The node holding the publisher.
    pub(crate) node: String,
    /// The publish session on that node.
    pub(crate) session: String,
    /// When the claim was taken, Unix ms (the claiming node's clock).
    pub(crate) claimed_at_ms: i64,
    /// When media last flowed, Unix ms (the holder's clock); an old value marks an idle publisher.
    pub(crate) media_at_ms: i64,
}

impl Claim {
    /// Parses the four claim fields `[node, session, claimed_at_ms, media_at_ms]` as the scripts return them.
    /// `key` names the claim in the error.
    pub(super) fn from_fields(key: &str, fields: &[String]) -> Result<Claim, StoreError> {
        let corrupt = |why: String| StoreError::Corrupt {
            key: key.to_owned(),
            why,
        };
        let [node, session, claimed_at_ms, media_at_ms] = fields else {
            return Err(corrupt(format!(
                "expected 4 claim fields (node, session, claimed_at_ms, media_at_ms), got {}: {fields:?}",
                fields.len()
            )));
        };
        if node.is_empty() {
            return Err(corrupt("the claim has no node".to_owned()));
        }
        let millis = |name: &str, value: &str| {
            value.parse::<i64>().map_err(|_| {
                corrupt(format!(
                    "{name} is not a Unix time in ms: {value:?} (node {node:?})"
                ))
            })
        };
        Ok(Claim {
            node: node.clone(),
            session: session.clone(),
            claimed_at_ms: millis("claimed_at_ms", claimed_at_ms)?,
            media_at_ms: millis("media_at_ms", media_at_ms)?,
        })
    }
}

/// What [`Store::claim`](super::Store::claim) did.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimOutcome {
    /// The stream was free, or already held by this node: the claim is now ours.
    Claimed,
    /// Another node held it, but that node is gone or its publisher idle: the claim is now ours.
    TookOver {
        /// The claim replaced (the caller kicks that publisher).
        from: Claim,
    },
    /// Another live node holds it with media flowing: the claim is unchanged.
    Busy {
        /// The claim in place.
        holder: Claim,
    },
}

/// What [`Store::refresh`](super::Store::refresh) found.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefreshOutcome {
    /// The claim is ours; its TTL is renewed.
    Held,
    /// The claim had vanished (expired, or Redis restarted empty); it is ours again.
    Restored,
    /// Someone else holds it now; it is unchanged and our publisher should stop.
    Lost {
        /// The claim in place.
        holder: Claim,
    },
}

/// A message to every node, on the pub/sub channel `mplive:control`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ControlMessage {
    /// End the publisher of a stream wherever it is.
    Kick {
        /// The app name.
        app: String,
        /// The stream name.
        stream: String,
        /// Why: `"kick"`, `"forbid"` or `"takeover"`.
        reason: String,
    },
    /// The catalog (apps, keys, forbids) changed: reload it.
    Catalog,
}
