//! Column lists and the conversions from rows to model values, shared by the queries.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{
    col_bool, App, AppPolicy, Channel, Forbid, RecordFormat, StoreError, Webhook, WebhookState,
};

/// The columns [`app`] reads, in a fixed order for `SELECT`.
pub(super) const APP_COLUMNS: &str = "id, name, push_key, play_key, secret, callback_key, callback_urls, push_auth, \
     play_auth, gop_cache, low_latency, republish_grace_ms, max_streams, max_players, record, created_ms, updated_ms";

pub(super) const CHANNEL_COLUMNS: &str = "app_id, channel, title, created_ms";

pub(super) const FORBID_COLUMNS: &str = "app_id, stream, until_ms, reason, created_ms";

pub(super) const WEBHOOK_COLUMNS: &str =
    "id, app_id, url, event, body, state, attempts, last_status, last_error, \
     next_attempt_ms, created_ms, delivered_ms, last_attempt_ms";

pub(super) fn app(row: &AnyRow) -> Result<App, StoreError> {
    let id: String = row.try_get("id")?;
    let urls: String = row.try_get("callback_urls")?;
    let record: String = row.try_get("record")?;
    let record = RecordFormat::parse_list(&record).map_err(|e| StoreError::Corrupt {
        what: format!("record of app {id}"),
        detail: e.to_string(),
    })?;
    let callback_urls = serde_json::from_str(&urls).map_err(|e| StoreError::Corrupt {
        what: format!("callback_urls of app {id}"),
        detail: format!("expected a JSON array of strings: {e}"),
    })?;
    Ok(App {
        name: row.try_get("name")?,
        push_key: row.try_get("push_key")?,
        play_key: row.try_get("play_key")?,
        secret: row.try_get("secret")?,
        callback_key: row.try_get("callback_key")?,
        callback_urls,
        policy: AppPolicy {
            push_auth: col_bool(row, "push_auth")?,
            play_auth: col_bool(row, "play_auth")?,
            gop_cache: col_bool(row, "gop_cache")?,
            low_latency: col_bool(row, "low_latency")?,
            republish_grace_ms: row.try_get("republish_grace_ms")?,
            max_streams: row.try_get("max_streams")?,
            max_players: row.try_get("max_players")?,
            record,
        },
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
        id,
    })
}

pub(super) fn channel(row: &AnyRow) -> Result<Channel, StoreError> {
    Ok(Channel {
        app_id: row.try_get("app_id")?,
        channel: row.try_get("channel")?,
        title: row.try_get("title")?,
        created_ms: row.try_get("created_ms")?,
    })
}

pub(super) fn forbid(row: &AnyRow) -> Result<Forbid, StoreError> {
    Ok(Forbid {
        app_id: row.try_get("app_id")?,
        stream: row.try_get("stream")?,
        until_ms: row.try_get("until_ms")?,
        reason: row.try_get("reason")?,
        created_ms: row.try_get("created_ms")?,
    })
}

pub(super) fn webhook(row: &AnyRow) -> Result<Webhook, StoreError> {
    let id: i64 = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    let state = WebhookState::parse(&state).ok_or_else(|| StoreError::Corrupt {
        what: format!("state of webhook {id}"),
        detail: format!("`{state}` is none of pending, delivered, failed"),
    })?;
    Ok(Webhook {
        id,
        app_id: row.try_get("app_id")?,
        url: row.try_get("url")?,
        event: row.try_get("event")?,
        body: row.try_get("body")?,
        state,
        attempts: row.try_get("attempts")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        next_attempt_ms: row.try_get("next_attempt_ms")?,
        created_ms: row.try_get("created_ms")?,
        delivered_ms: row.try_get("delivered_ms")?,
        last_attempt_ms: row.try_get("last_attempt_ms")?,
    })
}
