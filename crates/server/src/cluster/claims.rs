//! One publisher per stream, cluster-wide: a publish claims its stream in Redis before it touches the local hub,
//! and the claim is refreshed while the publisher is connected (with the time media last flowed, which idle
//! takeover reads). A claim whose node died expires with its TTL, or is taken over at once by a publisher on
//! another node once that node's record is gone.

use std::sync::Arc;
use std::time::Duration;

use media::StreamKey;
use tracing::{info, warn};

use super::store::{Claim, ClaimOutcome, ControlMessage, RefreshOutcome};
use super::Cluster;
use crate::stream::access::{Reason, Refusal};

/// A claim this node holds.
#[derive(Debug, Clone)]
pub(super) struct LocalClaim {
    session: String,
    /// The stream's `bytes_in` at the last refresh: media flowed if it moved.
    bytes_in: u64,
}

/// The claim of a running publish; dropping it releases the claim (if it is still this publish's).
pub(crate) struct ClaimGuard {
    cluster: Arc<Cluster>,
    key: StreamKey,
    session: String,
}

impl ClaimGuard {
    /// Whether another node took the claim from this publish (an idle takeover): the claim refresh or the
    /// takeover notice removed it here before dropping the publisher.
    pub(crate) fn taken_over(&self) -> bool {
        self.cluster
            .claims
            .lock()
            .get(&self.key)
            .is_none_or(|c| c.session != self.session)
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let ours = {
            let mut claims = self.cluster.claims.lock();
            let ours = claims
                .get(&self.key)
                .is_some_and(|c| c.session == self.session);
            if ours {
                claims.remove(&self.key);
            }
            ours
        };
        if !ours {
            return;
        }
        let cluster = self.cluster.clone();
        let key = self.key.clone();
        let session = std::mem::take(&mut self.session);
        // Spawned: dropping happens in synchronous code. A release that fails leaves the claim to its TTL.
        self.cluster.tracker.spawn(async move {
            if let Err(e) = cluster
                .store
                .release(&key.to_string(), &cluster.node, &session)
                .await
            {
                warn!(stream = %key, "cluster: could not release the claim ({e}); it expires with its TTL");
            }
        });
    }
}

impl Cluster {
    /// Claims `key` for the publish `session` (its webhook sequence) on this node. Refused with `stream_busy`
    /// while another node's publisher holds it and is not idle, and with `cluster_unavailable` when Redis does
    /// not answer. Taking over an idle (or dead) node's claim tells that node to drop its publisher; the claim of
    /// a node that is gone comes back too, so that its session can be ended on its behalf.
    pub(crate) async fn claim(
        self: &Arc<Self>,
        key: &StreamKey,
        session: &str,
    ) -> Result<(ClaimGuard, Option<Claim>), Refusal> {
        let now = control::now_ms();
        let claim = Claim {
            node: self.node.clone(),
            session: session.to_string(),
            claimed_at_ms: now,
            media_at_ms: now,
        };
        let name = key.to_string();
        let idle = self.registry.config().publisher_idle_takeover;
        let outcome = self
            .store
            .claim(&name, &claim, self.claim_ttl(), idle)
            .await
            .map_err(|e| {
                self.redis_answered(false, "claim", Some(&e));
                Refusal::new(
                    Reason::ClusterUnavailable,
                    format!(
                        "cannot claim stream {name} in the cluster: {e}; retry when Redis is back"
                    ),
                )
            })?;
        self.redis_answered(true, "claim", None);
        let mut orphan = None;
        match outcome {
            ClaimOutcome::Claimed => {}
            ClaimOutcome::Busy { holder } => {
                return Err(Refusal::new(
                    Reason::StreamBusy,
                    format!(
                        "stream {name} is already being published on node {} (one publisher per stream in the cluster)",
                        holder.node
                    ),
                ))
            }
            ClaimOutcome::TookOver { from } => {
                info!(stream = %name, from = %from.node, "cluster: idle or dead node's publisher taken over");
                let message = ControlMessage::Kick {
                    app: key.app.clone(),
                    stream: key.name.clone(),
                    reason: "takeover".into(),
                };
                if let Err(e) = self.store.send(&message).await {
                    warn!(stream = %name, "cluster: could not tell node {} to drop its publisher ({e}); its claim refresh will", from.node);
                }
                // A node that is gone cannot end its own session; a live one ends it when it drops its publisher.
                if matches!(self.store.node(&from.node).await, Ok(None)) {
                    orphan = Some(from);
                }
            }
        }
        self.claims.lock().insert(
            key.clone(),
            LocalClaim {
                session: claim.session.clone(),
                bytes_in: 0,
            },
        );
        Ok((
            ClaimGuard {
                cluster: self.clone(),
                key: key.clone(),
                session: claim.session,
            },
            orphan,
        ))
    }

    fn claim_ttl(&self) -> Duration {
        Duration::from_millis(self.settings.claim_ttl_ms)
    }

    /// Whether this node holds the claim of `key` now.
    pub(crate) fn holds(&self, key: &StreamKey) -> bool {
        self.claims.lock().contains_key(key)
    }

    /// Refreshes every claim once: keeps it alive, records whether media flowed, restores it after Redis lost
    /// it, and drops the local publisher of a claim another node took.
    async fn refresh_claims(&self) {
        let claims: Vec<(StreamKey, LocalClaim)> = self
            .claims
            .lock()
            .iter()
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        for (key, claim) in claims {
            let bytes_in = self.registry.get(&key).map_or(0, |s| s.bytes_in);
            let flowed = (bytes_in != claim.bytes_in).then(control::now_ms);
            let name = key.to_string();
            let outcome = match self
                .store
                .refresh(&name, &self.node, &claim.session, flowed, self.claim_ttl())
                .await
            {
                Ok(outcome) => outcome,
                Err(e) => {
                    self.redis_answered(false, "claim refresh", Some(&e));
                    // The others are not tried: they would wait out the same timeout.
                    return;
                }
            };
            self.redis_answered(true, "claim refresh", None);
            match outcome {
                RefreshOutcome::Held => {}
                RefreshOutcome::Restored => {
                    info!(stream = %name, "cluster: claim restored (Redis had lost it)");
                }
                RefreshOutcome::Lost { holder } => {
                    warn!(stream = %name, holder = %holder.node, "cluster: another node holds the stream now; dropping this node's publisher");
                    self.claims.lock().remove(&key);
                    self.kick_local_publisher(&key);
                    continue;
                }
            }
            if let Some(c) = self.claims.lock().get_mut(&key) {
                if c.session == claim.session {
                    c.bytes_in = bytes_in;
                }
            }
        }
    }

    /// Drops the local publisher of `key`, unless it is a relay (which follows the stream wherever it goes).
    /// `true` if one was dropped.
    pub(crate) fn kick_local_publisher(&self, key: &StreamKey) -> bool {
        let is_client = self
            .registry
            .get(key)
            .and_then(|s| s.publisher)
            .is_some_and(|p| p.protocol != super::relay::PROTOCOL);
        is_client && self.registry.kick(key)
    }
}

/// Refreshes the claims every heartbeat until shutdown.
pub(super) async fn refresher(cluster: Arc<Cluster>) {
    let every = Duration::from_millis(cluster.settings.heartbeat_ms);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cluster.shutdown.cancelled() => return,
            _ = tick.tick() => cluster.refresh_claims().await,
        }
    }
}
