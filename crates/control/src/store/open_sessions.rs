//! Open sessions: the end events a server owes, so that a `kill -9` loses none (docs/webhooks.md#durability).
//!
//! A session that reports its start and will report its end (a publish: `push_start` then `push_end`; a recording
//! file: opened, then `record_done`) writes an [`OpenSession`] row in the transaction that stores its start, with
//! the end body it would send if it never got to send its own. Its end deletes the row in the transaction that
//! stores the end. So after a crash the rows left are exactly the sessions whose end was never stored; the server
//! reads them back with [`Store::open_sessions`] when it starts again and stores their end events with
//! [`Store::write_outbox`] (`close` + `only_if_open`: a row another server already ended sends nothing).
//! A push's end also writes its [`Interruption`] record in that transaction.

use sqlx::Row;

use super::interruptions::{self, Interruption};
use super::{NewWebhook, Store, StoreError, WebhookState};

/// A session whose end event has not been stored yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// Unique across servers: `push:{sequence}` for a publish, `record:{file}` for a recording file.
    pub id: String,
    /// The server that holds the session (its cluster node id, or host name and HTTP port).
    pub node: String,
    /// The app the session belongs to.
    pub app_id: String,
    /// The name of the end event owed, e.g. `push_end`.
    pub event: String,
    /// The end event's body as it is sent if the session is cut by a crash (the server fills in what only the
    /// restart knows, such as a file's final size).
    pub body: String,
    /// When the session started, Unix milliseconds.
    pub started_ms: i64,
}

/// One change of [`Store::write_outbox`]: webhooks to store, and the open session it starts or ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxWrite {
    /// Webhooks to put in the outbox (one per callback URL of one event; may be empty).
    pub webhooks: Vec<NewWebhook>,
    /// A session this change starts.
    pub open: Option<OpenSession>,
    /// The id of a session this change ends: its row is deleted.
    pub close: Option<String>,
    /// Store `webhooks` only if `close` deleted a row: the end event of a session that someone else already
    /// ended (another node, a restart) is not sent twice. Its interruption record is left out with them.
    pub only_if_open: bool,
    /// The interruption record of the push this change ends. Without a `publisher`, the address in the closed
    /// session's end body (`user_ip`) is used: a node that ends another node's push knows no more.
    pub interruption: Option<Interruption>,
}

/// What [`Store::write_outbox`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxWritten {
    /// Webhooks stored.
    pub webhooks: usize,
    /// Changes whose webhooks were left out because their session was not open any more.
    pub skipped: usize,
}

impl Store {
    /// Applies `writes` in order in one transaction: each change's session closed, its webhooks inserted (due at
    /// their `created_ms`), its session opened. One commit for the lot is what makes many events at once cost one
    /// disk sync (group commit).
    pub async fn write_outbox(&self, writes: &[OutboxWrite]) -> Result<OutboxWritten, StoreError> {
        let mut done = OutboxWritten::default();
        if writes.is_empty() {
            return Ok(done);
        }
        let mut tx = self.begin_write().await?;
        for w in writes {
            let mut closed_body = None;
            if let Some(id) = &w.close {
                let deleted = sqlx::query("DELETE FROM open_sessions WHERE id = $1 RETURNING body")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if deleted.is_none() && w.only_if_open {
                    done.skipped += 1;
                    continue;
                }
                closed_body = deleted
                    .map(|row| row.try_get::<String, _>("body"))
                    .transpose()?;
            }
            if let Some(record) = &w.interruption {
                if record.publisher.is_empty() {
                    let mut record = record.clone();
                    record.publisher = closed_body
                        .as_deref()
                        .and_then(user_ip_of)
                        .unwrap_or_default();
                    interruptions::insert(&mut tx, &record).await?;
                } else {
                    interruptions::insert(&mut tx, record).await?;
                }
            }
            for hook in &w.webhooks {
                sqlx::query(
                    "INSERT INTO webhooks (app_id, url, event, body, state, attempts, next_attempt_ms, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
                )
                .bind(&hook.app_id)
                .bind(&hook.url)
                .bind(&hook.event)
                .bind(&hook.body)
                .bind(WebhookState::Pending.as_str())
                .bind(hook.created_ms)
                .execute(&mut *tx)
                .await?;
                done.webhooks += 1;
            }
            if let Some(open) = &w.open {
                // An id is unique (a random sequence, a file created new), so a conflict is a retried write of
                // the same session: keep the latest.
                sqlx::query(
                    "INSERT INTO open_sessions (id, node, app_id, event, body, started_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET node = excluded.node, \
                     app_id = excluded.app_id, event = excluded.event, body = excluded.body, \
                     started_ms = excluded.started_ms",
                )
                .bind(&open.id)
                .bind(&open.node)
                .bind(&open.app_id)
                .bind(&open.event)
                .bind(&open.body)
                .bind(open.started_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(done)
    }

    /// The sessions whose end is still owed, oldest first: those of `node`, or with `None` all of them (a SQLite
    /// file belongs to one server).
    pub async fn open_sessions(&self, node: Option<&str>) -> Result<Vec<OpenSession>, StoreError> {
        const COLUMNS: &str = "SELECT id, node, app_id, event, body, started_ms FROM open_sessions";
        let rows = match node {
            Some(node) => {
                sqlx::query(&format!(
                    "{COLUMNS} WHERE node = $1 ORDER BY started_ms, id"
                ))
                .bind(node)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("{COLUMNS} ORDER BY started_ms, id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(OpenSession {
                    id: r.try_get("id")?,
                    node: r.try_get("node")?,
                    app_id: r.try_get("app_id")?,
                    event: r.try_get("event")?,
                    body: r.try_get("body")?,
                    started_ms: r.try_get("started_ms")?,
                })
            })
            .collect()
    }
}

/// The `user_ip` of a stored end body, when it has one.
fn user_ip_of(body: &str) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(body).ok()?;
    body.get("user_ip")
        .and_then(serde_json::Value::as_str)
        .filter(|ip| !ip.is_empty())
        .map(str::to_owned)
}
