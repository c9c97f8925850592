//! The HTTP API: the admin API under `/v1` (bearer admin token), the SDK endpoints under `/sdk/v1` (the app's
//! access tokens), `/metrics` and the OpenAPI document at `/v1/openapi.json`.
//!
//! Every error is `{code, message}` ([`error::ApiError`]); bodies are bounded by `max_body_bytes`.

mod apps;
mod channels;
pub(crate) mod error;
mod interruptions;
mod recordings;
mod rooms;
pub(crate) mod sdk;
mod streams;

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::Shared;
pub(crate) use apps::AppView;
use error::{code, ApiError};

#[derive(OpenApi)]
#[openapi(
    info(title = "mplive API", description = "Admin API (bearer admin token) and the SDK endpoints of mplive."),
    paths(
        streams::list_streams, streams::get_stream, streams::list_players, streams::stream_history, streams::kick, streams::forbid, streams::unforbid,
        streams::list_forbids,
        interruptions::list_interruptions,
        nodes,
        apps::list_apps, apps::create_app, apps::get_app, apps::update_app, apps::delete_app, apps::rotate_key,
        apps::sign_urls, apps::mint_token,
        channels::list_channels, channels::create_channel, channels::get_channel, channels::delete_channel,
        sdk::instance, sdk::refresh, sdk::player_instance, sdk::player_refresh,
        webhook_log,
        recordings::list_recordings, recordings::recording_url, recordings::start_recording, recordings::stop_recording,
        rooms::create_room_session, rooms::put_room_session, rooms::list_rooms,
    ),
    modifiers(&AdminAuth),
)]
struct ApiDoc;

struct AdminAuth;

impl Modify for AdminAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The API routes, with their body limit and the admin check on `/v1`.
pub(crate) fn routes(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let admin = Router::new()
        .route("/v1/nodes", get(nodes))
        .route("/v1/streams", get(streams::list_streams))
        .route("/v1/streams/{app}/{stream}", get(streams::get_stream))
        .route(
            "/v1/streams/{app}/{stream}/players",
            get(streams::list_players),
        )
        .route(
            "/v1/streams/{app}/{stream}/history",
            get(streams::stream_history),
        )
        .route("/v1/streams/{app}/{stream}/kick", post(streams::kick))
        .route("/v1/forbids", get(streams::list_forbids))
        .route("/v1/interruptions", get(interruptions::list_interruptions))
        .route(
            "/v1/streams/{app}/{stream}/forbid",
            post(streams::forbid).delete(streams::unforbid),
        )
        .route("/v1/apps", get(apps::list_apps).post(apps::create_app))
        .route(
            "/v1/apps/{app}",
            get(apps::get_app)
                .patch(apps::update_app)
                .delete(apps::delete_app),
        )
        .route("/v1/apps/{app}/rotate-key", post(apps::rotate_key))
        .route("/v1/apps/{app}/urls", post(apps::sign_urls))
        .route("/v1/apps/{app}/tokens", post(apps::mint_token))
        .route(
            "/v1/apps/{app}/channels",
            get(channels::list_channels).post(channels::create_channel),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}",
            get(channels::get_channel).delete(channels::delete_channel),
        )
        .route(
            "/v1/apps/{app}/room-sessions",
            post(rooms::create_room_session),
        )
        .route(
            "/v1/apps/{app}/room-sessions/{open_id}",
            axum::routing::put(rooms::put_room_session),
        )
        .route("/v1/rooms", get(rooms::list_rooms))
        .route("/v1/webhooks", get(webhook_log))
        .route("/v1/recordings", get(recordings::list_recordings))
        .route("/v1/recordings/url", post(recordings::recording_url))
        .route(
            "/v1/streams/{app}/{stream}/record",
            post(recordings::start_recording).delete(recordings::stop_recording),
        )
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            require_admin,
        ));
    let open = Router::new()
        .route("/v1/openapi.json", get(|| async { Json(openapi()) }))
        .route("/sdk/v1/publisher/instance", post(sdk::instance))
        .route("/sdk/v1/publisher/refresh", post(sdk::refresh))
        .route("/sdk/v1/player/instance", post(sdk::player_instance))
        .route("/sdk/v1/player/refresh", post(sdk::player_refresh));
    admin
        .merge(open)
        .layer(DefaultBodyLimit::max(shared.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            refuse_oversized_bodies,
        ))
}

