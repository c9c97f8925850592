//! Apps (tenants and RTMP application names), and the signed URLs and SDK tokens they issue. Their channels are
//! in `channels`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use control::jwt::{self, Claims, Role};
use control::store::{AppPatch, KeyKind, NewApp};
use control::urls::{self, PlayUrls};
use control::{now_unix, App, AppPolicy};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiJson};
use crate::Shared;

/// An app with its keys (only the admin sees this).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppView {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Signs push URLs (`txSecret`).
    pub(crate) push_key: String,
    /// Signs play URLs when play auth is on.
    pub(crate) play_key: String,
    /// Signs SDK access tokens (HS256).
    pub(crate) secret: String,
    /// Signs webhooks (`sign = md5(callbackKey + t)`).
    pub(crate) callback_key: String,
    pub(crate) callback_urls: Vec<String>,
    pub(crate) push_auth: bool,
    pub(crate) play_auth: bool,
    pub(crate) gop_cache: bool,
    pub(crate) low_latency: bool,
    pub(crate) republish_grace_ms: Option<i64>,
    pub(crate) max_streams: Option<i64>,
    pub(crate) max_players: Option<i64>,
    /// Formats every stream is recorded in (`mp4`, `flv`); empty records nothing.
    #[schema(value_type = Vec<String>)]
    pub(crate) record: Vec<control::RecordFormat>,
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
}

impl From<&App> for AppView {
    fn from(a: &App) -> AppView {
        AppView {
            id: a.id.clone(),
            name: a.name.clone(),
            push_key: a.push_key.clone(),
            play_key: a.play_key.clone(),
            secret: a.secret.clone(),
            callback_key: a.callback_key.clone(),
            callback_urls: a.callback_urls.clone(),
            push_auth: a.policy.push_auth,
            play_auth: a.policy.play_auth,
            gop_cache: a.policy.gop_cache,
            low_latency: a.policy.low_latency,
            republish_grace_ms: a.policy.republish_grace_ms,
            max_streams: a.policy.max_streams,
            max_players: a.policy.max_players,
            record: a.policy.record.clone(),
            created_ms: a.created_ms,
            updated_ms: a.updated_ms,
        }
    }
}

/// Every app.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AppList {
    pub(crate) apps: Vec<AppView>,
}

/// A new app: its name and, optionally, its policy (the fields of [`PolicyPatch`]).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateApp {
    /// RTMP application name: 1-64 of `A-Z a-z 0-9 _ -`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub(crate) name: String,
    pub(crate) push_auth: Option<bool>,
    pub(crate) play_auth: Option<bool>,
    pub(crate) gop_cache: Option<bool>,
    pub(crate) low_latency: Option<bool>,
    #[schema(minimum = 0, maximum = 3600000)]
    pub(crate) republish_grace_ms: Option<i64>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub(crate) max_streams: Option<i64>,
    #[schema(minimum = 1, maximum = 10000000)]
    pub(crate) max_players: Option<i64>,
    #[schema(value_type = Option<Vec<String>>)]
    pub(crate) record: Option<Vec<control::RecordFormat>>,
    pub(crate) callback_urls: Option<Vec<String>>,
}

impl CreateApp {
    fn policy(&self) -> PolicyPatch {
        PolicyPatch {
            push_auth: self.push_auth,
            play_auth: self.play_auth,
            gop_cache: self.gop_cache,
            low_latency: self.low_latency,
            republish_grace_ms: self.republish_grace_ms.map(Some),
            max_streams: self.max_streams.map(Some),
            max_players: self.max_players.map(Some),
            record: self.record.clone(),
            callback_urls: self.callback_urls.clone(),
        }
    }
}

/// Policy fields; every one optional. `null` resets a limit to the server default.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PolicyPatch {
    /// Publishing needs a signed URL (default true).
    pub(crate) push_auth: Option<bool>,
    /// Playing needs a signed URL (default false).
    pub(crate) play_auth: Option<bool>,
    /// New players start with the cached GOP (default true).
    pub(crate) gop_cache: Option<bool>,
    /// Players without `mode=` get the low-latency (RTC) mode (default false).
    pub(crate) low_latency: Option<bool>,
    /// Players wait this long for a publisher to come back (0..=3600000 ms).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 3600000)]
    pub(crate) republish_grace_ms: Option<Option<i64>>,
    /// Most live streams of the app (1..=1000000).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    pub(crate) max_streams: Option<Option<i64>>,
    /// Most players of the app, all streams together (1..=10000000).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10000000)]
    pub(crate) max_players: Option<Option<i64>>,
    /// Formats every stream is recorded in: `["mp4"]`, `["flv"]`, both, or `[]` for none.
    #[schema(value_type = Option<Vec<String>>)]
    pub(crate) record: Option<Vec<control::RecordFormat>>,
    /// Webhook receivers (http:// or https:// URLs; at most 8).
    pub(crate) callback_urls: Option<Vec<String>>,
}

/// `Some(None)` for an explicit `null`, `None` (by `default`) when absent.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

