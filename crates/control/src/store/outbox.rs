//! The webhook outbox: events are written here in the transaction of whoever saw them and delivered later by a
//! worker, so a crash or a slow receiver loses nothing (at-least-once delivery).
//!
//! Several servers may share one PostgreSQL database. A worker takes a due webhook with
//! [`Store::claim_webhook`], which moves `next_attempt_ms` to the end of a lease only if nobody moved it first;
//! if the worker dies, the webhook is due again when the lease ends.

use super::rows::{self, WEBHOOK_COLUMNS};
use super::{NewWebhook, Store, StoreError, Webhook, WebhookState};

/// Longest `last_error` kept: a receiver's error page is not worth storing whole.
const ERROR_MAX_CHARS: usize = 1000;

impl Store {
    /// Puts webhooks in the outbox, due at their `created_ms`, all in one transaction; returns their ids in order.
    pub async fn enqueue_webhooks(&self, rows: &[NewWebhook]) -> Result<Vec<i64>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(rows.len());
        for w in rows {
            let row = sqlx::query(
                "INSERT INTO webhooks (app_id, url, event, body, state, attempts, next_attempt_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $6) RETURNING id",
            )
            .bind(&w.app_id)
            .bind(&w.url)
            .bind(&w.event)
            .bind(&w.body)
            .bind(WebhookState::Pending.as_str())
            .bind(w.created_ms)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(sqlx::Row::try_get(&row, "id")?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Up to `limit` pending webhooks due at `now_ms`, oldest first.
    pub async fn due_webhooks(&self, now_ms: i64, limit: i64) -> Result<Vec<Webhook>, StoreError> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE state = $1 AND next_attempt_ms <= $2 ORDER BY id LIMIT $3"
        );
        let found = sqlx::query(&sql)
            .bind(WebhookState::Pending.as_str())
            .bind(now_ms)
            .bind(limit.max(0))
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::webhook).collect()
    }

    /// Takes a due webhook for delivery: sets its `next_attempt_ms` to `lease_until_ms` if it is still pending
    /// and still at `expected_next_ms` (as [`due_webhooks`](Self::due_webhooks) returned it). `false` means
    /// another worker took it first.
    pub async fn claim_webhook(
        &self,
        id: i64,
        expected_next_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET next_attempt_ms = $1 WHERE id = $2 AND state = $3 AND next_attempt_ms = $4",
        )
        .bind(lease_until_ms)
        .bind(id)
        .bind(WebhookState::Pending.as_str())
        .bind(expected_next_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a delivery: the receiver answered `status` at `now_ms`.
    pub async fn webhook_delivered(
        &self,
        id: i64,
        status: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET state = $1, attempts = attempts + 1, last_status = $2, last_error = NULL, \
             delivered_ms = $3, last_attempt_ms = $3 WHERE id = $4",
        )
        .bind(WebhookState::Delivered.as_str())
        .bind(status)
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::WebhookNotFound { id });
        }
        Ok(())
    }

    /// Records a failed attempt: `error` (and the HTTP `status`, if there was a response). With
    /// `next_attempt_ms` the webhook stays pending and is due again then; with `None` it is given up (failed).
    pub async fn webhook_failed(
        &self,
        id: i64,
        error: &str,
        status: Option<i64>,
        now_ms: i64,
        next_attempt_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let error = match error.char_indices().nth(ERROR_MAX_CHARS) {
            Some((cut, _)) => format!("{}…", &error[..cut]),
            None => error.to_owned(),
        };
        let state = if next_attempt_ms.is_some() {
            WebhookState::Pending
        } else {
            WebhookState::Failed
        };
        let done = sqlx::query(
            "UPDATE webhooks SET state = $1, attempts = attempts + 1, last_status = $2, last_error = $3, \
             last_attempt_ms = $4, next_attempt_ms = COALESCE($5, next_attempt_ms) WHERE id = $6",
        )
        .bind(state.as_str())
        .bind(status)
        .bind(error)
        .bind(now_ms)
        .bind(next_attempt_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::WebhookNotFound { id });
        }
        Ok(())
    }

    /// The latest `limit` webhooks, of one app or of all, newest first.
    pub async fn webhook_log(
        &self,
        app_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Webhook>, StoreError> {
        let limit = limit.max(0);
        // Two statements rather than `$1 IS NULL OR app_id = $1`, which PostgreSQL cannot always type.
        let found = match app_id {
            Some(app_id) => {
                let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE app_id = $1 ORDER BY id DESC LIMIT $2");
                sqlx::query(&sql)
                    .bind(app_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql =
                    format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id DESC LIMIT $1");
                sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?
            }
        };
        found.iter().map(rows::webhook).collect()
    }

    /// Deletes the delivered and given-up (failed) webhooks whose last attempt ended before `before_ms`; returns
    /// how many. Pending ones, waiting for a retry or leased by a worker, are never deleted.
    pub async fn prune_webhooks(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.delete_in_batches(|| {
            sqlx::query(
                "DELETE FROM webhooks WHERE id IN (SELECT id FROM webhooks WHERE state IN ($1, $2) \
                 AND COALESCE(last_attempt_ms, created_ms) < $3 ORDER BY id LIMIT $4)",
            )
            .bind(WebhookState::Delivered.as_str())
            .bind(WebhookState::Failed.as_str())
            .bind(before_ms)
        })
        .await
    }
}
