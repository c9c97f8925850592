//! The cluster's live state in Redis: the node registry, one publisher claim per stream, the control channel and
//! the shared cluster secret. Everything lives under [`PREFIX`].
//!
//! | key | type | what |
//! |---|---|---|
//! | `mplive:node:{id}` | string, TTL | a [`NodeRecord`] as JSON |
//! | `mplive:nodes` | sorted set | node ids scored by expiry (Unix ms, Redis clock), to list without `SCAN` |
//! | `mplive:stream:{app}/{stream}` | hash, TTL | a [`Claim`]: `node`, `session`, `claimed_at_ms`, `media_at_ms` |
//! | `mplive:control` | pub/sub channel | [`ControlMessage`] as JSON |
//! | `mplive:cluster:secret` | string | the cluster secret, first node wins |
//! | `mplive:room...` | | the rooms' homes, members, quota and replay memory (`store/room_state.rs` lists them) |
//!
//! Commands go through one [`ConnectionManager`], which reconnects by itself; each command times out after
//! [`RESPONSE_TIMEOUT`] so a dead Redis fails a caller instead of hanging it. A claim operation is one Lua script
//! (`scripts.rs`), so its read-decide-write is atomic. Errors name the operation and key; values that do not
//! parse come back as [`StoreError::Corrupt`], never as a panic.

mod listen;
mod records;
mod room_state;
mod scripts;
#[cfg(test)]
mod tests;

use std::time::Duration;

use control::now_ms;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

// NodeLoad and NodeStream have no caller in this crate yet besides the tests; the cluster integration builds
// node records from them.
#[allow(unused_imports)]
pub(crate) use records::{
    Claim, ClaimOutcome, ControlMessage, NodeLoad, NodeRecord, NodeStream, RefreshOutcome,
};
pub(crate) use room_state::RoomHome;

/// The prefix of every key and channel, so mplive can share a Redis with other programs.
pub(crate) const PREFIX: &str = "mplive:";

/// How long one command may take before it fails: long enough for a loaded Redis, short enough that a caller on
/// a refresh tick (every ~2 s) is not held past its next tick.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long opening a connection may take (an unreachable host that drops packets rather than refusing).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection manager's retries per reconnect, and their longest delay: few and short, so that `connect`
/// on a dead Redis fails within a few seconds; the next command starts a fresh reconnect anyway.
const RECONNECT_RETRIES: usize = 2;
/// See [`RECONNECT_RETRIES`].
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// A store operation that failed.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub(crate) enum StoreError {
    /// Redis could not be reached or refused the command. The text says what was being done, and on which key.
    #[error("redis: {0}: {1}")]
    Redis(String, #[source] redis::RedisError),
    /// A value in Redis is not what mplive writes there (another program's key, or a version mismatch).
    #[error("redis: the value at {key} is corrupt: {why}")]
    Corrupt {
        /// The key read.
        key: String,
        /// What was wrong with it.
        why: String,
    },
}

/// A handle on the cluster's Redis; cheap to clone (the connection is shared).
#[derive(Clone)]
pub(crate) struct Store {
    /// For the dedicated pub/sub connection of [`Store::listen`].
    client: redis::Client,
    /// Every other command; reconnects by itself after a Redis restart.
    conn: ConnectionManager,
    /// The URL with its password hidden, for messages.
    url: String,
}

