//! Recordings: list the files, start and stop the recording of a live stream.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use control::RecordFormat;
use media::StreamKey;
use mp4::record::{format_path, NameVars};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{code, ApiError, ApiJson};
use crate::output::record::{self, StartError};
use crate::Shared;

/// Filters of the listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecordingQuery {
    /// Only this app's files (needs `{app}` as a whole directory or file name in `record.template`).
    app: Option<String>,
    /// Only this stream's files (needs `{stream}` as a whole directory or file name in `record.template`).
    stream: Option<String>,
}

/// One recording file.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordingView {
    /// Path relative to the recordings directory, `/`-separated.
    path: String,
    /// `mp4` or `flv`.
    format: String,
    /// Bytes.
    size: u64,
    /// Last modification, Unix seconds.
    modified: u64,
    /// Seconds of media, when this server closed the file (unknown for files still being written or written
    /// before a restart).
    duration: Option<f64>,
}

/// The recording files, sorted by path.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordingList {
    recordings: Vec<RecordingView>,
}

/// `POST /v1/recordings/url` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RecordingUrlRequest {
    /// The file, as `GET /v1/recordings` lists it (relative, `/`-separated).
    path: String,
    /// How long the link works, seconds (default 3600).
    #[schema(minimum = 1, maximum = 86400)]
    ttl_secs: Option<u64>,
}

/// A signed link to one recording file, usable without the admin token until `expires`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordingUrl {
    /// `/recordings/{path}?expires=UNIX&sig=HEX`, relative to this server; add `&download=1` for
    /// `Content-Disposition: attachment` (not part of the signature).
    url: String,
    /// When the link stops working, Unix seconds.
    expires: u64,
}

/// `POST .../record` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordRequest {
    /// Formats to record: `mp4`, `flv` or both.
    #[schema(value_type = Vec<String>)]
    formats: Vec<RecordFormat>,
}

/// A running recording.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordingState {
    app: String,
    stream: String,
    /// The formats being recorded.
    #[schema(value_type = Vec<String>)]
    formats: Vec<RecordFormat>,
}

/// The recording files, with their size, modification time and (when known) duration.
#[utoipa::path(get, path = "/v1/recordings", tag = "recordings", params(RecordingQuery),
    responses((status = 200, body = RecordingList), (status = 400, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn list_recordings(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<RecordingQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RecordingList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(code::BAD_JSON, format!("query: {e}")))?;
    let template = shared.recordings.template().to_owned();
    let mut filters = Vec::new();
    for (field, placeholder, value) in [("app", "{app}", &q.app), ("stream", "{stream}", &q.stream)]
    {
        if let Some(value) = value {
            let Some(index) = template.split('/').position(|part| part == placeholder) else {
                return Err(ApiError::invalid(
                    field,
                    format!("record.template `{template}` has no `{placeholder}` directory to filter on"),
                ));
            };
            filters.push((index, sanitize(value)));
        }
    }
    let dir = shared.recordings.dir().to_path_buf();
    let files = tokio::task::spawn_blocking(move || walk(&dir))
        .await
        .map_err(|e| ApiError::new(code::INTERNAL, format!("listing recordings: {e}")))?
        .map_err(|e| ApiError::new(code::INTERNAL, format!("listing recordings: {e}")))?;
    let mut recordings: Vec<RecordingView> = files
        .into_iter()
        .filter(|f| {
            let parts: Vec<&str> = f.path.split('/').collect();
            filters
                .iter()
                .all(|(i, want)| parts.get(*i).is_some_and(|p| component_is(p, want)))
        })
        .map(|mut f| {
            f.duration = shared.recordings.known_duration(&f.path);
            f
        })
        .collect();
    recordings.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Json(RecordingList { recordings }))
}

/// `part` is `want`, or the file name made of it (`want.mp4`, `want-1.flv`) when the template ends with the
/// placeholder.
fn component_is(part: &str, want: &str) -> bool {
    let Some(rest) = part.strip_prefix(want) else {
        return false;
    };
    let rest = rest
        .strip_suffix(".mp4")
        .or_else(|| rest.strip_suffix(".flv"))
        .unwrap_or(rest);
    rest.is_empty()
        || rest
            .strip_prefix('-')
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// The path component the template makes of a name (`format_path`'s own rule, so the two cannot drift apart).
fn sanitize(name: &str) -> String {
    let vars = NameVars {
        app: name,
        stream: "",
        start_unix: 0,
    };
    // "{app}" is a valid template, so this cannot fail; the name itself is the harmless fallback.
    format_path("{app}", &vars).unwrap_or_else(|_| name.to_owned())
}

/// Every `.mp4` and `.flv` file under `dir` (none when it does not exist yet).
fn walk(dir: &Path) -> std::io::Result<Vec<RecordingView>> {
    let mut out = Vec::new();
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            let path = entry.path();
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let format = match path.extension().and_then(|e| e.to_str()) {
                Some("mp4") => "mp4",
                Some("flv") => "flv",
                _ => continue,
            };
            let Ok(relative) = path.strip_prefix(dir) else {
                continue;
            };
            let relative = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            out.push(RecordingView {
                path: relative,
                format: format.to_owned(),
                size: meta.len(),
                modified,
                duration: None,
            });
        }
    }
    Ok(out)
}

