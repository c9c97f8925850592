//! Live streams: statistics with the live-pusher net-status names, kick, forbid.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use control::now_unix;
use control::webhook_event::{EventKind, StreamEvent};
use media::StreamKey;
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::ToSchema;

use super::error::{code, ApiError, ApiJson};
use crate::stream::view::{self, StreamView};
use crate::Shared;

/// Every live stream.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamList {
    /// Streams, sorted by app and name, with statistics (`videoBitrate`, `audioBitrate`, `videoFPS`, `videoGOP`,
    /// `videoWidth`, `videoHeight`, viewers per protocol, bytes in/out, dropped frames, ...).
    /// In cluster mode, every stream of every node, each also with `origin` (the node holding its publisher),
    /// `clusterPlayers` (viewers summed over nodes) and `nodes` (each node's viewers of it).
    #[schema(value_type = Vec<StreamView>)]
    pub(crate) streams: Vec<serde_json::Value>,
}

/// `POST .../forbid` body: until when publishing is refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ForbidRequest {
    /// Unix time (seconds) until which publishing is refused. Give this or `seconds`.
    #[schema(minimum = 0)]
    pub(crate) until: Option<i64>,
    /// Seconds from now. Give this or `until`.
    #[schema(minimum = 1)]
    pub(crate) seconds: Option<i64>,
    /// Why, for the operator and the refused publisher's error message.
    #[schema(max_length = 256)]
    pub(crate) reason: Option<String>,
}

/// A forbid in force.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ForbidView {
    pub(crate) app: String,
    pub(crate) stream: String,
    /// Unix seconds.
    pub(crate) until: i64,
    pub(crate) reason: Option<String>,
    /// Whether a live publisher was dropped.
    pub(crate) kicked: bool,
}

/// Filters of the forbid list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ForbidQuery {
    /// Only this app's forbids (name or id).
    app: Option<String>,
}

/// A forbid in force, as listed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ForbidEntry {
    /// The app's name (its id when the app is gone).
    pub(crate) app: String,
    pub(crate) stream: String,
    /// Unix seconds until which publishing is refused.
    pub(crate) until: i64,
    pub(crate) reason: Option<String>,
    /// When the forbid was set, Unix ms.
    pub(crate) created_ms: i64,
}

/// The forbids in force.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ForbidList {
    /// Sorted by app and stream.
    pub(crate) forbids: Vec<ForbidEntry>,
}

/// The result of a kick.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KickResult {
    pub(crate) kicked: bool,
}

fn not_live(app: &str, stream: &str) -> ApiError {
    ApiError::new(
        code::STREAM_NOT_LIVE,
        format!("stream {app}/{stream} is not live"),
    )
}