impl Store {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`) and checks that it answers.
    pub(crate) async fn connect(url: &str) -> Result<Store, StoreError> {
        let shown = redact(url);
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Redis(format!("unusable Redis URL {shown}"), e))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| StoreError::Redis(format!("connect to {shown}"), e))?;
        Ok(Store {
            client,
            conn,
            url: shown,
        })
    }

    /// Publishes this node's record for `ttl`; called every few seconds, so a node that dies drops out by itself.
    pub(crate) async fn register_node(
        &self,
        record: &NodeRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = node_key(&record.id);
        let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt {
            key: key.clone(),
            why: format!("the node record does not serialize: {e}"),
        })?;
        let _: i64 = Script::new(scripts::REGISTER_NODE)
            .key(&key)
            .key(nodes_key())
            .arg(json)
            .arg(ttl_ms(ttl))
            .arg(&record.id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("register node at {key}"), e))?;
        Ok(())
    }

    /// Removes node `id` at once (a clean shutdown), rather than waiting for its TTL.
    pub(crate) async fn remove_node(&self, id: &str) -> Result<(), StoreError> {
        let key = node_key(id);
        let _: () = redis::pipe()
            .atomic()
            .del(&key)
            .ignore()
            .zrem(nodes_key(), id)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("remove node {key}"), e))?;
        Ok(())
    }

    /// The live nodes, sorted by id. Expired ones are pruned from the listing as a side effect. A record that
    /// does not parse is logged and left out, so one bad entry (say, from a newer version) cannot hide the rest.
    pub(crate) async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let flat: Vec<String> = Script::new(scripts::NODES)
            .key(nodes_key())
            .arg(node_key(""))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("list nodes in {}", nodes_key()), e))?;
        let mut nodes = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            match parse_node(&node_key(&pair[0]), &pair[1]) {
                Ok(node) => nodes.push(node),
                Err(e) => tracing::warn!("cluster: skipping a node record: {e}"),
            }
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    /// How many nodes are live, by their expiry in the listing set (Redis's clock): one command, however many
    /// nodes and however large their records, for the heartbeat's `mplive_nodes`.
    pub(crate) async fn node_count(&self) -> Result<u64, StoreError> {
        Script::new(scripts::COUNT_NODES)
            .key(nodes_key())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("count nodes in {}", nodes_key()), e))
    }

    /// Node `id`'s record, if it is alive.
    pub(crate) async fn node(&self, id: &str) -> Result<Option<NodeRecord>, StoreError> {
        let key = node_key(id);
        let json: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("read node {key}"), e))?;
        json.map(|json| parse_node(&key, &json)).transpose()
    }

    /// Claims `stream` (`app/name`) for `claim.node`, for `ttl`.
    ///
    /// Free, or held by the same node (a republish there, which replaces its old session): the claim is
    /// overwritten, [`ClaimOutcome::Claimed`]. Held by another node: taken over ([`ClaimOutcome::TookOver`]) if
    /// that node's record is gone (it died) or its media is at least `idle_takeover` older than
    /// `claim.claimed_at_ms` (the caller's now); else [`ClaimOutcome::Busy`] and nothing changes.
    pub(crate) async fn claim(
        &self,
        stream: &str,
        claim: &Claim,
        ttl: Duration,
        idle_takeover: Duration,
    ) -> Result<ClaimOutcome, StoreError> {
        let key = stream_key(stream);
        let reply: Vec<String> = Script::new(scripts::CLAIM)
            .key(&key)
            .arg(&claim.node)
            .arg(&claim.session)
            .arg(claim.claimed_at_ms)
            .arg(claim.media_at_ms)
            .arg(ttl_ms(ttl))
            .arg(ttl_ms(idle_takeover))
            .arg(node_key(""))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("claim {key}"), e))?;
        match reply.split_first() {
            Some((verdict, [])) if verdict == "claimed" => Ok(ClaimOutcome::Claimed),
            Some((verdict, fields)) if verdict == "took_over" => Ok(ClaimOutcome::TookOver {
                from: Claim::from_fields(&key, fields)?,
            }),
            Some((verdict, fields)) if verdict == "busy" => Ok(ClaimOutcome::Busy {
                holder: Claim::from_fields(&key, fields)?,
            }),
            _ => Err(unexpected_reply(&key, "claim", &reply)),
        }
    }

    /// Renews our claim on `stream` for `ttl`, recording `media_at_ms` when given.
    ///
    /// Ours (same node and session): [`RefreshOutcome::Held`]. Missing (it expired, or Redis restarted empty):
    /// recreated as ours with both times set to `media_at_ms` or now, [`RefreshOutcome::Restored`]. Another's:
    /// [`RefreshOutcome::Lost`], unchanged.
    pub(crate) async fn refresh(
        &self,
        stream: &str,
        node: &str,
        session: &str,
        media_at_ms: Option<i64>,
        ttl: Duration,
    ) -> Result<RefreshOutcome, StoreError> {
        let key = stream_key(stream);
        let reply: Vec<String> = Script::new(scripts::REFRESH)
            .key(&key)
            .arg(node)
            .arg(session)
            .arg(media_at_ms.unwrap_or_else(now_ms))
            .arg(if media_at_ms.is_some() { "1" } else { "0" })
            .arg(ttl_ms(ttl))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("refresh claim {key}"), e))?;
        match reply.split_first() {
            Some((verdict, [])) if verdict == "held" => Ok(RefreshOutcome::Held),
            Some((verdict, [])) if verdict == "restored" => Ok(RefreshOutcome::Restored),
            Some((verdict, fields)) if verdict == "lost" => Ok(RefreshOutcome::Lost {
                holder: Claim::from_fields(&key, fields)?,
            }),
            _ => Err(unexpected_reply(&key, "refresh", &reply)),
        }
    }

    /// Deletes the claim on `stream` if `node` and `session` hold it; true if it was ours.
    pub(crate) async fn release(
        &self,
        stream: &str,
        node: &str,
        session: &str,
    ) -> Result<bool, StoreError> {
        let key = stream_key(stream);
        let deleted: i64 = Script::new(scripts::RELEASE)
            .key(&key)
            .arg(node)
            .arg(session)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("release claim {key}"), e))?;
        Ok(deleted == 1)
    }

    /// Who holds `stream`, if anyone.
    pub(crate) async fn holder(&self, stream: &str) -> Result<Option<Claim>, StoreError> {
        let key = stream_key(stream);
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key)
            .arg(&["node", "session", "claimed_at_ms", "media_at_ms"])
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("read claim {key}"), e))?;
        // HMGET on a missing key answers all nils; a claim is written whole, so no node means no claim.
        if fields.first().is_none_or(Option::is_none) {
            return Ok(None);
        }
        let fields: Vec<String> = fields.into_iter().map(Option::unwrap_or_default).collect();
        Claim::from_fields(&key, &fields).map(Some)
    }

    /// Publishes `msg` to every node's [`Store::listen`] (this node's included).
    pub(crate) async fn send(&self, msg: &ControlMessage) -> Result<(), StoreError> {
        let channel = control_channel();
        let json = serde_json::to_string(msg).map_err(|e| StoreError::Corrupt {
            key: channel.clone(),
            why: format!("the control message does not serialize: {e}"),
        })?;
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(json)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("publish to {channel}"), e))?;
        Ok(())
    }

    /// The cluster secret: `candidate` if this is the first node to ask, else the one the first node stored.
    pub(crate) async fn cluster_secret(&self, candidate: &str) -> Result<String, StoreError> {
        let key = format!("{PREFIX}cluster:secret");
        // One transaction, so the GET sees the SET's outcome even if the key is deleted in between by hand.
        let (_set, stored): (Option<String>, Option<String>) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(candidate)
            .arg("NX")
            .cmd("GET")
            .arg(&key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("set or read the cluster secret {key}"), e))?;
        stored.ok_or_else(|| StoreError::Corrupt {
            key,
            why: "missing right after SET NX in the same transaction".to_owned(),
        })
    }
}

/// `mplive:node:{id}`.
fn node_key(id: &str) -> String {
    format!("{PREFIX}node:{id}")
}

/// `mplive:nodes`.
fn nodes_key() -> String {
    format!("{PREFIX}nodes")
}

/// `mplive:stream:{app}/{stream}` for `stream` = `app/stream`.
fn stream_key(stream: &str) -> String {
    format!("{PREFIX}stream:{stream}")
}

/// `mplive:control`.
fn control_channel() -> String {
    format!("{PREFIX}control")
}

/// A TTL in whole ms, at least 1: `PX 0` is an error in Redis, and a zero TTL would mean "gone at once" anyway.
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Parses the node record read at `key`.
fn parse_node(key: &str, json: &str) -> Result<NodeRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        why: format!("not a node record: {e}"),
    })
}

/// The error for a script reply that matches none of its documented shapes.
fn unexpected_reply(key: &str, op: &str, reply: &[String]) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        why: format!("unexpected {op} script reply {reply:?}"),
    }
}

/// `url` with its password replaced by `***`, for messages and logs.
fn redact(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    // The last '@' ends the userinfo: a password may itself contain '@' when not percent-encoded.
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    let hidden = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        // `redis://secret@host` is read as a password alone by some clients: hide it too.
        "***".to_owned()
    };
    format!("{}{hidden}{}", &url[..authority_start], &rest[at..])
}
