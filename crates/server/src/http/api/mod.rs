//! The HTTP API: the admin API under `/v1` (bearer admin token), the SDK endpoints under `/sdk/v1` (the app's
//! access tokens), `/metrics` and the OpenAPI document at `/v1/openapi.json`.
//!
//! Every error is `{code, message}` ([`error::ApiError`]); bodies are bounded by `max_body_bytes`.

mod apps;
mod channels;
pub(crate) mod error;
mod recordings;
mod rooms;
mod sdk;
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
use error::{code, ApiError};

#[derive(OpenApi)]
#[openapi(
    info(title = "mplive API", description = "Admin API (bearer admin token) and the SDK endpoints of mplive."),
    paths(
        streams::list_streams, streams::get_stream, streams::kick, streams::forbid, streams::unforbid,
        nodes,
        apps::list_apps, apps::create_app, apps::get_app, apps::update_app, apps::delete_app, apps::rotate_key,
        apps::sign_urls, apps::mint_token,
        channels::list_channels, channels::create_channel, channels::get_channel, channels::delete_channel,
        sdk::instance, sdk::refresh, sdk::player_instance, sdk::player_refresh,
        webhook_log,
        recordings::list_recordings, recordings::start_recording, recordings::stop_recording,
        rooms::create_room_session, rooms::put_room_session,
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
        .route("/v1/streams/{app}/{stream}/kick", post(streams::kick))
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
        .route("/v1/webhooks", get(webhook_log))
        .route("/v1/recordings", get(recordings::list_recordings))
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
    crate::ops::process::render(&mut text);
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
    #[schema(value_type = Vec<Object>)]
    deliveries: Vec<control::store::Webhook>,
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
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is outside 1..=1000"),
        ));
    }
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
    Ok(Json(WebhookLog { deliveries }))
}
