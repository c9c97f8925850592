//! Webhooks: events go to a durable outbox in the database, and a worker delivers them, at least once.
//!
//! The media path only hands an event to a bounded queue (`emit` never waits). A writer task stores queued events
//! in the outbox table in batches; the delivery worker posts each due row to its URL, re-signing it (`t`, `sign`)
//! at every attempt so a retry is never rejected for an expired signature. A row is claimed before it is posted
//! (a lease in `next_attempt_ms`), so two servers sharing one PostgreSQL do not deliver it twice at once, and a
//! server killed mid-delivery retries the row when the lease runs out. Failed attempts are retried
//! `retry_interval_secs` apart until `max_attempts`. The worker also deletes delivered and given-up rows after
//! `retention_hours`, so the outbox does not grow for ever.
//!
//! Abuse bounds: `push_refused` events get a budget per client address ([`refusals`]), and `stream_param` is cut
//! to [`STREAM_PARAM_MAX_BYTES`](control::webhook_event::STREAM_PARAM_MAX_BYTES). Callback URLs are logged as
//! `scheme://host:port/path` only: receivers put credentials in the userinfo and the query.

mod refusals;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use control::store::{NewWebhook, Webhook};
use control::webhook_event::{self, callback_url_for_log, EventKind, StreamEvent};
use control::{now_ms, now_unix, App, Catalog};
use serde::Deserialize;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::ops::address::address_key;
use crate::ops::metrics::Metrics;
use refusals::{RefusedBudget, Verdict};

/// How often the worker deletes old delivered and given-up rows.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Webhook delivery settings (`[webhooks]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Attempts per event before it is given up (default 3).
    pub max_attempts: u32,
    /// Seconds between attempts (default 60).
    pub retry_interval_secs: u64,
    /// Seconds one attempt may take, connection included (default 5).
    pub timeout_secs: u64,
    /// Events waiting to be stored; past it new events are dropped with a warning (default 10 000).
    pub queue: usize,
    /// Attempts in flight at once (default 16).
    pub concurrency: usize,
    /// `push_refused` events stored per client address (an IPv6 /64) and minute; further ones are counted in
    /// `mplive_webhooks_suppressed_total` and dropped (default 10; 0 stores none).
    pub refused_per_address_per_minute: u32,
    /// Delivered and given-up webhooks are deleted this many hours after their last attempt (default 72; 0 keeps
    /// them for ever). Pending ones are kept until delivered or given up.
    pub retention_hours: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_attempts: 3,
            retry_interval_secs: 60,
            timeout_secs: 5,
            queue: 10_000,
            concurrency: 16,
            refused_per_address_per_minute: 10,
            retention_hours: 72,
        }
    }
}

/// The sending side, shared by every connection.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    tx: mpsc::Sender<NewWebhook>,
    refused: Arc<RefusedBudget>,
    metrics: Arc<Metrics>,
}