/// Answers 413 at once to a request whose declared body (`Content-Length`) is over `max_body_bytes`, without
/// reading it, and closes the connection: a client that declares megabytes and sends them slowly would otherwise
/// hold the connection until the body limit is reached. Outermost, so it runs before the admin token check.
async fn refuse_oversized_bodies(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let max = shared.max_body_bytes;
    match declared {
        Some(n) if n > max as u64 => {
            let mut resp = ApiError::new(
                code::BODY_TOO_LARGE,
                format!(
                    "the body is {n} bytes; this server accepts at most {max} (max_body_bytes)"
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
        _ => next.run(req).await,
    }
}

/// Whether `path` is under the JSON API (`/v1/...`, `/sdk/v1/...`).
fn is_api_path(path: &str) -> bool {
    ["/v1", "/sdk/v1"].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// What `/sdk/v1` answers a browser: any origin, the methods and headers the SDK sends.
fn cors_headers(headers: &mut axum::http::HeaderMap, preflight: bool) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, authorization"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
}

/// Around every HTTP route: under `/v1` and `/sdk/v1`, an unknown route answers 404 and a wrong method 405, both
/// as `{code, message}` (whatever route or fallback produced them); `/sdk/v1` answers CORS preflights with 204
/// and puts `Access-Control-Allow-Origin: *` on every answer, so a page on another origin (H5) can call it.
pub(crate) async fn api_shape(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if !is_api_path(&path) {
        return next.run(req).await;
    }
    let sdk = path.starts_with("/sdk/v1");
    if sdk
        && req.method() == axum::http::Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut resp = axum::http::StatusCode::NO_CONTENT.into_response();
        cors_headers(resp.headers_mut(), true);
        return resp;
    }
    // Media routes (`/{app}/{file}`, ...) also match paths under /v1: what they answer there is not an API route.
    let api_route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|m| is_api_path(m.as_str()));
    let method = req.method().clone();
    let mut resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let status = resp.status();
    let replacement = if status == axum::http::StatusCode::METHOD_NOT_ALLOWED && api_route {
        Some(ApiError::new(
            code::METHOD_NOT_ALLOWED,
            format!(
                "{method} is not allowed on {}; see GET /v1/openapi.json",
                crate::ops::log_value::clip(&path)
            ),
        ))
    } else if (status == axum::http::StatusCode::NOT_FOUND && !is_json)
        || (status == axum::http::StatusCode::METHOD_NOT_ALLOWED && !api_route)
    {
        Some(ApiError::new(
            code::NOT_FOUND,
            format!(
                "no route {method} {}; the API is described at GET /v1/openapi.json",
                crate::ops::log_value::clip(&path)
            ),
        ))
    } else {
        None
    };
    if let Some(error) = replacement {
        let allow = resp.headers().get(header::ALLOW).cloned();
        resp = error.into_response();
        if let (Some(allow), true) = (
            allow,
            status == axum::http::StatusCode::METHOD_NOT_ALLOWED && api_route,
        ) {
            resp.headers_mut().insert(header::ALLOW, allow);
        }
    }
    if sdk {
        cors_headers(resp.headers_mut(), false);
    }
    resp
}

/// Lets a request through only with `Authorization: Bearer <admin token>`.
async fn require_admin(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(token) if shared.admin.verify(token) => next.run(req).await,
        Some(_) => unauthorized("the admin token is wrong"),
        None => unauthorized("no admin token"),
    }
}

fn unauthorized(what: &str) -> Response {
    let mut resp = ApiError::new(
        code::ADMIN_TOKEN,
        format!(
            "{what}: send `Authorization: Bearer TOKEN` with the token from DATA_DIR/admin-token (or MPLIVE_ADMIN_TOKEN)"
        ),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let mut text = shared.streams.metrics.render(
        &shared.streams.registry.totals(),
        crate::http::hls::viewers_total(&shared.streams),
    );
    let _ = writeln!(
        text,
        "# HELP mplive_webhook_queue Webhook events queued in memory, not yet stored in the outbox.\n\
         # TYPE mplive_webhook_queue gauge\nmplive_webhook_queue {}",
        shared.streams.webhooks.queued()
    );
    if let Some(webrtc) = &shared.webrtc {
        let _ = writeln!(
            text,
            "# HELP mplive_webrtc_reencodes Streams with B-frames whose video is re-encoded for their WebRTC viewers \
             now (at most webrtc.transcode.max_streams).\n# TYPE mplive_webrtc_reencodes gauge\n\
             mplive_webrtc_reencodes {}",
            webrtc.reencodes()
        );
    }
    crate::ops::process::render(&mut text);
    crate::ops::allocator::render(&mut text);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// The nodes of the cluster (empty with `cluster: false` on a server without `--redis-url`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NodesView {
    /// Whether cluster mode is on.
    cluster: bool,
    /// This node's id (cluster mode only).
    this_node: Option<String>,
    /// Every live node, sorted by id: `id`, `rtmp` and `http` (advertised `host:port`), `version`,
    /// `startedAtMs`, `load` (`streams`, `players`, `egressMbps`, `cpuPercent`) and its `streams`.
    #[schema(value_type = Vec<Object>)]
    nodes: Vec<crate::cluster::store::NodeRecord>,
}

/// The live nodes of the cluster, with their addresses and load, as Redis has them now.
#[utoipa::path(get, path = "/v1/nodes", tag = "cluster",
    responses((status = 200, body = NodesView), (status = 401, body = ApiError), (status = 503, body = ApiError)),
    security(("admin" = [])))]
async fn nodes(State(shared): State<Arc<Shared>>) -> Result<Json<NodesView>, ApiError> {
    let Some(cluster) = &shared.streams.cluster else {
        return Ok(Json(NodesView {
            cluster: false,
            this_node: None,
            nodes: Vec::new(),
        }));
    };
    let list = cluster.node_list().await?;
    Ok(Json(NodesView {
        cluster: true,
        this_node: Some(list.this_node),
        nodes: list.nodes,
    }))
}

