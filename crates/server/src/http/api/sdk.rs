//! The server side of the mini-program SDK: the publisher's `createInstance` gets a push URL here and every
//! reconnect fetches a fresh one; the player's gets play URLs (signed with the app's play key when its play auth is
//! on) and fetches fresh ones before every restart. Authenticated by the app's own access token (a JWT the app's
//! backend mints): role `publisher` for the publisher endpoints, `viewer` (or `publisher`, who may also watch) for
//! the player endpoints.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use control::jwt::{self, Role};
use control::urls::{self, PlayUrls};
use control::{now_unix, App};
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::ToSchema;

use super::apps::url_set_at;
use super::error::{code, ApiError, ApiJson};
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
    /// An HS256 JWT with role `publisher` for this app, channel and account (missing or empty: 40101).
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub(crate) token: Option<String>,
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
    /// The same stream's WHIP URL, for a browser page publishing over WebRTC (signed as `url`).
    pub(crate) whip_url: String,
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

/// Checks what every SDK endpoint checks: the app exists, the token is present, the channel name is valid, and
/// the token verifies with the app's secret for this app, channel, account and a role granting `role`. Returns the
/// app and the time of the check.
fn authorize(
    shared: &Shared,
    app_id: &str,
    channel_id: &str,
    account_id: &str,
    token: &str,
    role: Role,
) -> Result<(Arc<App>, u64), ApiError> {
    let app = shared
        .streams
        .catalog
        .app_by_id_or_name(app_id)
        .ok_or_else(|| ApiError::unknown_app(app_id))?;
    if token.is_empty() {
        return Err(ApiError::new(
            code::TOKEN_MISSING,
            "token: missing; the app's backend mints one (HS256 JWT signed with the app's secret)",
        ));
    }
    control::store::validate_stream_name(channel_id)
        .map_err(|e| ApiError::invalid("channelId", e))?;
    let now = now_unix();
    check_token(&app, channel_id, Some(account_id), token, role, now)?;
    Ok((app, now))
}

/// Verifies `token` (an app's HS256 JWT) for publishing or playing `channel` of `app` at `now`: the token is for this
/// app (by id or name), signed with its secret, not expired, for this channel, with a role granting `role`, and for
/// `account` when the request names one (the SDK endpoints do; a WHIP publish's `Authorization: Bearer` does not,
/// and the token's own account is taken). The one token check of every endpoint that takes app tokens.
pub(crate) fn check_token(
    app: &App,
    channel: &str,
    account: Option<&str>,
    token: &str,
    role: Role,
    now: u64,
) -> Result<jwt::Claims, jwt::TokenError> {
    // A token minted for another app is signed with that app's secret: say so (40106) rather than calling it a
    // bad signature (40103, kept for forged tokens and rotated secrets). The claim is read unverified only to
    // choose the refusal; nothing is granted on it.
    if let Ok(claimed) = jwt::peek_app(token) {
        if claimed != app.id && claimed != app.name {
            return Err(jwt::TokenError::WrongApp {
                expected: app.name.clone(),
                got: crate::ops::log_value::clip(&claimed).to_string(),
            });
        }
    }
    let claims = jwt::verify(app.secret.as_bytes(), token, now, 30)?;
    // The app's backend may name the app by id or by name in the token.
    let app_in_token = if claims.app == app.name {
        &app.name
    } else {
        &app.id
    };
    jwt::check(
        &claims,
        app_in_token,
        channel,
        account.unwrap_or(&claims.account),
        role,
    )?;
    Ok(claims)
}

