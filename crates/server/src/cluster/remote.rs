//! What other nodes ask of this one over Redis pub/sub: drop the publisher of a stream (kick, forbid, takeover)
//! and reload the apps now (an app changed through another node's API).

use std::sync::Arc;

use media::StreamKey;
use tracing::{info, warn};

use super::store::ControlMessage;
use super::Cluster;

/// Starts listening for control messages (the store's listener reconnects by itself).
pub(super) fn listen(cluster: &Arc<Cluster>) {
    let weak = Arc::downgrade(cluster);
    let handler = Arc::new(move |message: ControlMessage| {
        if let Some(cluster) = weak.upgrade() {
            cluster.on_control(message);
        }
    });
    let task = cluster.store.listen(handler, cluster.shutdown.clone());
    cluster.tracker.spawn(async move {
        let _ = task.await;
    });
}

impl Cluster {
    fn on_control(self: &Arc<Self>, message: ControlMessage) {
        match message {
            ControlMessage::Kick {
                app,
                stream,
                reason,
            } => {
                let key = StreamKey::new(app, stream);
                if reason == "takeover" {
                    // Sent by the node that took the claim: only another holder drops its publisher. Which node
                    // holds it now is Redis's answer, not this node's memory.
                    let cluster = self.clone();
                    self.tracker.spawn(async move {
                        match cluster.store.holder(&key.to_string()).await {
                            Ok(Some(holder)) if holder.node != cluster.node => {
                                cluster.claims.lock().remove(&key);
                                if cluster.kick_local_publisher(&key) {
                                    info!(stream = %key, by = %holder.node, "cluster: publisher taken over by another node");
                                }
                            }
                            Ok(_) => {}
                            Err(e) => warn!(stream = %key, "cluster: takeover notice not checked ({e}); the claim refresh will"),
                        }
                    });
                } else if self.holds(&key) && self.kick_local_publisher(&key) {
                    info!(stream = %key, %reason, "cluster: publisher dropped at another node's request");
                }
            }
            ControlMessage::Catalog => {
                let catalog = self.catalog.clone();
                self.tracker.spawn(async move {
                    if let Err(e) = catalog.reload().await {
                        warn!("cluster: apps not reloaded after another node's change ({e}); the periodic refresh will");
                    }
                });
            }
        }
    }

    /// Asks the node holding `key` to drop its publisher (`reason`: `kick` or `forbid`). `Ok(Some(node))` when a
    /// node holds it and was told, `Ok(None)` when no node does.
    pub(crate) async fn kick_remote(
        &self,
        key: &StreamKey,
        reason: &str,
    ) -> Result<Option<String>, super::store::StoreError> {
        let Some(holder) = self.store.holder(&key.to_string()).await? else {
            return Ok(None);
        };
        self.store
            .send(&ControlMessage::Kick {
                app: key.app.clone(),
                stream: key.name.clone(),
                reason: reason.into(),
            })
            .await?;
        Ok(Some(holder.node))
    }

    /// Tells every node to reload the apps now.
    pub(crate) async fn catalog_changed(&self) {
        if let Err(e) = self.store.send(&ControlMessage::Catalog).await {
            warn!("cluster: could not tell the other nodes that apps changed ({e}); they see it at their next refresh");
        }
    }
}