impl Webhooks {
    /// Starts the writer and the delivery worker.
    pub(crate) fn start(
        settings: &WebhookSettings,
        catalog: Catalog,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Webhooks {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let stored = Arc::new(Notify::new());
        tracker.spawn(write_outbox(
            rx,
            catalog.clone(),
            stored.clone(),
            shutdown.clone(),
        ));
        let worker = Worker {
            settings: settings.clone(),
            catalog,
            metrics: metrics.clone(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        };
        tracker.spawn(worker.run(stored, shutdown));
        Webhooks {
            tx,
            refused: Arc::new(RefusedBudget::new(settings.refused_per_address_per_minute)),
            metrics,
        }
    }

    /// Events queued in memory, not yet stored in the outbox.
    pub(crate) fn queued(&self) -> u64 {
        (self.tx.max_capacity() - self.tx.capacity()) as u64
    }

    /// Queues `event` for each of the app's callback URLs. Never waits.
    pub(crate) fn emit(&self, app: &App, event: StreamEvent) {
        if app.callback_urls.is_empty() {
            return;
        }
        if event.kind == EventKind::PushRefused && !self.refused_within_budget(app, &event) {
            return;
        }
        let body = webhook_event::body(&event, &app.callback_key, now_unix()).to_string();
        for url in &app.callback_urls {
            let row = NewWebhook {
                app_id: app.id.clone(),
                url: url.clone(),
                event: event.kind.as_str().to_string(),
                body: body.clone(),
                created_ms: now_ms(),
            };
            if let Err(e) = self.tx.try_send(row) {
                warn!(app = %app.name, stream = %event.stream, event = event.kind.as_str(),
                    "webhook dropped: the outbox queue is full or closed ({e}); raise [webhooks] queue or check the database");
            }
        }
    }
}

impl Webhooks {
    /// Whether a `push_refused` event is within its address's budget; counts and logs it when not.
    fn refused_within_budget(&self, app: &App, event: &StreamEvent) -> bool {
        // `user_ip` is the refused publisher's address (see `stream_event`); anything unparsable shares one
        // budget, which errs on the side of storing less.
        let ip = event
            .user_ip
            .parse::<IpAddr>()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let address = address_key(ip);
        match self.refused.check(address, now_ms()) {
            Verdict::Send => true,
            Verdict::Suppress { first } => {
                self.metrics.webhook_suppressed();
                if first {
                    warn!(app = %app.name, %address, "push_refused webhooks from this address are over \
                        [webhooks] refused_per_address_per_minute; the rest of this minute's are counted in \
                        mplive_webhooks_suppressed_total, not sent");
                }
                false
            }
        }
    }
}

/// A fresh `sequence`: pairs a push start with its end.
pub(crate) fn new_sequence() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// An event about `app/stream` caused by the client at `peer`, stamped now. The query is kept up to
/// [`STREAM_PARAM_MAX_BYTES`](webhook_event::STREAM_PARAM_MAX_BYTES): it is the client's to choose, and a long
/// one would otherwise be held in memory for the whole session (the `play_stop` of an HLS viewer, a push's end).
pub(crate) fn stream_event(
    kind: EventKind,
    app: &str,
    stream: &str,
    peer: std::net::SocketAddr,
    param: Option<&str>,
) -> StreamEvent {
    let mut event = StreamEvent::new(kind, app, stream, now_unix());
    event.user_ip = peer.ip().to_string();
    event.stream_param = webhook_event::cap_stream_param(param.unwrap_or_default()).to_string();
    event
}

/// Stores queued events in batches; retries a failed insert (the database may be restarting).
async fn write_outbox(
    mut rx: mpsc::Receiver<NewWebhook>,
    catalog: Catalog,
    stored: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(64);
    loop {
        if batch.is_empty() {
            // On shutdown, still store what was queued: recv() drains before it returns None.
            let first = tokio::select! {
                row = rx.recv() => row,
                _ = shutdown.cancelled() => { rx.close(); rx.recv().await }
            };
            let Some(first) = first else { return };
            batch.push(first);
            while batch.len() < 64 {
                match rx.try_recv() {
                    Ok(row) => batch.push(row),
                    Err(_) => break,
                }
            }
        }
        match catalog.store().enqueue_webhooks(&batch).await {
            Ok(ids) => {
                debug!(count = ids.len(), "webhooks stored");
                batch.clear();
                stored.notify_one();
            }
            Err(e) => {
                warn!(
                    count = batch.len(),
                    "cannot store webhooks, retrying in 1 s: {e}"
                );
                if shutdown.is_cancelled() {
                    warn!(
                        count = batch.len(),
                        "shutting down with webhooks not stored"
                    );
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

struct Worker {
    settings: WebhookSettings,
    catalog: Catalog,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

impl Worker {
    async fn run(self, stored: Arc<Notify>, shutdown: CancellationToken) {
        let worker = Arc::new(self);
        let limit = i64::try_from(worker.settings.concurrency.max(1)).unwrap_or(16);
        let mut next_prune = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_prune {
                worker.prune(now_ms()).await;
                next_prune = tokio::time::Instant::now() + PRUNE_INTERVAL;
            }
            let now = now_ms();
            let due = match worker.catalog.store().due_webhooks(now, limit).await {
                Ok(due) => due,
                Err(e) => {
                    warn!("cannot read the webhook outbox: {e}");
                    Vec::new()
                }
            };
            let full = i64::try_from(due.len()).unwrap_or(0) >= limit;
            let mut attempts = Vec::with_capacity(due.len());
            for row in due {
                let w = worker.clone();
                attempts.push(tokio::spawn(async move { w.attempt(row).await }));
            }
            for a in attempts {
                let _ = a.await;
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = stored.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Deletes the delivered and given-up rows older than `retention_hours` (none with 0).
    async fn prune(&self, now_ms: i64) {
        let hours = self.settings.retention_hours;
        if hours == 0 {
            return;
        }
        let retention_ms = i64::try_from(hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
        match self
            .catalog
            .store()
            .prune_webhooks(now_ms.saturating_sub(retention_ms))
            .await
        {
            Ok(0) => {}
            Ok(n) => info!(
                deleted = n,
                retention_hours = hours,
                "old webhooks pruned from the outbox"
            ),
            Err(e) => warn!("cannot prune the webhook outbox: {e}"),
        }
    }

    /// One delivery attempt of one row.
    async fn attempt(&self, row: Webhook) {
        let store = self.catalog.store();
        let timeout_ms = i64::try_from(self.settings.timeout_secs.max(1) * 1000).unwrap_or(5000);
        let lease = now_ms() + 2 * timeout_ms;
        match store
            .claim_webhook(row.id, row.next_attempt_ms, lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => return, // another server took it
            Err(e) => {
                warn!(id = row.id, "cannot claim webhook: {e}");
                return;
            }
        }
        let body = self.resign(&row);
        let url = callback_url_for_log(&row.url);
        let result = self
            .client
            .post(&row.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let (status, error) = match result {
            Ok(resp) if resp.status().is_success() => {
                let status = i64::from(resp.status().as_u16());
                if let Err(e) = store.webhook_delivered(row.id, status, now_ms()).await {
                    warn!(id = row.id, "webhook delivered but not marked: {e}");
                }
                self.metrics.webhook_delivered();
                debug!(id = row.id, event = %row.event, %url, status, "webhook delivered");
                return;
            }
            Ok(resp) => (
                Some(i64::from(resp.status().as_u16())),
                format!("receiver answered {}", resp.status()),
            ),
            Err(e) => (
                None,
                format!("request failed: {}", request_error(e, &row.url)),
            ),
        };
        let attempts = row.attempts + 1;
        let gave_up = attempts >= i64::from(self.settings.max_attempts.max(1));
        let retry_ms = i64::try_from(self.settings.retry_interval_secs * 1000).unwrap_or(60_000);
        let next = (!gave_up).then(|| now_ms() + retry_ms);
        if let Err(e) = store
            .webhook_failed(row.id, &error, status, now_ms(), next)
            .await
        {
            warn!(id = row.id, "cannot record a failed webhook attempt: {e}");
        }
        self.metrics.webhook_failed(gave_up);
        if gave_up {
            warn!(id = row.id, event = %row.event, %url, attempts, "webhook given up: {error}");
        } else {
            info!(id = row.id, event = %row.event, %url, attempts, "webhook attempt failed, will retry: {error}");
        }
    }

    /// The stored body with a fresh `t` and `sign` (the app's current callback key).
    fn resign(&self, row: &Webhook) -> String {
        let Ok(serde_json::Value::Object(mut body)) = serde_json::from_str(&row.body) else {
            return row.body.clone();
        };
        if let Some(app) = self.catalog.app_by_id_or_name(&row.app_id) {
            let t = now_unix() + webhook_event::SIGN_VALIDITY_SECS;
            let sign = webhook_event::sign(&app.callback_key, t);
            body.insert("t".into(), t.into());
            body.insert("sign".into(), sign.into());
        }
        serde_json::Value::Object(body).to_string()
    }
}

/// What went wrong with a request, for the log and the outbox's `last_error`: the error and its causes (`tcp
/// connect error: Connection refused`), without the URL, which reqwest puts in its message whole, credentials
/// included.
fn request_error(e: reqwest::Error, url: &str) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    scrub_url(&text, url)
}

/// `text` with the URL and its secret parts masked wherever a cause repeats them (a belt to `without_url`'s
/// braces: causes come from hyper and the TLS stack, whose messages we do not control).
fn scrub_url(text: &str, url: &str) -> String {
    let mut text = text.replace(url, &callback_url_for_log(url));
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let userinfo = authority.rsplit_once('@').map(|(userinfo, _)| userinfo);
    let password = userinfo.and_then(|u| u.split_once(':')).map(|(_, p)| p);
    let query = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or_default());
    for secret in [userinfo, password, query].into_iter().flatten() {
        // Very short pieces (`a`) would mask unrelated words and protect nothing.
        if secret.len() >= 3 {
            text = text.replace(secret, "***");
        }
    }
    text
}

#[cfg(test)]
mod tests;
