//! Channels (named streams of an app) and forbids (streams refused publishing until a time).

use super::apps::require_app;
use super::rows::{self, CHANNEL_COLUMNS, FORBID_COLUMNS};
use super::{validate, Channel, Forbid, Store, StoreError};
use crate::clock::now_ms;

impl Store {
    /// The channel, created (with no title) if it does not exist yet. Safe to call from many tasks or processes
    /// at once: exactly one creates it, all get it.
    pub async fn ensure_channel(&self, app_id: &str, channel: &str) -> Result<Channel, StoreError> {
        validate::stream_name("channel name", channel)?;
        // The common case, an existing channel, needs no write lock and no revision bump.
        if let Some(found) = self.channel(app_id, channel).await? {
            return Ok(found);
        }
        let mut tx = self.begin_change().await?;
        require_app(&mut tx, app_id).await?;
        let created = Channel {
            app_id: app_id.to_owned(),
            channel: channel.to_owned(),
            title: None,
            created_ms: now_ms(),
        };
        let sql = format!(
            "INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ($1, $2, $3, $4) ON CONFLICT (app_id, channel) DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(&created.app_id)
            .bind(&created.channel)
            .bind(created.title.as_deref())
            .bind(created.created_ms)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(created);
        }
        // Someone else created it between our first look and the lock: nothing changed, so roll back (keeping
        // the revision) and return theirs.
        tx.rollback().await?;
        self.channel(app_id, channel)
            .await?
            .ok_or_else(|| StoreError::ChannelNotFound {
                app_id: app_id.to_owned(),
                channel: channel.to_owned(),
            })
    }

    /// Creates a channel; [`StoreError::ChannelExists`] if it exists.
    pub async fn create_channel(
        &self,
        app_id: &str,
        channel: &str,
        title: Option<&str>,
    ) -> Result<Channel, StoreError> {
        validate::stream_name("channel name", channel)?;
        if let Some(title) = title {
            validate::text("channel title", title)?;
        }
        let mut tx = self.begin_change().await?;
        require_app(&mut tx, app_id).await?;
        let created = Channel {
            app_id: app_id.to_owned(),
            channel: channel.to_owned(),
            title: title.map(str::to_owned),
            created_ms: now_ms(),
        };
        let sql = format!(
            "INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ($1, $2, $3, $4) ON CONFLICT (app_id, channel) DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(&created.app_id)
            .bind(&created.channel)
            .bind(created.title.as_deref())
            .bind(created.created_ms)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ChannelExists {
                app_id: app_id.to_owned(),
                channel: channel.to_owned(),
            });
        }
        tx.commit().await?;
        Ok(created)
    }

    /// The channels of an app, sorted by name; [`StoreError::AppNotFound`] if there is no app with this id.
    pub async fn channels(&self, app_id: &str) -> Result<Vec<Channel>, StoreError> {
        let sql =
            format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE app_id = $1 ORDER BY channel");
        let found = sqlx::query(&sql).bind(app_id).fetch_all(&self.pool).await?;
        if found.is_empty() {
            // Tell "no channels" from "no such app", which is most likely a name passed for an id.
            let app = sqlx::query("SELECT id FROM apps WHERE id = $1")
                .bind(app_id)
                .fetch_optional(&self.pool)
                .await?;
            if app.is_none() {
                return Err(StoreError::AppNotFound {
                    name: app_id.to_owned(),
                });
            }
        }
        found.iter().map(rows::channel).collect()
    }

    /// One channel of an app.
    pub async fn channel(
        &self,
        app_id: &str,
        channel: &str,
    ) -> Result<Option<Channel>, StoreError> {
        let sql =
            format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE app_id = $1 AND channel = $2");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(channel)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::channel).transpose()
    }

    /// Deletes a channel; `false` if it did not exist.
    pub async fn delete_channel(&self, app_id: &str, channel: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_change().await?;
        let done = sqlx::query("DELETE FROM channels WHERE app_id = $1 AND channel = $2")
            .bind(app_id)
            .bind(channel)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            // Dropping the transaction rolls back the revision bump.
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Refuses publishing `stream` of an app until `until_ms`, replacing any earlier forbid of that stream.
    pub async fn forbid(
        &self,
        app_id: &str,
        stream: &str,
        until_ms: i64,
        reason: Option<&str>,
    ) -> Result<Forbid, StoreError> {
        validate::stream_name("stream name", stream)?;
        if let Some(reason) = reason {
            validate::text("forbid reason", reason)?;
        }
        let mut tx = self.begin_change().await?;
        require_app(&mut tx, app_id).await?;
        let forbid = Forbid {
            app_id: app_id.to_owned(),
            stream: stream.to_owned(),
            until_ms,
            reason: reason.map(str::to_owned),
            created_ms: now_ms(),
        };
        let sql = format!(
            "INSERT INTO forbids ({FORBID_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (app_id, stream) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason, \
             created_ms = excluded.created_ms"
        );
        sqlx::query(&sql)
            .bind(&forbid.app_id)
            .bind(&forbid.stream)
            .bind(forbid.until_ms)
            .bind(forbid.reason.as_deref())
            .bind(forbid.created_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(forbid)
    }

    /// Lifts the forbid of a stream; `false` if there was none (expired ones still count until lifted).
    pub async fn unforbid(&self, app_id: &str, stream: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_change().await?;
        let done = sqlx::query("DELETE FROM forbids WHERE app_id = $1 AND stream = $2")
            .bind(app_id)
            .bind(stream)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The forbids still in force at `now_ms` (`until_ms > now_ms`), sorted by app id and stream.
    pub async fn forbids(&self, now_ms: i64) -> Result<Vec<Forbid>, StoreError> {
        let sql = format!(
            "SELECT {FORBID_COLUMNS} FROM forbids WHERE until_ms > $1 ORDER BY app_id, stream"
        );
        let found = sqlx::query(&sql).bind(now_ms).fetch_all(&self.pool).await?;
        found.iter().map(rows::forbid).collect()
    }
}
