//! The server side of the Vhall mini-program publisher SDK: `createInstance` gets a push URL here, and every
//! reconnect fetches a fresh one. Authenticated by the app's own access token (a JWT the app's backend mints).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use control::jwt::{self, Role};
use control::urls::PlayUrls;
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::ToSchema;

use super::apps::url_set;
use super::error::{code, ApiError, ApiJson};
use crate::access::now_unix;
use crate::Shared;

/// `createInstance` options, as the SDK sends them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceRequest {
    /// The app's id (or name).
    #[schema(max_length = 64)]
    pub(crate) app_id: String,
    /// The channel (stream) to publish; `roomId` is accepted as an alias.
    #[serde(alias = "roomId")]
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    pub(crate) channel_id: String,
    /// The publishing user, as in the token.
    #[schema(max_length = 128)]
    pub(crate) account_id: String,
    /// An HS256 JWT with role `publisher` for this app, channel and account.
    #[schema(max_length = 4096)]
    pub(crate) token: String,
    /// Audio-only publishing.
    #[serde(default)]
    pub(crate) single_audio: Option<bool>,
    /// The live-pusher mode preset the page will use (`SD`, `HD`, `FHD`, `RTC`).
    #[serde(default)]
    #[schema(max_length = 16)]
    pub(crate) profile: Option<String>,
}

/// A push URL and what to tell viewers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Instance {
    /// The signed RTMP push URL for `live-pusher`'s `url`.
    pub(crate) url: String,
    /// The stream name (the channel).
    pub(crate) stream: String,
    /// Unix seconds after which `url` no longer connects (a live push goes on).
    pub(crate) expires_at: u64,
    /// Where viewers play it.
    #[schema(value_type = Object)]
    pub(crate) play_urls: PlayUrls,
    pub(crate) single_audio: bool,
    pub(crate) profile: Option<String>,
}

/// `POST /sdk/v1/publisher/instance`: checks the token and hands out a push URL.
#[utoipa::path(post, path = "/sdk/v1/publisher/instance", tag = "sdk", request_body = InstanceRequest,
    responses((status = 200, body = Instance), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)))]
pub(crate) async fn instance(
    State(shared): State<Arc<Shared>>,
    ApiJson(req): ApiJson<InstanceRequest>,
) -> Result<Json<Instance>, ApiError> {
    issue(&shared, req, "instance").await
}

/// `POST /sdk/v1/publisher/refresh`: the same checks, a fresh URL (the SDK calls it before every reconnect).
#[utoipa::path(post, path = "/sdk/v1/publisher/refresh", tag = "sdk", request_body = InstanceRequest,
    responses((status = 200, body = Instance), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)))]
pub(crate) async fn refresh(
    State(shared): State<Arc<Shared>>,
    ApiJson(req): ApiJson<InstanceRequest>,
) -> Result<Json<Instance>, ApiError> {
    issue(&shared, req, "refresh").await
}

async fn issue(
    shared: &Shared,
    req: InstanceRequest,
    what: &str,
) -> Result<Json<Instance>, ApiError> {
    let app = shared
        .catalog
        .app_by_id_or_name(&req.app_id)
        .ok_or_else(|| ApiError::unknown_app(&req.app_id))?;
    if req.token.is_empty() {
        return Err(ApiError::new(
            code::TOKEN_MISSING,
            "token: missing; the app's backend mints one (HS256 JWT signed with the app's secret)",
        ));
    }
    control::store::validate_stream_name(&req.channel_id)
        .map_err(|e| ApiError::invalid("channelId", e))?;
    let now = now_unix();
    let claims = jwt::verify(app.secret.as_bytes(), &req.token, now, 30)?;
    // The app's backend may name the app by id or by name in the token.
    let app_in_token = if claims.app == app.name {
        &app.name
    } else {
        &app.id
    };
    jwt::check(
        &claims,
        app_in_token,
        &req.channel_id,
        &req.account_id,
        Role::Publisher,
    )?;
    if shared
        .catalog
        .forbidden(&app.id, &req.channel_id, crate::access::now_ms())
        .is_some()
    {
        return Err(ApiError::new(
            code::FORBIDDEN,
            format!(
                "channel {} of app {} is forbidden to publish",
                req.channel_id, app.name
            ),
        ));
    }
    shared
        .catalog
        .store()
        .ensure_channel(&app.id, &req.channel_id)
        .await?;
    let expires_at = now + shared.sdk_url_ttl.as_secs();
    let urls = url_set(shared, &app, &req.channel_id, expires_at);
    info!(app = %app.name, channel = %req.channel_id, account = %req.account_id, "SDK publisher {what}");
    Ok(Json(Instance {
        url: urls.push,
        stream: req.channel_id,
        expires_at,
        play_urls: urls.play,
        single_audio: req.single_audio.unwrap_or(false),
        profile: req.profile,
    }))
}
