//! `GET /v1/interruptions`: the records of ended pushes (docs/api.md#interruptions).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use control::store::{Interruption, InterruptionFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{code, ApiError};
use crate::Shared;

/// Filters of the interruption records.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InterruptionQuery {
    /// Only this app's pushes (name or id; the name of a deleted app still finds its records).
    app: Option<String>,
    /// Only this stream's pushes.
    stream: Option<String>,
    /// Only pushes that ended at or after this, Unix ms.
    from: Option<i64>,
    /// Only pushes that ended at or before this, Unix ms.
    to: Option<i64>,
    /// At most this many, newest end first (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Interruption records, newest end first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InterruptionList {
    interruptions: Vec<InterruptionView>,
}

/// One push that ended, and why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InterruptionView {
    /// Record id, increasing.
    id: i64,
    /// The push's webhook `sequence` (its `push_start` and `push_end` carry it).
    sequence: String,
    /// The server that held the push.
    node: String,
    /// The app's name.
    app: String,
    stream: String,
    /// The publisher's address, `ip:port` (only the IP when the push was recorded after a restart or by another
    /// node; empty when unknown).
    publisher: String,
    /// When the push started, Unix ms.
    started_ms: i64,
    /// When it ended, Unix ms (`restart`: when the server found it cut, at its next start).
    ended_ms: i64,
    /// How long it lasted, ms; null when unknown (`restart`).
    duration_ms: Option<i64>,
    /// The `errcode` of its `push_end` webhook (docs/webhooks.md).
    errcode: i64,
    /// `closed`, `kicked`, `no_data`, `error`, `shutdown`, `takeover`, `node_lost` or `restart`.
    reason: String,
    /// The `errmsg` of its `push_end` (empty for `closed`).
    message: String,
}

impl From<Interruption> for InterruptionView {
    fn from(r: Interruption) -> InterruptionView {
        InterruptionView {
            id: r.id,
            sequence: r.session,
            node: r.node,
            app: r.app,
            stream: r.stream,
            publisher: r.publisher,
            started_ms: r.started_ms,
            ended_ms: r.ended_ms,
            duration_ms: r.duration_ms,
            errcode: r.errcode,
            reason: r.reason.as_str().to_owned(),
            message: r.message,
        }
    }
}

/// The records of ended pushes (publisher closed, kicked, no data, error, shutdown, takeover, node lost,
/// restart), kept for `interruptions.retention_days`.
#[utoipa::path(get, path = "/v1/interruptions", tag = "streams", params(InterruptionQuery),
    responses((status = 200, body = InterruptionList), (status = 400, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn list_interruptions(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<InterruptionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InterruptionList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(code::BAD_JSON, format!("query: {e}")))?;
    let limit = super::list_limit(q.limit)?;
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from > to {
            return Err(ApiError::invalid(
                "from",
                format!("{from} is after to ({to}); both are Unix milliseconds"),
            ));
        }
    }
    if let Some(stream) = &q.stream {
        control::store::validate_stream_name(stream)?;
    }
    // An app that exists is found by id or name; a name the catalog does not know may be a deleted app's.
    let app = match q.app {
        Some(a) => Some(match shared.streams.catalog.app_by_id_or_name(&a) {
            Some(app) => app.name.clone(),
            None => {
                control::store::validate_app_name(&a)?;
                a
            }
        }),
        None => None,
    };
    let filter = InterruptionFilter {
        app,
        stream: q.stream,
        from_ms: q.from,
        to_ms: q.to,
        limit,
    };
    let records = shared
        .streams
        .catalog
        .store()
        .interruptions(&filter)
        .await?;
    Ok(Json(InterruptionList {
        interruptions: records.into_iter().map(InterruptionView::from).collect(),
    }))
}
