//! Webhooks: events go to a durable outbox in the database, and a worker delivers them, at least once.
//!
//! The media path hands an event to a bounded queue. A writer task stores queued events in the outbox table, all
//! that queued while the previous transaction ran in the next one (group commit: many events at once cost one
//! disk sync). Most events do not wait ([`Webhooks::emit`]); the events that report an acknowledged action
//! (`push_start` and `republish` before the publisher is told it may publish, `record_done` before a file is
//! listed as finished) wait until they are stored ([`Webhooks::emit_durable`], bounded by `durable_wait_ms`).
//! A session's start also stores the end event it owes ([`Change::open`], the `open_sessions` table) and its end
//! deletes it, so a restart after a `kill -9` sends the ends that were never stored ([`recover`]). The delivery
//! worker posts each due row to its URL, re-signing it (`t`, `sign`)
//! at every attempt so a retry is never rejected for an expired signature. A row is claimed before it is posted
//! (a lease in `next_attempt_ms`), so two servers sharing one PostgreSQL do not deliver it twice at once, and a
//! server killed mid-delivery retries the row when the lease runs out. Failed attempts are retried
//! `retry_interval_secs` apart until `max_attempts`. The worker also deletes delivered and given-up rows after
//! `retention_hours`, so the outbox does not grow for ever.
//!
//! Abuse bounds: `push_refused` events get a budget per client address ([`refusals`]), and `stream_param` is cut
//! to [`STREAM_PARAM_MAX_BYTES`](control::webhook_event::STREAM_PARAM_MAX_BYTES). Callback URLs are logged as
//! `scheme://host:port/path` only: receivers put credentials in the userinfo and the query.

mod recover;
mod refusals;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use control::store::{Interruption, NewWebhook, OpenSession, OutboxWrite, Webhook};
use control::webhook_event::{self, callback_url_for_log, EventKind, StreamEvent};
use control::{now_ms, now_unix, App, Catalog};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::ops::address::address_key;
use crate::ops::metrics::Metrics;
use refusals::{RefusedBudget, Verdict};

pub(crate) use recover::recover;

/// How often the worker deletes old delivered and given-up rows.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Most queued changes stored in one transaction: a bound on how long one commit holds the write lock.
const BATCH: usize = 256;

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
    /// Events waiting to be stored; past it new events are dropped with a warning (default 10 000). Durable
    /// events wait for room instead, within `durable_wait_ms`.
    pub queue: usize,
    /// How long a `push_start`, `republish` or `record_done` may wait to be stored before what it reports goes
    /// ahead anyway (the publisher is told it may publish, the file is listed), counted in
    /// `mplive_webhook_durable_timeouts_total` (default 5000). Only a slow or unreachable database makes it run
    /// out; then the server stays available and such an event is lost if it is killed before the event is stored.
    pub durable_wait_ms: u64,
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
            durable_wait_ms: 5000,
            concurrency: 16,
            refused_per_address_per_minute: 10,
            retention_hours: 72,
        }
    }
}

/// The sending side, shared by every connection.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    tx: mpsc::Sender<Queued>,
    refused: Arc<RefusedBudget>,
    metrics: Arc<Metrics>,
    /// This server's id in `open_sessions` (its cluster node id, or host name and HTTP port).
    node: Arc<str>,
    durable_wait: Duration,
}

/// What one event changes in the outbox, stored in one transaction.
#[derive(Debug, Default)]
pub(crate) struct Change {
    /// The event to send, if any (a recording file being opened sends none).
    pub(crate) event: Option<StreamEvent>,
    /// A session this event starts, with the end event to send if the server dies before the session ends.
    pub(crate) open: Option<Owed>,
    /// The id of the session this event ends ([`Owed::id`]): its row goes, and the event is stored only if the
    /// row was still there, so a session another node or a restart already ended is not ended twice.
    pub(crate) close: Option<String>,
    /// The interruption record of the push this event ends (an empty `node` is this one's), stored in the same
    /// transaction, and like the event only if the session was still open.
    pub(crate) interruption: Option<Interruption>,
}

