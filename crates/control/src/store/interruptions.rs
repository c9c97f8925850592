//! Interruption records: every push that ended, with why (docs/api.md#interruptions).
//!
//! A record is not written on its own: it rides in the [`OutboxWrite`](super::OutboxWrite) that stores the push's
//! `push_end` and deletes its open session, so it costs no extra commit and a `kill -9` loses none (the next start
//! writes the record of each push it cut, reason [`InterruptReason::Restart`]). [`Store::interruptions`] reads
//! them back, newest first; [`Store::prune_interruptions`] deletes the old ones in short batches.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError};

/// Why a push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InterruptReason {
    /// The publisher stopped: it unpublished or closed its connection.
    Closed,
    /// Kicked or forbidden through the API.
    Kicked,
    /// The publisher sent no media for `publisher_timeout_secs` (or another timeout).
    NoData,
    /// A protocol or socket error.
    Error,
    /// The server shut down.
    Shutdown,
    /// Another publisher took the stream over after this one went idle (`publisher_idle_takeover_ms`), on this
    /// node or another one of the cluster.
    Takeover,
    /// The cluster node that held the push is gone; another node ended it on its behalf.
    NodeLost,
    /// The server was killed or crashed during the push; recorded when it started again.
    Restart,
}

impl InterruptReason {
    /// Every reason, in the order the docs list them.
    pub const ALL: [InterruptReason; 8] = [
        InterruptReason::Closed,
        InterruptReason::Kicked,
        InterruptReason::NoData,
        InterruptReason::Error,
        InterruptReason::Shutdown,
        InterruptReason::Takeover,
        InterruptReason::NodeLost,
        InterruptReason::Restart,
    ];

    /// The stored and API name: `closed`, `kicked`, `no_data`, `error`, `shutdown`, `takeover`, `node_lost`,
    /// `restart`.
    pub fn as_str(self) -> &'static str {
        match self {
            InterruptReason::Closed => "closed",
            InterruptReason::Kicked => "kicked",
            InterruptReason::NoData => "no_data",
            InterruptReason::Error => "error",
            InterruptReason::Shutdown => "shutdown",
            InterruptReason::Takeover => "takeover",
            InterruptReason::NodeLost => "node_lost",
            InterruptReason::Restart => "restart",
        }
    }
}

impl fmt::Display for InterruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InterruptReason {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InterruptReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt {
                what: "interruption reason".into(),
                detail: format!(
                    "`{s}` is none of {}",
                    InterruptReason::ALL.map(InterruptReason::as_str).join(", ")
                ),
            })
    }
}

/// One ended push, as written and as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    /// Increasing; 0 in a record not stored yet.
    pub id: i64,
    /// The push's webhook `sequence`: one record per push.
    pub session: String,
    /// The server that held the push (its cluster node id, or host name and HTTP port).
    pub node: String,
    /// The app's name.
    pub app: String,
    /// The stream name.
    pub stream: String,
    /// The publisher's address (`ip:port`); empty when the server that recorded it did not know it.
    pub publisher: String,
    /// When the push started, Unix ms.
    pub started_ms: i64,
    /// When it ended, Unix ms (for [`InterruptReason::Restart`]: when the server found it cut).
    pub ended_ms: i64,
    /// How long it lasted, ms; `None` when unknown (cut by a crash).
    pub duration_ms: Option<i64>,
    /// The `errcode` of its `push_end` webhook (docs/webhooks.md).
    pub errcode: i64,
    /// Why it ended.
    pub reason: InterruptReason,
    /// The `errmsg` of its `push_end` (empty for a publisher that stopped).
    pub message: String,
}

/// What [`Store::interruptions`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterruptionFilter {
    /// Only this app's (by name).
    pub app: Option<String>,
    /// Only this stream's.
    pub stream: Option<String>,
    /// Only those that ended at or after this, Unix ms.
    pub from_ms: Option<i64>,
    /// Only those that ended at or before this, Unix ms.
    pub to_ms: Option<i64>,
    /// At most this many (newest first).
    pub limit: i64,
}