/// Filters of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct WebhookQuery {
    /// Only this app's deliveries (name or id).
    app: Option<String>,
    /// At most this many, newest first (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Webhook deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
struct WebhookLog {
    deliveries: Vec<WebhookView>,
}

/// One webhook delivery. `body` is the request body exactly as sent (Tencent's field names, docs/webhooks.md).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct WebhookView {
    /// Outbox id, increasing.
    id: i64,
    /// The app the event belongs to.
    app_id: String,
    /// Where it is POSTed.
    url: String,
    /// The event name (`push_start`, ...).
    event: String,
    /// The request body.
    body: String,
    /// `pending`, `delivered` or `failed`.
    state: String,
    /// Attempts made so far.
    attempts: i64,
    /// HTTP status of the last attempt, when there was a response.
    last_status: Option<i64>,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// When the next attempt is due, Unix ms.
    next_attempt_ms: i64,
    /// When the event happened, Unix ms.
    created_ms: i64,
    /// When it was delivered, Unix ms.
    delivered_ms: Option<i64>,
    /// When the last attempt finished, Unix ms.
    last_attempt_ms: Option<i64>,
}

impl From<control::store::Webhook> for WebhookView {
    fn from(w: control::store::Webhook) -> WebhookView {
        WebhookView {
            id: w.id,
            app_id: w.app_id,
            url: w.url,
            event: w.event,
            body: w.body,
            state: w.state.as_str().to_owned(),
            attempts: w.attempts,
            last_status: w.last_status,
            last_error: w.last_error,
            next_attempt_ms: w.next_attempt_ms,
            created_ms: w.created_ms,
            delivered_ms: w.delivered_ms,
            last_attempt_ms: w.last_attempt_ms,
        }
    }
}

/// The webhook delivery log: every event, its attempts and its state.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", params(WebhookQuery),
    responses((status = 200, body = WebhookLog), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 401, body = ApiError)),
    security(("admin" = [])))]
async fn webhook_log(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<WebhookQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<WebhookLog>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(code::BAD_JSON, format!("query: {e}")))?;
    let limit = list_limit(q.limit)?;
    let app_id = match &q.app {
        Some(a) => Some(
            shared
                .streams
                .catalog
                .app_by_id_or_name(a)
                .ok_or_else(|| ApiError::unknown_app(a))?
                .id
                .clone(),
        ),
        None => None,
    };
    let deliveries = shared
        .streams
        .catalog
        .store()
        .webhook_log(app_id.as_deref(), limit)
        .await?;
    Ok(Json(WebhookLog {
        deliveries: deliveries.into_iter().map(WebhookView::from).collect(),
    }))
}

/// The `limit` of a log listing (webhooks, interruptions): 1..=1000, default 100.
fn list_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is outside 1..=1000"),
        ));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The live-pusher net-status names, kept as live-pusher spells them.
    const LIVE_PUSHER: [&str; 2] = ["videoFPS", "videoGOP"];

    fn is_camel_case(name: &str) -> bool {
        LIVE_PUSHER.contains(&name)
            || (name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric())
                && !name.contains("ID")
                && !name
                    .as_bytes()
                    .windows(2)
                    .any(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase()))
    }

    /// Every property name under every `properties` of the document, with where it was found.
    fn property_names(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if k == "properties" {
                        if let Value::Object(props) = child {
                            for (name, schema) in props {
                                out.push((name.clone(), at.to_owned()));
                                property_names(schema, &format!("{at}.{name}"), out);
                            }
                        }
                    } else {
                        property_names(child, &format!("{at}/{k}"), out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| property_names(i, at, out)),
            _ => {}
        }
    }

    #[test]
    fn every_admin_and_sdk_body_is_camel_case() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let mut names = Vec::new();
        property_names(&doc, "", &mut names);
        assert!(
            names.iter().any(|(n, _)| n == "bytesIn"),
            "the stream view is in the document"
        );
        assert!(
            names.iter().any(|(n, _)| n == "llHls"),
            "players count LL-HLS viewers"
        );
        let bad: Vec<_> = names.iter().filter(|(n, _)| !is_camel_case(n)).collect();
        assert!(bad.is_empty(), "not camelCase: {bad:?}");
    }

    #[test]
    fn query_parameters_are_camel_case_too() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap();
                    assert!(is_camel_case(name), "{path}: parameter {name}");
                }
            }
        }
    }

    #[test]
    fn the_forbid_list_is_documented() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        assert!(doc["paths"]["/v1/forbids"]["get"].is_object());
    }

    #[test]
    fn api_paths() {
        for p in ["/v1", "/v1/", "/v1/streams", "/sdk/v1", "/sdk/v1/x"] {
            assert!(super::is_api_path(p), "{p}");
        }
        for p in ["/v10/x", "/live/cam.flv", "/sdk/v10", "/healthz"] {
            assert!(!super::is_api_path(p), "{p}");
        }
    }
}
