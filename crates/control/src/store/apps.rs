//! Apps: create, read, change, rotate keys, delete.

use sqlx::{Any, Transaction};

use super::rows::{self, APP_COLUMNS};
use super::{
    bool_col, is_unique_violation, validate, App, AppPatch, KeyKind, NewApp, RecordFormat, Store,
    StoreError,
};
use crate::clock::now_ms;
use crate::random;

/// Looks an app up by id or name. Names cannot have the shape of an id (see `validate::app_name`), so at most
/// one row matches; the id match is preferred anyway for rows written before that rule.
const SELECT_BY_ID_OR_NAME: &str =
    "WHERE id = $1 OR name = $1 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1";

impl Store {
    /// Creates an app with a new id and new random keys.
    pub async fn create_app(&self, new: &NewApp) -> Result<App, StoreError> {
        validate::app_name(&new.name)?;
        validate::policy(&new.policy)?;
        validate::callback_urls(&new.callback_urls)?;
        let now = now_ms();
        let app = App {
            id: random::app_id(),
            name: new.name.clone(),
            push_key: random::key(),
            play_key: random::key(),
            secret: random::key(),
            callback_key: random::key(),
            callback_urls: new.callback_urls.clone(),
            policy: {
                let mut policy = new.policy.clone();
                RecordFormat::normalize(&mut policy.record);
                policy
            },
            created_ms: now,
            updated_ms: now,
        };
        let exists = || StoreError::AppExists {
            name: new.name.clone(),
        };

        let mut tx = self.begin_change().await?;
        let taken = sqlx::query("SELECT id FROM apps WHERE name = $1")
            .bind(&app.name)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(exists());
        }
        let sql = format!(
            "INSERT INTO apps ({APP_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        let inserted = sqlx::query(&sql)
            .bind(&app.id)
            .bind(&app.name)
            .bind(&app.push_key)
            .bind(&app.play_key)
            .bind(&app.secret)
            .bind(&app.callback_key)
            .bind(urls_json(&app.callback_urls))
            .bind(bool_col(app.policy.push_auth))
            .bind(bool_col(app.policy.play_auth))
            .bind(bool_col(app.policy.gop_cache))
            .bind(bool_col(app.policy.low_latency))
            .bind(app.policy.republish_grace_ms)
            .bind(app.policy.max_streams)
            .bind(app.policy.max_players)
            .bind(RecordFormat::join(&app.policy.record))
            .bind(app.created_ms)
            .bind(app.updated_ms)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            // The check above runs under the write lock, so this is a backstop for a racing creator.
            Err(e) if is_unique_violation(&e) => return Err(exists()),
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(app)
    }

    /// The app with this id or name.
    pub async fn app(&self, name_or_id: &str) -> Result<Option<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps {SELECT_BY_ID_OR_NAME}");
        let row = sqlx::query(&sql)
            .bind(name_or_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::app).transpose()
    }

    /// Every app, sorted by name.
    pub async fn apps(&self) -> Result<Vec<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(rows::app).collect()
    }

    /// Changes the policy or callback URLs of an app; returns the app as it is now.
    pub async fn update_app(&self, name_or_id: &str, patch: &AppPatch) -> Result<App, StoreError> {
        // Validate the patch's own values before touching the database, so that a bad value is reported
        // even for an unknown app.
        if let Some(urls) = &patch.callback_urls {
            validate::callback_urls(urls)?;
        }
        let mut tx = self.begin_change().await?;
        let mut app = app_in(&mut tx, name_or_id).await?;
        patch.apply(&mut app.policy, &mut app.callback_urls);
        validate::policy(&app.policy)?;
        app.updated_ms = now_ms().max(app.updated_ms);
        sqlx::query(
            "UPDATE apps SET callback_urls = $1, push_auth = $2, play_auth = $3, gop_cache = $4, low_latency = $5, \
             republish_grace_ms = $6, max_streams = $7, max_players = $8, record = $9, updated_ms = $10 WHERE id = $11",
        )
        .bind(urls_json(&app.callback_urls))
        .bind(bool_col(app.policy.push_auth))
        .bind(bool_col(app.policy.play_auth))
        .bind(bool_col(app.policy.gop_cache))
        .bind(bool_col(app.policy.low_latency))
        .bind(app.policy.republish_grace_ms)
        .bind(app.policy.max_streams)
        .bind(app.policy.max_players)
        .bind(RecordFormat::join(&app.policy.record))
        .bind(app.updated_ms)
        .bind(&app.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(app)
    }

    /// Replaces one key of an app with a new random one; the other keys stay. Returns the app as it is now.
    pub async fn rotate_key(&self, name_or_id: &str, which: KeyKind) -> Result<App, StoreError> {
        let mut tx = self.begin_change().await?;
        let mut app = app_in(&mut tx, name_or_id).await?;
        let key = random::key();
        app.updated_ms = now_ms().max(app.updated_ms);
        // `column()` is one of four fixed names, never user input.
        let sql = format!(
            "UPDATE apps SET {} = $1, updated_ms = $2 WHERE id = $3",
            which.column()
        );
        sqlx::query(&sql)
            .bind(&key)
            .bind(app.updated_ms)
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        match which {
            KeyKind::Push => app.push_key = key,
            KeyKind::Play => app.play_key = key,
            KeyKind::Callback => app.callback_key = key,
            KeyKind::Secret => app.secret = key,
        }
        Ok(app)
    }

    /// Deletes an app with its channels and forbids; `false` if there was no such app. Its webhooks stay in the
    /// outbox log.
    pub async fn delete_app(&self, name_or_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_change().await?;
        let app = match app_in(&mut tx, name_or_id).await {
            Ok(app) => app,
            // Dropping the transaction rolls it back, so the revision does not move for nothing.
            Err(StoreError::AppNotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        // The foreign keys cascade too; deleting explicitly keeps this right even on a SQLite connection that
        // somehow has foreign_keys off.
        for sql in [
            "DELETE FROM channels WHERE app_id = $1",
            "DELETE FROM forbids WHERE app_id = $1",
            "DELETE FROM apps WHERE id = $1",
        ] {
            sqlx::query(sql).bind(&app.id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// The app with this id or name, read inside `tx`.
async fn app_in(tx: &mut Transaction<'static, Any>, name_or_id: &str) -> Result<App, StoreError> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps {SELECT_BY_ID_OR_NAME}");
    let row = sqlx::query(&sql)
        .bind(name_or_id)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => rows::app(&row),
        None => Err(StoreError::AppNotFound {
            name: name_or_id.to_owned(),
        }),
    }
}

/// `true` if an app with this id exists, read inside `tx`.
/// [`StoreError::AppNotFound`] unless an app has this id.
pub(super) async fn require_app(
    tx: &mut Transaction<'static, Any>,
    app_id: &str,
) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT id FROM apps WHERE id = $1")
        .bind(app_id)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(StoreError::AppNotFound {
            name: app_id.to_owned(),
        }),
    }
}

fn urls_json(urls: &[String]) -> String {
    // Serializing a list of strings cannot fail; the fallback only keeps this free of unwrap.
    serde_json::to_string(urls).unwrap_or_else(|_| "[]".to_owned())
}