const COLUMNS: &str =
    "id, session, node, app, stream, publisher, started_ms, ended_ms, duration_ms, errcode, \
     reason, message";

impl Store {
    /// The records `filter` selects, newest end first (ties: newest id first).
    pub async fn interruptions(
        &self,
        filter: &InterruptionFilter,
    ) -> Result<Vec<Interruption>, StoreError> {
        // Built with numbered placeholders rather than `$1 IS NULL OR ...`, which PostgreSQL cannot always type.
        let mut conditions = Vec::new();
        let mut texts = Vec::new();
        let mut numbers = Vec::new();
        for (column, value) in [("app", &filter.app), ("stream", &filter.stream)] {
            if let Some(value) = value {
                texts.push(value.as_str());
                conditions.push(format!("{column} = ${}", texts.len()));
            }
        }
        for (op, value) in [(">=", filter.from_ms), ("<=", filter.to_ms)] {
            if let Some(value) = value {
                numbers.push(value);
                conditions.push(format!("ended_ms {op} ${}", texts.len() + numbers.len()));
            }
        }
        numbers.push(filter.limit.max(0));
        let mut sql = format!("SELECT {COLUMNS} FROM interruptions");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(
            " ORDER BY ended_ms DESC, id DESC LIMIT ${}",
            texts.len() + numbers.len()
        ));
        let mut query = sqlx::query(&sql);
        for t in texts {
            query = query.bind(t);
        }
        for n in numbers {
            query = query.bind(n);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(row_to_interruption).collect()
    }

    /// Deletes the records of pushes that ended before `before_ms`; returns how many.
    pub async fn prune_interruptions(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.delete_in_batches(|| {
            sqlx::query(
                "DELETE FROM interruptions WHERE id IN \
                 (SELECT id FROM interruptions WHERE ended_ms < $1 ORDER BY id LIMIT $2)",
            )
            .bind(before_ms)
        })
        .await
    }
}

/// Inserts `record` in `tx`; a second record for the same push (a retried write) is ignored.
pub(super) async fn insert(
    tx: &mut Transaction<'static, Any>,
    record: &Interruption,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO interruptions (session, node, app, stream, publisher, started_ms, ended_ms, duration_ms, \
         errcode, reason, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (session) DO NOTHING",
    )
    .bind(&record.session)
    .bind(&record.node)
    .bind(&record.app)
    .bind(&record.stream)
    .bind(&record.publisher)
    .bind(record.started_ms)
    .bind(record.ended_ms)
    .bind(record.duration_ms)
    .bind(record.errcode)
    .bind(record.reason.as_str())
    .bind(&record.message)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn row_to_interruption(row: &AnyRow) -> Result<Interruption, StoreError> {
    let reason: String = row.try_get("reason")?;
    Ok(Interruption {
        id: row.try_get("id")?,
        session: row.try_get("session")?,
        node: row.try_get("node")?,
        app: row.try_get("app")?,
        stream: row.try_get("stream")?,
        publisher: row.try_get("publisher")?,
        started_ms: row.try_get("started_ms")?,
        ended_ms: row.try_get("ended_ms")?,
        duration_ms: row.try_get("duration_ms")?,
        errcode: row.try_get("errcode")?,
        reason: reason.parse()?,
        message: row.try_get("message")?,
    })
}

#[cfg(test)]
mod tests {
    use super::InterruptReason;

    #[test]
    fn reasons_round_trip_their_names() {
        for r in InterruptReason::ALL {
            assert_eq!(r.as_str().parse::<InterruptReason>().unwrap(), r);
        }
        let e = "gone".parse::<InterruptReason>().unwrap_err().to_string();
        assert!(e.contains("gone") && e.contains("node_lost"), "{e}");
    }
}