async fn issue(
    shared: &Shared,
    req: InstanceRequest,
    what: &str,
) -> Result<Json<Instance>, ApiError> {
    let (app, now) = authorize(
        shared,
        &req.app_id,
        &req.channel_id,
        &req.account_id,
        req.token.as_deref().unwrap_or_default(),
        Role::Publisher,
    )?;
    if shared
        .streams
        .catalog
        .forbidden(&app.id, &req.channel_id, control::now_ms())
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
        .streams
        .catalog
        .store()
        .ensure_channel(&app.id, &req.channel_id)
        .await?;
    let expires_at = now + shared.sdk_url_ttl.as_secs();
    // In a cluster, the publisher goes to the least loaded live node (its SDK asks again before each reconnect,
    // so a dead node's publisher is sent to a live one).
    let base = match &shared.streams.cluster {
        Some(cluster) => cluster.least_loaded_base(&shared.url_base).await,
        None => shared.url_base.clone(),
    };
    let urls = url_set_at(&base, &app, &req.channel_id, expires_at);
    let push_key = app
        .policy
        .push_auth
        .then_some((app.push_key.as_str(), expires_at));
    let whip_url = urls::whip_url(&base, &app.name, &req.channel_id, push_key);
    info!(app = %app.name, channel = %req.channel_id, account = %crate::ops::log_value::clip(&req.account_id), "SDK publisher {what}");
    Ok(Json(Instance {
        url: urls.push,
        whip_url,
        stream: req.channel_id,
        expires_at,
        play_urls: urls.play,
        single_audio: req.single_audio.unwrap_or(false),
        profile: req.profile,
    }))
}

/// The player's `createInstance` options: the publisher's, without the publishing ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlayerRequest {
    /// The app's id (or name).
    #[schema(max_length = 64)]
    pub(crate) app_id: String,
    /// The channel (stream) to play; `roomId` is accepted as an alias.
    #[serde(alias = "roomId")]
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    pub(crate) channel_id: String,
    /// The watching user, as in the token.
    #[schema(max_length = 128)]
    pub(crate) account_id: String,
    /// An HS256 JWT with role `viewer` (or `publisher`) for this app, channel and account (missing or empty:
    /// 40101).
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub(crate) token: Option<String>,
}

/// Where the player plays the channel.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlayerInstance {
    /// `rtmp`, `flv` (HTTP-FLV), `hls`, `llHls` and `whep` (WebRTC) URLs, signed with the app's play key when its play auth is on.
    #[schema(value_type = Object)]
    pub(crate) play_urls: PlayUrls,
    /// The stream name (the channel).
    pub(crate) stream: String,
    /// Unix seconds after which signed URLs no longer connect (a play that started goes on); unsigned URLs (play
    /// auth off) do not expire.
    pub(crate) expires_at: u64,
}

/// `POST /sdk/v1/player/instance`: checks a viewer (or publisher) token and hands out the play URLs.
#[utoipa::path(post, path = "/sdk/v1/player/instance", tag = "sdk", request_body = PlayerRequest,
    responses((status = 200, body = PlayerInstance), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)))]
pub(crate) async fn player_instance(
    State(shared): State<Arc<Shared>>,
    ApiJson(req): ApiJson<PlayerRequest>,
) -> Result<Json<PlayerInstance>, ApiError> {
    play(&shared, req, "instance").await
}

/// `POST /sdk/v1/player/refresh`: the same checks, freshly signed URLs (the SDK calls it before every restart).
#[utoipa::path(post, path = "/sdk/v1/player/refresh", tag = "sdk", request_body = PlayerRequest,
    responses((status = 200, body = PlayerInstance), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)))]
pub(crate) async fn player_refresh(
    State(shared): State<Arc<Shared>>,
    ApiJson(req): ApiJson<PlayerRequest>,
) -> Result<Json<PlayerInstance>, ApiError> {
    play(&shared, req, "refresh").await
}

async fn play(
    shared: &Shared,
    req: PlayerRequest,
    what: &str,
) -> Result<Json<PlayerInstance>, ApiError> {
    // Role::Viewer: a viewer token, or a publisher's (a publisher may also watch, see Role::grants); never a
    // room member's. The channel is not created and need not be live: a player may wait for its publisher.
    let (app, now) = authorize(
        shared,
        &req.app_id,
        &req.channel_id,
        &req.account_id,
        req.token.as_deref().unwrap_or_default(),
        Role::Viewer,
    )?;
    let expires_at = now + shared.sdk_url_ttl.as_secs();
    // In a cluster any node plays any stream (through its relay): the viewer goes to the least loaded one.
    let base = match &shared.streams.cluster {
        Some(cluster) => cluster.least_loaded_base(&shared.url_base).await,
        None => shared.url_base.clone(),
    };
    let play_urls = urls::app_urls(&base, &app, &req.channel_id, expires_at).play;
    info!(app = %app.name, channel = %req.channel_id, account = %crate::ops::log_value::clip(&req.account_id), "SDK player {what}");
    Ok(Json(PlayerInstance {
        play_urls,
        stream: req.channel_id,
        expires_at,
    }))
}