impl Change {
    /// The stream and event name, for the log.
    fn about(&self) -> (String, &'static str) {
        let event = self.event.as_ref().or(self.open.as_ref().map(|o| &o.end));
        event.map_or_else(
            || (String::new(), ""),
            |e| {
                let name = if self.event.is_some() {
                    e.kind.as_str()
                } else {
                    "open"
                };
                (format!("{}/{}", e.app, e.stream), name)
            },
        )
    }
}

/// The end event a session owes, stored with its start.
#[derive(Debug)]
pub(crate) struct Owed {
    /// Unique across servers: `push:{sequence}`, `record:{file}`.
    pub(crate) id: String,
    /// The end to send after a crash (errcode [`RESTARTED`](webhook_event::errcode::RESTARTED)).
    pub(crate) end: StreamEvent,
}

/// One queued change and, for a durable event, who waits for its commit.
struct Queued {
    write: OutboxWrite,
    stored: Option<oneshot::Sender<()>>,
}

/// What [`Webhooks::emit_durable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Durable {
    /// The change is queued (stored, or will be unless the server dies): its session, if it opened one, must be
    /// closed by its end.
    pub(crate) queued: bool,
    /// The change is committed (or there was nothing to store).
    pub(crate) stored: bool,
}

impl Webhooks {
    /// Starts the writer and the delivery worker.
    pub(crate) fn start(
        settings: &WebhookSettings,
        catalog: Catalog,
        metrics: Arc<Metrics>,
        node: &str,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Webhooks {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let stored = Arc::new(Notify::new());
        tracker.spawn(write_outbox(
            rx,
            catalog.clone(),
            stored.clone(),
            metrics.clone(),
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
            node: node.into(),
            durable_wait: Duration::from_millis(settings.durable_wait_ms),
        }
    }

    /// Events queued in memory, not yet stored in the outbox.
    pub(crate) fn queued(&self) -> u64 {
        (self.tx.max_capacity() - self.tx.capacity()) as u64
    }

    /// Queues `event` for each of the app's callback URLs. Never waits: a kill -9 loses it if it comes before the
    /// next commit (milliseconds; see docs/webhooks.md#durability for which events may).
    pub(crate) fn emit(&self, app: &App, event: StreamEvent) {
        self.change(
            app,
            Change {
                event: Some(event),
                ..Change::default()
            },
        );
    }

    /// Queues `change` without waiting for it to be stored (a session's end raised where nothing can wait: a
    /// `Drop`). `false` if it was dropped (queue full).
    pub(crate) fn change(&self, app: &App, change: Change) -> bool {
        let (stream, event) = change.about();
        let Some(write) = self.write_for(app, change) else {
            return true;
        };
        match self.tx.try_send(Queued {
            write,
            stored: None,
        }) {
            Ok(()) => true,
            Err(e) => {
                warn!(app = %app.name, %stream, event, "webhook dropped: the outbox queue is full or closed ({}); raise \
                    [webhooks] queue or check the database", queue_error(&e));
                false
            }
        }
    }

    /// Queues `change` and waits until it is committed, at most `durable_wait_ms` (then the caller goes on, with
    /// a warning and `mplive_webhook_durable_timeouts_total`: availability over durability while the database
    /// is slow or down). Many callers at once share one commit.
    pub(crate) async fn emit_durable(&self, app: &App, change: Change) -> Durable {
        let (stream, event) = change.about();
        let Some(write) = self.write_for(app, change) else {
            return Durable {
                queued: false,
                stored: true,
            };
        };
        let (done, stored) = oneshot::channel();
        let mut queued = false;
        let waited = tokio::time::timeout(self.durable_wait, async {
            // Waits for room in the queue rather than dropping: this event is one an acknowledgement depends on.
            self.tx
                .send(Queued {
                    write,
                    stored: Some(done),
                })
                .await
                .is_ok()
                && {
                    queued = true;
                    stored.await.is_ok()
                }
        })
        .await;
        let stored = matches!(waited, Ok(true));
        if !stored {
            self.metrics.webhook_durable_timeout();
            warn!(app = %app.name, %stream, event, wait_ms = self.durable_wait.as_millis() as u64,
                "webhook not stored within [webhooks] durable_wait_ms: going on without it (is the database up?)");
        }
        Durable { queued, stored }
    }

    /// The outbox write for `change`: its event for each callback URL, its session's row. `None` when there is
    /// nothing to store (no callback URL and no session to close, or a `push_refused` over its budget).
    fn write_for(&self, app: &App, change: Change) -> Option<OutboxWrite> {
        let Change {
            event,
            open,
            close,
            interruption,
        } = change;
        // A push's start is stored even without a callback URL: its end owes an interruption record.
        let owes_record = open
            .as_ref()
            .is_some_and(|o| o.end.kind == EventKind::PushEnd);
        if app.callback_urls.is_empty() && close.is_none() && interruption.is_none() && !owes_record
        {
            return None;
        }
        if let Some(e) = &event {
            if e.kind == EventKind::PushRefused && !self.refused_within_budget(app, e) {
                return None;
            }
        }
        let now = now_unix();
        let webhooks = event.map_or_else(Vec::new, |event| {
            let body = webhook_event::body(&event, &app.callback_key, now).to_string();
            app.callback_urls
                .iter()
                .map(|url| NewWebhook {
                    app_id: app.id.clone(),
                    url: url.clone(),
                    event: event.kind.as_str().to_string(),
                    body: body.clone(),
                    created_ms: now_ms(),
                })
                .collect()
        });
        // Without a callback URL the end would go nowhere: no row to keep, but for a push's (its record).
        let open = open
            .filter(|_| !app.callback_urls.is_empty() || owes_record)
            .map(|owed| OpenSession {
                id: owed.id,
                node: self.node.to_string(),
                app_id: app.id.clone(),
                event: owed.end.kind.as_str().to_string(),
                body: webhook_event::body(&owed.end, &app.callback_key, now).to_string(),
                started_ms: now_ms(),
            });
        let only_if_open = close.is_some();
        let interruption = interruption.map(|mut record| {
            if record.node.is_empty() {
                record.node = self.node.to_string();
            }
            record
        });
        Some(OutboxWrite {
            webhooks,
            open,
            close,
            only_if_open,
            interruption,
        })
    }
}

/// Why `try_send` failed, without the value (which holds bodies).
fn queue_error<T>(e: &mpsc::error::TrySendError<T>) -> &'static str {
    match e {
        mpsc::error::TrySendError::Full(_) => "full",
        mpsc::error::TrySendError::Closed(_) => "closed",
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

/// Stores queued changes: each transaction takes everything queued while the previous one ran (up to [`BATCH`]),
/// so a burst of events costs a few commits, not one each; then tells the waiting callers. Retries a failed
/// transaction (the database may be restarting).
async fn write_outbox(
    mut rx: mpsc::Receiver<Queued>,
    catalog: Catalog,
    stored: Arc<Notify>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut writes = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    loop {
        if writes.is_empty() {
            // On shutdown, still store what was queued: recv() drains before it returns None.
            let first = tokio::select! {
                queued = rx.recv() => queued,
                _ = shutdown.cancelled() => { rx.close(); rx.recv().await }
            };
            let Some(first) = first else { return };
            let mut next = Some(first);
            while let Some(q) = next {
                writes.push(q.write);
                waiting.extend(q.stored);
                next = if writes.len() < BATCH {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
        }
        match catalog.store().write_outbox(&writes).await {
            Ok(done) => {
                metrics.webhook_outbox_commit();
                debug!(
                    changes = writes.len(),
                    webhooks = done.webhooks,
                    skipped = done.skipped,
                    "webhooks stored"
                );
                writes.clear();
                for w in waiting.drain(..) {
                    // The caller may have stopped waiting (durable_wait_ms): nothing to tell then.
                    let _ = w.send(());
                }
                stored.notify_one();
            }
            Err(e) => {
                warn!(
                    count = writes.len(),
                    "cannot store webhooks, retrying in 1 s: {e}"
                );
                if shutdown.is_cancelled() {
                    warn!(
                        count = writes.len(),
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
