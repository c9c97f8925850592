//! The JSON stream API: `GET /v1/streams` and `GET /v1/streams/{app}/{stream}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use media::StreamKey;
use serde_json::json;

use crate::Shared;

/// `GET /v1/streams`: every live stream (and those in their republish grace) with statistics.
pub(crate) async fn list_streams(State(shared): State<Arc<Shared>>) -> Response {
    let mut streams = shared.registry.list();
    streams.sort_by(|a, b| (&a.app, &a.stream).cmp(&(&b.app, &b.stream)));
    Json(json!({ "streams": streams })).into_response()
}

/// `GET /v1/streams/{app}/{stream}`: one stream's statistics, 404 when it is not live.
pub(crate) async fn get_stream(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
) -> Response {
    let key = StreamKey::new(app, stream);
    match shared.registry.get(&key) {
        Some(stats) => Json(stats).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "stream_not_found", "message": format!("stream {key} is not live") })),
        )
            .into_response(),
    }
}