impl PolicyPatch {
    fn into_patch(self) -> Result<AppPatch, ApiError> {
        fn range(field: &str, v: Option<Option<i64>>, lo: i64, hi: i64) -> Result<(), ApiError> {
            match v {
                Some(Some(n)) if !(lo..=hi).contains(&n) => Err(ApiError::invalid(
                    field,
                    format!("{n} is outside {lo}..={hi}"),
                )),
                _ => Ok(()),
            }
        }
        range("republishGraceMs", self.republish_grace_ms, 0, 3_600_000)?;
        range("maxStreams", self.max_streams, 1, 1_000_000)?;
        range("maxPlayers", self.max_players, 1, 10_000_000)?;
        if let Some(urls) = &self.callback_urls {
            if urls.len() > 8 {
                return Err(ApiError::invalid("callbackUrls", "at most 8 URLs"));
            }
            for u in urls {
                if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() > 2048 {
                    return Err(ApiError::invalid(
                        "callbackUrls",
                        format!("{u:?} is not an http:// or https:// URL of at most 2048 bytes"),
                    ));
                }
            }
        }
        Ok(AppPatch {
            push_auth: self.push_auth,
            play_auth: self.play_auth,
            gop_cache: self.gop_cache,
            low_latency: self.low_latency,
            republish_grace_ms: self.republish_grace_ms,
            max_streams: self.max_streams,
            max_players: self.max_players,
            record: self.record,
            callback_urls: self.callback_urls,
        })
    }
}

/// Which key to rotate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateKey {
    /// `push`, `play`, `callback` or `secret`.
    #[schema(pattern = "^(push|play|callback|secret)$")]
    pub(crate) key: String,
}

/// Ask for signed URLs of a stream.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UrlRequest {
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    pub(crate) stream: String,
    /// Seconds the URLs stay valid (default 86400, at most 31536000).
    #[schema(minimum = 1, maximum = 31536000)]
    pub(crate) ttl_secs: Option<i64>,
}

/// Signed URLs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UrlSet {
    pub(crate) push: String,
    #[schema(value_type = Object)]
    pub(crate) play: PlayUrls,
    /// Unix seconds.
    pub(crate) expires_at: u64,
}

/// Ask for an SDK access token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TokenRequest {
    #[schema(max_length = 128)]
    pub(crate) channel: String,
    #[schema(max_length = 128)]
    pub(crate) account: String,
    /// `publisher`, `viewer` or `member`.
    #[schema(pattern = "^(publisher|viewer|member)$")]
    pub(crate) role: String,
    /// Seconds the token stays valid (default 86400, at most 31536000).
    #[schema(minimum = 1, maximum = 31536000)]
    pub(crate) ttl_secs: Option<i64>,
}

/// A minted token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenView {
    pub(crate) token: String,
    pub(crate) expires_at: u64,
}

/// The app by id or name. Not in the catalog snapshot: the snapshot is refreshed first if the database changed, so
/// an app created a moment ago by the CLI (which writes the database directly) is found without waiting for the
/// next poll.
pub(super) async fn app_or_404(shared: &Shared, app: &str) -> Result<Arc<App>, ApiError> {
    let catalog = &shared.streams.catalog;
    if let Some(found) = catalog.app_by_id_or_name(app) {
        return Ok(found);
    }
    if let Err(e) = catalog.refresh_if_changed().await {
        tracing::warn!(app, "refreshing the catalog for an unknown app: {e}");
    }
    catalog
        .app_by_id_or_name(app)
        .ok_or_else(|| ApiError::unknown_app(app))
}

fn ttl(field: &str, ttl: Option<i64>) -> Result<u64, ApiError> {
    match ttl {
        None => Ok(86_400),
        Some(t) if (1..=31_536_000).contains(&t) => Ok(u64::try_from(t).unwrap_or(86_400)),
        Some(t) => Err(ApiError::invalid(
            field,
            format!("{t} is outside 1..=31536000"),
        )),
    }
}

/// Every app.
#[utoipa::path(get, path = "/v1/apps", tag = "apps",
    responses((status = 200, body = AppList), (status = 401, body = ApiError)), security(("admin" = [])))]
pub(crate) async fn list_apps(
    State(shared): State<Arc<Shared>>,
) -> Result<Json<AppList>, ApiError> {
    let apps = shared.streams.catalog.store().apps().await?;
    Ok(Json(AppList {
        apps: apps.iter().map(AppView::from).collect(),
    }))
}

