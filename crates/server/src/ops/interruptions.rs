//! Interruption records: every push that ends leaves one (docs/api.md#interruptions), kept for
//! `[interruptions] retention_days`.
//!
//! A record is stored with the push's `push_end` in the webhook writer's transaction ([`Change::interruption`]
//! (crate::ops::webhooks::Change)), so it costs no extra commit and a `kill -9` loses none: the push's open
//! session row makes the next start record it as cut ([`from_cut_session`], reason `restart`). This module makes
//! the records and prunes the old ones; `GET /v1/interruptions` reads them.

use std::time::Duration;

use control::store::{InterruptReason, Interruption};
use control::webhook_event::StreamEvent;
use control::Catalog;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// How often old records are pruned (and once at start).
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Interruption record settings (`[interruptions]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InterruptionSettings {
    /// Records are deleted this many days after the push ended (default 30; 0 keeps them for ever). Pruned at
    /// start and every 10 minutes, in batches of 1000 rows.
    pub retention_days: u64,
}

impl Default for InterruptionSettings {
    fn default() -> Self {
        InterruptionSettings { retention_days: 30 }
    }
}

/// The record of a push that ends now, from its `push_end` event. `node` is left empty: the webhook writer puts
/// this server's there.
pub(crate) fn record(
    end: &StreamEvent,
    publisher: String,
    started_ms: i64,
    reason: InterruptReason,
) -> Interruption {
    let ended_ms = control::now_ms();
    Interruption {
        id: 0,
        session: end.sequence.clone(),
        node: String::new(),
        app: end.app.clone(),
        stream: end.stream.clone(),
        publisher,
        started_ms,
        ended_ms,
        duration_ms: end
            .push_duration_ms
            .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        errcode: end.errcode,
        reason,
        message: end.errmsg.clone(),
    }
}

/// The record of a push a previous run was cut in (killed or crashed), from its stored `push_end` body. Its end
/// is now (when it was found cut), its duration unknown.
pub(crate) fn from_cut_session(
    body: &Map<String, Value>,
    node: &str,
    started_ms: i64,
) -> Interruption {
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Interruption {
        id: 0,
        session: text("sequence"),
        node: node.to_owned(),
        app: text("appname"),
        stream: text("stream_id"),
        publisher: text("user_ip"),
        started_ms,
        ended_ms: control::now_ms(),
        duration_ms: None,
        errcode: body
            .get("errcode")
            .and_then(Value::as_i64)
            .unwrap_or(control::webhook_event::errcode::RESTARTED),
        reason: InterruptReason::Restart,
        message: text("errmsg"),
    }
}

/// Starts the task that deletes records older than `retention_days` (none with 0).
pub(crate) fn start_pruning(
    settings: &InterruptionSettings,
    catalog: Catalog,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    let days = settings.retention_days;
    if days == 0 {
        return;
    }
    let retention_ms = i64::try_from(days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
    tracker.spawn(async move {
        loop {
            let before = control::now_ms().saturating_sub(retention_ms);
            match catalog.store().prune_interruptions(before).await {
                Ok(0) => {}
                Ok(n) => info!(
                    deleted = n,
                    retention_days = days,
                    "old interruption records pruned"
                ),
                Err(e) => {
                    warn!("cannot prune the interruption records, retrying in 10 minutes: {e}")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(PRUNE_INTERVAL) => {}
            }
        }
    });
}