/// A signed link to a recording file, for a `<video>` element or a download (`GET /recordings/{path}` needs no
/// bearer token: the link's HMAC signature and expiry stand for it).
//
// The signed `GET /recordings/{path}` itself is left out of this document: schemathesis could only call it with
// made-up signatures, and it is not a JSON endpoint (it answers the file's bytes). docs/api.md describes it.
#[utoipa::path(post, path = "/v1/recordings/url", tag = "recordings",
    request_body = RecordingUrlRequest,
    responses((status = 200, body = RecordingUrl), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn recording_url(
    State(shared): State<Arc<Shared>>,
    ApiJson(req): ApiJson<RecordingUrlRequest>,
) -> Result<Json<RecordingUrl>, ApiError> {
    use crate::http::recording_files::{self as files, Resolved};
    let ttl = req.ttl_secs.unwrap_or(files::TTL_DEFAULT);
    if !(1..=files::TTL_MAX).contains(&ttl) {
        return Err(ApiError::invalid(
            "ttlSecs",
            format!("{ttl} is outside 1..={}", files::TTL_MAX),
        ));
    }
    files::check_path(&req.path).map_err(|why| ApiError::invalid("path", why))?;
    match files::resolve(shared.recordings.dir(), &req.path).await {
        Resolved::File(_) => {}
        Resolved::Missing => {
            return Err(ApiError::new(
                code::NOT_FOUND,
                format!(
                    "no recording \"{}\": list them with GET /v1/recordings",
                    crate::ops::log_value::clip(&req.path)
                ),
            ))
        }
        Resolved::Outside => {
            return Err(ApiError::invalid(
                "path",
                "leads outside the recordings directory",
            ))
        }
    }
    let expires = files::now_unix() + ttl;
    Ok(Json(RecordingUrl {
        url: files::link(&files::key(&shared), &req.path, expires),
        expires,
    }))
}

/// Starts recording a live stream now, whatever its app's policy.
#[utoipa::path(post, path = "/v1/streams/{app}/{stream}/record", tag = "recordings",
    params(("app" = String, Path), ("stream" = String, Path)),
    request_body = RecordRequest,
    responses((status = 200, body = RecordingState), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn start_recording(
    State(shared): State<Arc<Shared>>,
    UrlPath((app, stream)): UrlPath<(String, String)>,
    ApiJson(req): ApiJson<RecordRequest>,
) -> Result<Json<RecordingState>, ApiError> {
    if shared.streams.catalog.app(&app).is_none() {
        return Err(ApiError::unknown_app(&app));
    }
    let key = StreamKey::new(app.clone(), stream.clone());
    if shared
        .streams
        .registry
        .get(&key)
        .is_none_or(|s| s.publisher.is_none())
    {
        return Err(ApiError::new(
            code::STREAM_NOT_LIVE,
            format!("stream {app}/{stream} is not live"),
        ));
    }
    match record::start(&shared.recordings, &key, &req.formats) {
        Ok(()) => {}
        Err(e @ StartError::NotLive(_)) => {
            return Err(ApiError::new(code::STREAM_NOT_LIVE, e.to_string()))
        }
        Err(e @ StartError::AlreadyRecording { .. }) => {
            return Err(ApiError::new(code::CONFLICT, e.to_string()))
        }
        Err(e @ StartError::NoFormat) => return Err(ApiError::invalid("formats", e)),
    }
    let formats = record::formats(&shared.recordings, &key).unwrap_or_default();
    Ok(Json(RecordingState {
        app,
        stream,
        formats,
    }))
}

/// Stops the recording of a stream; its files are closed and reported with `record_done`.
#[utoipa::path(delete, path = "/v1/streams/{app}/{stream}/record", tag = "recordings",
    params(("app" = String, Path), ("stream" = String, Path)),
    responses((status = 204), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn stop_recording(
    State(shared): State<Arc<Shared>>,
    UrlPath((app, stream)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    if !record::stop(
        &shared.recordings,
        &StreamKey::new(app.clone(), stream.clone()),
    ) {
        return Err(ApiError::new(
            code::NOT_FOUND,
            format!("{app}/{stream} is not being recorded"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_whole_components_and_file_names() {
        assert!(component_is("cam1", "cam1"));
        assert!(component_is("cam1.mp4", "cam1"));
        assert!(component_is("cam1-2.flv", "cam1"));
        assert!(!component_is("cam10", "cam1"));
        assert!(!component_is("cam1-x.mp4", "cam1"));
        assert_eq!(sanitize("a b/.c"), "a_b_.c");
        assert_eq!(sanitize(".hidden"), "_.hidden");
    }
}
