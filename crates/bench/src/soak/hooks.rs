//! The webhook receiver: an HTTP server on loopback that answers every POST with 200 and counts the bodies by
//! stream, event and (for play events) protocol.
//!
//! Deliveries are at least once, and a retried body differs from the first only in `t` and `sign`
//! (docs/webhooks.md), so a body without those two is the dedup key. Play events carry no session identity
//! (an empty `sequence`, the player's IP but not its port, `event_time` in seconds), so two players from
//! 127.0.0.1 starting in the same second send identical bodies: for those the raw count is the figure, and the
//! deduplicated one is shown beside it.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use serde::Serialize;

/// Counts per (stream, event[/protocol]).
#[derive(Default)]
pub(super) struct Received {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    raw: BTreeMap<(String, String), u64>,
    dedup: BTreeMap<(String, String), u64>,
    seen: HashSet<String>,
    total: u64,
    unreadable: u64,
}

/// One (stream, event) count.
#[derive(Debug, Clone, Serialize)]
pub(super) struct HookCount {
    pub stream: String,
    pub event: String,
    pub raw: u64,
    pub dedup: u64,
}

impl Received {
    fn add(&self, body: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.total += 1;
        let Ok(serde_json::Value::Object(mut map)) =
            serde_json::from_slice::<serde_json::Value>(body)
        else {
            inner.unreadable += 1;
            return;
        };
        let text = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
            m.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned()
        };
        let stream = text(&map, "stream_id");
        let mut event = text(&map, "event");
        let protocol = text(&map, "protocol");
        if !protocol.is_empty() {
            event = format!("{event}/{protocol}");
        }
        map.remove("t");
        map.remove("sign");
        let dedup_key = serde_json::Value::Object(map).to_string();
        let key = (stream, event);
        *inner.raw.entry(key.clone()).or_default() += 1;
        if inner.seen.insert(dedup_key) {
            *inner.dedup.entry(key).or_default() += 1;
        }
    }

    /// Bodies received so far.
    pub(super) fn total(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// Bodies that were not JSON objects.
    pub(super) fn unreadable(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unreadable
    }

    /// The raw and deduplicated count of `event` (`play_start/rtmp`, ...) on `stream`.
    pub(super) fn count(&self, stream: &str, event: &str) -> (u64, u64) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (stream.to_owned(), event.to_owned());
        (
            inner.raw.get(&key).copied().unwrap_or(0),
            inner.dedup.get(&key).copied().unwrap_or(0),
        )
    }

    /// Every count, for the report.
    pub(super) fn all(&self) -> Vec<HookCount> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .raw
            .iter()
            .map(|((stream, event), raw)| HookCount {
                stream: stream.clone(),
                event: event.clone(),
                raw: *raw,
                dedup: inner
                    .dedup
                    .get(&(stream.clone(), event.clone()))
                    .copied()
                    .unwrap_or(0),
            })
            .collect()
    }
}

async fn receive(
    State(received): State<Arc<Received>>,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    received.add(&body);
    // Connection: close, so the server's webhook client keeps no idle socket to us: the soak counts the
    // server's descriptors, and a pooled connection would show there as one left behind.
    (StatusCode::OK, [(header::CONNECTION, "close")], "ok")
}

/// Binds `addr` and serves until the runtime ends.
pub(super) async fn start(addr: SocketAddr) -> Result<Arc<Received>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for webhooks on {addr}"))?;
    let received = Arc::new(Received::default());
    let app = Router::new().fallback(receive).with_state(received.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("webhook receiver: {e}");
        }
    });
    Ok(received)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_and_dedups_retries() {
        let r = super::Received::default();
        let body = |t: u64| {
            format!(
                r#"{{"event":"push_end","stream_id":"a","sequence":"s1","event_type":0,"t":{t},"sign":"x{t}"}}"#
            )
        };
        r.add(body(1).as_bytes());
        r.add(body(2).as_bytes());
        r.add(br#"{"event":"play_start","stream_id":"a","protocol":"flv","t":1}"#);
        r.add(b"not json");
        assert_eq!(r.count("a", "push_end"), (2, 1));
        assert_eq!(r.count("a", "play_start/flv"), (1, 1));
        assert_eq!((r.total(), r.unreadable()), (4, 1));
        assert_eq!(r.all().len(), 2);
    }
}
