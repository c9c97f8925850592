//! After a crash: the end events that sessions of a previous run owed and never stored (docs/webhooks.md#durability).
//!
//! Runs once at startup, before the listeners accept anyone, so no session of this run has a row yet. Each row's
//! stored end body (errcode 1019) gets the time of this restart, then `finish` (the recorder: it cuts the file
//! to its last complete unit and fills in its size and duration); the ends go to the outbox in one transaction
//! with the rows' deletion (`only_if_open`: a row another node ended meanwhile sends nothing). A cut push also gets
//! its interruption record there (reason `restart`).

use control::store::{NewWebhook, OutboxWrite};
use control::webhook_event::EventKind;
use control::{now_ms, now_unix, Catalog, StoreError};
use serde_json::{Map, Value};
use tracing::{info, warn};

/// Stores the end events owed by `node`'s sessions (all sessions with `None`) and deletes their rows; returns
/// how many were stored. `finish` completes a body for its event (`record_done`: the file's final figures).
pub(crate) async fn recover(
    catalog: &Catalog,
    node: Option<&str>,
    mut finish: impl FnMut(&str, &mut Map<String, Value>),
) -> Result<usize, StoreError> {
    let store = catalog.store();
    let open = store.open_sessions(node).await?;
    if open.is_empty() {
        return Ok(0);
    }
    let now = now_unix();
    let mut writes = Vec::with_capacity(open.len());
    for session in open {
        let mut body = match serde_json::from_str::<Value>(&session.body) {
            Ok(Value::Object(body)) => body,
            // Written by this server as an object; anything else is a damaged row: drop it, say so.
            _ => {
                warn!(id = %session.id, "open session with an unreadable end body: deleted, no end sent");
                Map::new()
            }
        };
        let urls = catalog
            .app_by_id_or_name(&session.app_id)
            .map(|app| app.callback_urls.clone())
            .unwrap_or_default();
        // From the body as stored: it names the push (sequence, app, stream, publisher).
        let interruption =
            (session.event == EventKind::PushEnd.as_str() && !body.is_empty()).then(|| {
                crate::ops::interruptions::from_cut_session(
                    &body,
                    &session.node,
                    session.started_ms,
                )
            });
        let webhooks = if body.is_empty() {
            Vec::new()
        } else {
            body.insert("event_time".into(), now.into());
            finish(&session.event, &mut body);
            let text = Value::Object(body.clone()).to_string();
            urls.iter()
                .map(|url| NewWebhook {
                    app_id: session.app_id.clone(),
                    url: url.clone(),
                    event: session.event.clone(),
                    body: text.clone(),
                    created_ms: now_ms(),
                })
                .collect()
        };
        let stream = format!(
            "{}/{}",
            body.get("appname")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            body.get("stream_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
        info!(%stream, event = %session.event, id = %session.id, node = %session.node,
            "sending the end of a session cut by the last run's crash or kill");
        writes.push(OutboxWrite {
            webhooks,
            open: None,
            close: Some(session.id),
            only_if_open: true,
            interruption,
        });
    }
    let mut stored = 0;
    for chunk in writes.chunks(super::BATCH) {
        stored += chunk.len() - store.write_outbox(chunk).await?.skipped;
    }
    Ok(stored)
}