/// Every live stream (and those waiting for their publisher to come back).
#[utoipa::path(get, path = "/v1/streams", tag = "streams",
    responses((status = 200, body = StreamList), (status = 401, body = ApiError), (status = 503, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn list_streams(
    State(shared): State<Arc<Shared>>,
) -> Result<Json<StreamList>, ApiError> {
    let streams = match &shared.streams.cluster {
        Some(cluster) => cluster.streams().await?,
        None => view::list(&shared.streams.registry)
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect(),
    };
    Ok(Json(StreamList { streams }))
}

/// One stream's statistics.
#[utoipa::path(get, path = "/v1/streams/{app}/{stream}", tag = "streams",
    params(("app" = String, Path), ("stream" = String, Path)),
    responses((status = 200, body = StreamView), (status = 404, body = ApiError), (status = 401, body = ApiError),
        (status = 503, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn get_stream(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(cluster) = &shared.streams.cluster {
        return cluster
            .streams()
            .await?
            .into_iter()
            .find(|s| s["app"] == app.as_str() && s["stream"] == stream.as_str())
            .map(Json)
            .ok_or_else(|| not_live(&app, &stream));
    }
    view::get(
        &shared.streams.registry,
        &StreamKey::new(app.clone(), stream.clone()),
    )
    .map(|s| Json(serde_json::to_value(s).unwrap_or_default()))
    .ok_or_else(|| not_live(&app, &stream))
}

/// Drops the stream's publisher now (it may publish again; use forbid to keep it out).
#[utoipa::path(post, path = "/v1/streams/{app}/{stream}/kick", tag = "streams",
    params(("app" = String, Path), ("stream" = String, Path)),
    responses((status = 200, body = KickResult), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn kick(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Json<KickResult>, ApiError> {
    if !kick_publisher(&shared, &app, &stream, "kick", "kicked through the API").await? {
        return Err(not_live(&app, &stream));
    }
    Ok(Json(KickResult { kicked: true }))
}

/// Kicks (on this node, or in cluster mode on the node that holds the publisher) and sends the `kick` webhook;
/// `false` when the stream had no publisher.
async fn kick_publisher(
    shared: &Shared,
    app: &str,
    stream: &str,
    reason: &str,
    why: &str,
) -> Result<bool, ApiError> {
    let key = StreamKey::new(app.to_string(), stream.to_string());
    let kicked = match &shared.streams.cluster {
        Some(cluster) if cluster.kick_local_publisher(&key) => true,
        Some(cluster) => match cluster.kick_remote(&key, reason).await? {
            Some(node) => {
                info!(%app, %stream, %node, "publisher on another node told to stop: {why}");
                true
            }
            None => false,
        },
        None => shared.streams.registry.kick(&key),
    };
    if kicked {
        info!(%app, %stream, "publisher kicked: {why}");
        if let Some(a) = shared.streams.catalog.app(app) {
            // Its own sequence, so `sequence` + `event_type` identifies this kick (docs/webhooks.md); errcode
            // 1012 (`kicked`), as on the push_end that follows.
            let mut event = StreamEvent::new(EventKind::Kick, app, stream, now_unix())
                .with_error(control::webhook_event::errcode::KICKED, why);
            event.sequence = crate::ops::webhooks::new_sequence();
            shared.streams.webhooks.emit(&a, event);
        }
    }
    Ok(kicked)
}

/// Drops the publisher at once and refuses publishing until `until`.
#[utoipa::path(post, path = "/v1/streams/{app}/{stream}/forbid", tag = "streams",
    params(("app" = String, Path), ("stream" = String, Path)),
    request_body = ForbidRequest,
    responses((status = 200, body = ForbidView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn forbid(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
    ApiJson(req): ApiJson<ForbidRequest>,
) -> Result<Json<ForbidView>, ApiError> {
    let a = shared
        .streams
        .catalog
        .app(&app)
        .ok_or_else(|| ApiError::unknown_app(&app))?;
    let now = i64::try_from(now_unix()).unwrap_or(i64::MAX);
    let until = match (req.until, req.seconds) {
        (Some(u), None) if u > now => u,
        (Some(u), None) => {
            return Err(ApiError::invalid(
                "until",
                format!("{u} is not in the future (now is {now})"),
            ))
        }
        (None, Some(s)) if (1..=10 * 365 * 86_400).contains(&s) => now + s,
        (None, Some(s)) => {
            return Err(ApiError::invalid(
                "seconds",
                format!("{s} is outside 1..=315360000"),
            ))
        }
        _ => {
            return Err(ApiError::invalid(
                "until",
                "give exactly one of `until` (Unix seconds) or `seconds`",
            ))
        }
    };
    if let Some(r) = &req.reason {
        if r.len() > 256 {
            return Err(ApiError::invalid("reason", "longer than 256 bytes"));
        }
    }
    let until_ms = until.saturating_mul(1000);
    shared
        .streams
        .catalog
        .store()
        .forbid(&a.id, &stream, until_ms, req.reason.as_deref())
        .await?;
    shared.streams.catalog.reload().await?;
    if let Some(cluster) = &shared.streams.cluster {
        cluster.catalog_changed().await;
    }
    let kicked = kick_publisher(
        &shared,
        &app,
        &stream,
        "forbid",
        "forbidden through the API",
    )
    .await?;
    Ok(Json(ForbidView {
        app,
        stream,
        until,
        reason: req.reason,
        kicked,
    }))
}

/// The forbids in force (those whose `until` is past are not listed).
#[utoipa::path(get, path = "/v1/forbids", tag = "streams", params(ForbidQuery),
    responses((status = 200, body = ForbidList), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn list_forbids(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ForbidQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ForbidList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(code::BAD_JSON, format!("query: {e}")))?;
    let catalog = &shared.streams.catalog;
    let only = match &q.app {
        Some(a) => Some(
            catalog
                .app_by_id_or_name(a)
                .ok_or_else(|| ApiError::unknown_app(a))?
                .id
                .clone(),
        ),
        None => None,
    };
    let mut forbids: Vec<ForbidEntry> = catalog
        .store()
        .forbids(control::now_ms())
        .await?
        .into_iter()
        .filter(|f| only.as_ref().is_none_or(|id| *id == f.app_id))
        .map(|f| ForbidEntry {
            app: catalog
                .app_by_id_or_name(&f.app_id)
                .map_or_else(|| f.app_id.clone(), |a| a.name.clone()),
            stream: f.stream,
            until: f.until_ms.div_euclid(1000),
            reason: f.reason,
            created_ms: f.created_ms,
        })
        .collect();
    forbids.sort_by(|a, b| (&a.app, &a.stream).cmp(&(&b.app, &b.stream)));
    Ok(Json(ForbidList { forbids }))
}

/// Lifts a forbid.
#[utoipa::path(delete, path = "/v1/streams/{app}/{stream}/forbid", tag = "streams",
    params(("app" = String, Path), ("stream" = String, Path)),
    responses((status = 204), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn unforbid(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let a = shared
        .streams
        .catalog
        .app(&app)
        .ok_or_else(|| ApiError::unknown_app(&app))?;
    if !shared
        .streams
        .catalog
        .store()
        .unforbid(&a.id, &stream)
        .await?
    {
        return Err(ApiError::new(
            code::NOT_FOUND,
            format!("{app}/{stream} is not forbidden"),
        ));
    }
    shared.streams.catalog.reload().await?;
    if let Some(cluster) = &shared.streams.cluster {
        cluster.catalog_changed().await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The players of a stream connected to this node.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlayerList {
    /// This node's id in cluster mode (each node lists its own players), else null.
    pub(crate) node: Option<String>,
    /// RTMP and HTTP-FLV players (and other nodes' relays), oldest first.
    pub(crate) players: Vec<PlayerView>,
    /// HLS and LL-HLS viewers: counted (by address and User-Agent), not listed, since they hold no connection.
    pub(crate) hls_viewers: u64,
}

/// One player.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlayerView {
    /// `rtmp`, `flv`, or `relay` for another node of the cluster pulling the stream.
    pub(crate) protocol: String,
    /// The client's address.
    pub(crate) addr: String,
    /// When it started playing, Unix ms.
    pub(crate) since_ms: u64,
    /// Bytes written to it.
    pub(crate) bytes: u64,
    /// Frames it skipped because it fell behind.
    pub(crate) dropped_frames: u64,
}

/// The players of one stream on this node, with what each was sent.
#[utoipa::path(get, path = "/v1/streams/{app}/{stream}/players", tag = "streams",
    params(("app" = String, Path), ("stream" = String, Path)),
    responses((status = 200, body = PlayerList), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn list_players(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Json<PlayerList>, ApiError> {
    let key = StreamKey::new(app.clone(), stream.clone());
    let entry = crate::stream::entry::of_key(&shared.streams, &key)
        .ok_or_else(|| not_live(&app, &stream))?;
    let (classic, low_latency) = crate::http::hls::viewers_by_variant(&entry);
    let players = entry
        .players
        .players()
        .into_iter()
        .map(|p| PlayerView {
            protocol: p.protocol.to_owned(),
            addr: p.addr,
            since_ms: p.since_ms,
            bytes: p.bytes,
            dropped_frames: p.dropped_frames,
        })
        .collect();
    Ok(Json(PlayerList {
        node: shared.streams.cluster.as_ref().map(|c| c.node.clone()),
        players,
        hls_viewers: classic + low_latency,
    }))
}

/// A stream's recent rates on this node.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamHistory {
    /// Milliseconds between samples.
    pub(crate) interval_ms: u64,
    /// The samples, oldest first (at most five minutes).
    pub(crate) samples: Vec<crate::stream::history::Sample>,
}

/// The last minutes of one stream's `videoBitrate`, `audioBitrate`, `videoFPS` and players, sampled every 2 s.
#[utoipa::path(get, path = "/v1/streams/{app}/{stream}/history", tag = "streams",
    params(("app" = String, Path), ("stream" = String, Path)),
    responses((status = 200, body = StreamHistory), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn stream_history(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Json<StreamHistory>, ApiError> {
    let key = StreamKey::new(app.clone(), stream.clone());
    let entry = crate::stream::entry::of_key(&shared.streams, &key)
        .ok_or_else(|| not_live(&app, &stream))?;
    Ok(Json(StreamHistory {
        interval_ms: u64::try_from(crate::stream::history::INTERVAL.as_millis()).unwrap_or(2000),
        samples: entry.history.samples(),
    }))
}
