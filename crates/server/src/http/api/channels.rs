//! An app's channels: named streams created ahead of time, listed with whether each is live.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use control::App;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::apps::app_or_404;
use super::error::{code, ApiError, ApiJson};
use crate::Shared;

/// A channel: a named stream of an app.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChannelView {
    pub(crate) channel_id: String,
    pub(crate) title: Option<String>,
    pub(crate) created_ms: i64,
    /// Whether it is being published now.
    pub(crate) live: bool,
}

/// Every channel of an app.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelList {
    pub(crate) channels: Vec<ChannelView>,
}

/// A new channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateChannel {
    /// 1-128 of `A-Z a-z 0-9 _ . -`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    pub(crate) channel_id: String,
    #[schema(max_length = 256)]
    pub(crate) title: Option<String>,
}

/// Every channel of an app.
#[utoipa::path(get, path = "/v1/apps/{app}/channels", tag = "channels", params(("app" = String, Path)),
    responses((status = 200, body = ChannelList), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn list_channels(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
) -> Result<Json<ChannelList>, ApiError> {
    let app = app_or_404(&shared, &app).await?;
    let channels = shared.streams.catalog.store().channels(&app.id).await?;
    Ok(Json(ChannelList {
        channels: channels
            .into_iter()
            .map(|c| channel_view(&shared, &app, c))
            .collect(),
    }))
}

fn channel_view(shared: &Shared, app: &App, c: control::store::Channel) -> ChannelView {
    let live = shared
        .streams
        .registry
        .get(&media::StreamKey::new(app.name.clone(), c.channel.clone()))
        .is_some_and(|s| s.publisher.is_some());
    ChannelView {
        channel_id: c.channel,
        title: c.title,
        created_ms: c.created_ms,
        live,
    }
}

/// Creates a channel.
#[utoipa::path(post, path = "/v1/apps/{app}/channels", tag = "channels", params(("app" = String, Path)), request_body = CreateChannel,
    responses((status = 201, body = ChannelView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn create_channel(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    ApiJson(req): ApiJson<CreateChannel>,
) -> Result<Response, ApiError> {
    let app = app_or_404(&shared, &app).await?;
    if req.title.as_ref().is_some_and(|t| t.len() > 256) {
        return Err(ApiError::invalid("title", "longer than 256 bytes"));
    }
    let c = shared
        .streams
        .catalog
        .store()
        .create_channel(&app.id, &req.channel_id, req.title.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(channel_view(&shared, &app, c))).into_response())
}

/// One channel.
#[utoipa::path(get, path = "/v1/apps/{app}/channels/{channel}", tag = "channels",
    params(("app" = String, Path), ("channel" = String, Path)),
    responses((status = 200, body = ChannelView), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn get_channel(
    State(shared): State<Arc<Shared>>,
    Path((app, channel)): Path<(String, String)>,
) -> Result<Json<ChannelView>, ApiError> {
    let app = app_or_404(&shared, &app).await?;
    let c = shared
        .streams
        .catalog
        .store()
        .channel(&app.id, &channel)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                code::CHANNEL_NOT_FOUND,
                format!("app {} has no channel {channel:?}", app.name),
            )
        })?;
    Ok(Json(channel_view(&shared, &app, c)))
}

/// Deletes a channel (a live stream on it goes on).
#[utoipa::path(delete, path = "/v1/apps/{app}/channels/{channel}", tag = "channels",
    params(("app" = String, Path), ("channel" = String, Path)),
    responses((status = 204), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn delete_channel(
    State(shared): State<Arc<Shared>>,
    Path((app, channel)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let app = app_or_404(&shared, &app).await?;
    if !shared
        .streams
        .catalog
        .store()
        .delete_channel(&app.id, &channel)
        .await?
    {
        return Err(ApiError::new(
            code::CHANNEL_NOT_FOUND,
            format!("app {} has no channel {channel:?}", app.name),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