/// Creates an app with random keys.
#[utoipa::path(post, path = "/v1/apps", tag = "apps", request_body = CreateApp,
    responses((status = 201, body = AppView), (status = 400, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn create_app(
    State(shared): State<Arc<Shared>>,
    ApiJson(req): ApiJson<CreateApp>,
) -> Result<Response, ApiError> {
    let patch = req.policy().into_patch()?;
    let (mut policy, mut callback_urls) = (AppPolicy::default(), Vec::new());
    patch.apply(&mut policy, &mut callback_urls);
    let new = NewApp {
        name: req.name,
        policy,
        callback_urls,
    };
    let app = shared.streams.catalog.store().create_app(&new).await?;
    shared.streams.catalog.reload().await?;
    if let Some(cluster) = &shared.streams.cluster {
        cluster.catalog_changed().await;
    }
    Ok((StatusCode::CREATED, Json(AppView::from(&app))).into_response())
}

/// One app.
#[utoipa::path(get, path = "/v1/apps/{app}", tag = "apps", params(("app" = String, Path, description = "name or id")),
    responses((status = 200, body = AppView), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn get_app(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    let app = shared
        .streams
        .catalog
        .store()
        .app(&app)
        .await?
        .ok_or_else(|| ApiError::unknown_app(&app))?;
    Ok(Json(AppView::from(&app)))
}

/// Changes an app's policy or callback URLs; running servers apply it at once.
#[utoipa::path(patch, path = "/v1/apps/{app}", tag = "apps", params(("app" = String, Path)), request_body = PolicyPatch,
    responses((status = 200, body = AppView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn update_app(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    ApiJson(req): ApiJson<PolicyPatch>,
) -> Result<Json<AppView>, ApiError> {
    let patch = req.into_patch()?;
    let app = shared
        .streams
        .catalog
        .store()
        .update_app(&app, &patch)
        .await?;
    shared.streams.catalog.reload().await?;
    if let Some(cluster) = &shared.streams.cluster {
        cluster.catalog_changed().await;
    }
    Ok(Json(AppView::from(&app)))
}

/// Deletes an app, its channels and forbids.
#[utoipa::path(delete, path = "/v1/apps/{app}", tag = "apps", params(("app" = String, Path)),
    responses((status = 204), (status = 404, body = ApiError), (status = 401, body = ApiError)), security(("admin" = [])))]
pub(crate) async fn delete_app(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    if !shared.streams.catalog.store().delete_app(&app).await? {
        return Err(ApiError::unknown_app(&app));
    }
    shared.streams.catalog.reload().await?;
    if let Some(cluster) = &shared.streams.cluster {
        cluster.catalog_changed().await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Replaces one of the app's keys with a new random one; URLs and tokens signed with the old key stop working.
#[utoipa::path(post, path = "/v1/apps/{app}/rotate-key", tag = "apps", params(("app" = String, Path)), request_body = RotateKey,
    responses((status = 200, body = AppView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn rotate_key(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    ApiJson(req): ApiJson<RotateKey>,
) -> Result<Json<AppView>, ApiError> {
    let which: KeyKind = req
        .key
        .parse()
        .map_err(|_| ApiError::invalid("key", "expected push, play, callback or secret"))?;
    let app = shared
        .streams
        .catalog
        .store()
        .rotate_key(&app, which)
        .await?;
    shared.streams.catalog.reload().await?;
    if let Some(cluster) = &shared.streams.cluster {
        cluster.catalog_changed().await;
    }
    Ok(Json(AppView::from(&app)))
}

/// Signed push URL and play URLs of a stream.
#[utoipa::path(post, path = "/v1/apps/{app}/urls", tag = "apps", params(("app" = String, Path)), request_body = UrlRequest,
    responses((status = 200, body = UrlSet), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn sign_urls(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    ApiJson(req): ApiJson<UrlRequest>,
) -> Result<Json<UrlSet>, ApiError> {
    let app = app_or_404(&shared, &app).await?;
    control::store::validate_stream_name(&req.stream)?;
    let expires_at = now_unix() + ttl("ttlSecs", req.ttl_secs)?;
    Ok(Json(url_set(&shared, &app, &req.stream, expires_at)))
}

/// The URLs of `stream`, signed as the app's policy asks.
pub(crate) fn url_set(shared: &Shared, app: &App, stream: &str, expires_at: u64) -> UrlSet {
    url_set_at(&shared.url_base, app, stream, expires_at)
}

/// [`url_set`] for the node at `base`.
pub(crate) fn url_set_at(
    base: &control::urls::UrlBase,
    app: &App,
    stream: &str,
    expires_at: u64,
) -> UrlSet {
    let urls = urls::app_urls(base, app, stream, expires_at);
    UrlSet {
        push: urls.push,
        play: urls.play,
        expires_at,
    }
}

/// Mints an SDK access token (the app's backend can mint the same itself with the app's secret).
#[utoipa::path(post, path = "/v1/apps/{app}/tokens", tag = "apps", params(("app" = String, Path)), request_body = TokenRequest,
    responses((status = 200, body = TokenView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn mint_token(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Json<TokenView>, ApiError> {
    let app = app_or_404(&shared, &app).await?;
    let role: Role = req
        .role
        .parse()
        .map_err(|_| ApiError::invalid("role", "expected publisher, viewer or member"))?;
    for (field, v) in [("channel", &req.channel), ("account", &req.account)] {
        if v.is_empty() || v.len() > 128 {
            return Err(ApiError::invalid(field, "must be 1-128 bytes"));
        }
    }
    let now = now_unix();
    let exp = now + ttl("ttlSecs", req.ttl_secs)?;
    let claims = Claims {
        app: app.id.clone(),
        channel: req.channel,
        account: req.account,
        role,
        exp,
        iat: Some(now),
    };
    Ok(Json(TokenView {
        token: jwt::mint(app.secret.as_bytes(), &claims),
        expires_at: exp,
    }))
}
