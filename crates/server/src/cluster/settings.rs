//! `[cluster]`: where Redis is, who this node is, and the timers of its records.

use serde::Deserialize;

use crate::settings::SettingsError;

/// Cluster mode settings. Off (one node, as without a cluster) unless `redis_url` is set.
///
/// `Debug` leaves out the secret and the Redis URL's password.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// `redis://[:password@]host:port[/db]`: turns cluster mode on (`--redis-url`, `MPLIVE_REDIS_URL`). Needs a
    /// shared `database_url` (PostgreSQL).
    pub redis_url: Option<String>,
    /// This node's name in the cluster (`--node-id`, `MPLIVE_NODE_ID`): 1-64 of `[A-Za-z0-9_.-]`. Default: the
    /// host name and the HTTP port (`web1-8080`), stable across restarts.
    pub node_id: Option<String>,
    /// Where other nodes and clients reach this node (`--advertise-host`, `MPLIVE_ADVERTISE_HOST`): a host name or
    /// IP address, without a port (the bound RTMP and HTTP ports are used). Default: `public_host`.
    pub advertise_host: Option<String>,
    /// How often a node writes its record and load to Redis, in milliseconds (default 1000).
    pub heartbeat_ms: u64,
    /// How long a node's record lives without a heartbeat, in milliseconds (default 3000): a dead node leaves
    /// the list, and its streams may be published elsewhere, this long after it died.
    pub node_ttl_ms: u64,
    /// How long a stream's claim outlives its last refresh in Redis, in milliseconds (default 30 000; refreshed
    /// every `heartbeat_ms` while the publisher is connected). It does not delay a takeover: the claim of a node
    /// whose record expired, or whose publisher sent nothing for the hub's `publisher_idle_takeover_ms`, is taken
    /// over at once. It keeps a dead node's claim long enough for the node that takes the stream over to end the
    /// dead node's session (its `push_end`).
    pub claim_ttl_ms: u64,
    /// How long a relay stays after its node's last local reader left, in milliseconds (default 5000), so a
    /// player that reconnects finds it running.
    pub relay_linger_ms: u64,
    /// How long a first player waits for the relay to reach the stream's node and start, in milliseconds
    /// (default 3000); then it is refused with `cluster_unavailable`.
    pub relay_start_timeout_ms: u64,
    /// The secret that signs relay credentials, from `MPLIVE_CLUSTER_SECRET` only. Default: the first node
    /// creates one and stores it in Redis, where the others read it.
    #[serde(skip)]
    pub secret: Option<String>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            redis_url: None,
            node_id: None,
            advertise_host: None,
            heartbeat_ms: 1000,
            node_ttl_ms: 3000,
            claim_ttl_ms: 30_000,
            relay_linger_ms: 5000,
            relay_start_timeout_ms: 3000,
            secret: None,
        }
    }
}

impl std::fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSettings")
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(control::store::redact_db_url),
            )
            .field("node_id", &self.node_id)
            .field("advertise_host", &self.advertise_host)
            .field("heartbeat_ms", &self.heartbeat_ms)
            .field("node_ttl_ms", &self.node_ttl_ms)
            .field("claim_ttl_ms", &self.claim_ttl_ms)
            .field("relay_linger_ms", &self.relay_linger_ms)
            .field("relay_start_timeout_ms", &self.relay_start_timeout_ms)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ClusterSettings {
    /// Whether cluster mode is on.
    pub fn enabled(&self) -> bool {
        self.redis_url.is_some()
    }

    /// This node's id: `node_id`, else the host name and HTTP port.
    pub fn node_id_or_default(&self, http_port: u16) -> String {
        if let Some(id) = &self.node_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| {
                h.trim()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .take(48)
                    .collect::<String>()
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".into());
        format!("{host}-{http_port}")
    }

    /// Cluster mode needs a database every node shares: `database_url` (the server's) must be PostgreSQL.
    /// Checked when the server starts, once flags and environment have had their say.
    pub(crate) fn require_shared_database(
        &self,
        database_url: Option<&str>,
    ) -> Result<(), SettingsError> {
        let shared = database_url
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
        if self.enabled() && !shared {
            return Err(SettingsError::ClusterNeedsPostgres);
        }
        Ok(())
    }

    /// Checks the cluster settings' values.
    pub(crate) fn validate(&self) -> Result<(), SettingsError> {
        if !self.enabled() {
            return Ok(());
        }
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(SettingsError::Invalid {
                    field: "cluster.redis_url",
                    value: control::store::redact_db_url(url),
                    expected: "redis://[:password@]host:port[/db]",
                });
            }
        }
        if let Some(id) = &self.node_id {
            let ok = (1..=64).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(SettingsError::Invalid {
                    field: "cluster.node_id",
                    value: id.chars().take(80).collect(),
                    expected: "1-64 of A-Z a-z 0-9 _ . -",
                });
            }
        }
        let checks: [(&'static str, u64, u64, &'static str); 5] = [
            (
                "cluster.heartbeat_ms",
                self.heartbeat_ms,
                100,
                "at least 100",
            ),
            (
                "cluster.node_ttl_ms",
                self.node_ttl_ms,
                self.heartbeat_ms.saturating_mul(2),
                "at least twice cluster.heartbeat_ms",
            ),
            (
                "cluster.claim_ttl_ms",
                self.claim_ttl_ms,
                self.node_ttl_ms,
                "at least cluster.node_ttl_ms",
            ),
            ("cluster.relay_linger_ms", self.relay_linger_ms, 0, "any"),
            (
                "cluster.relay_start_timeout_ms",
                self.relay_start_timeout_ms,
                100,
                "at least 100",
            ),
        ];
        for (field, value, min, expected) in checks {
            if value < min || value > 3_600_000 {
                return Err(SettingsError::Invalid {
                    field,
                    value: value.to_string(),
                    expected,
                });
            }
        }
        Ok(())
    }
}
