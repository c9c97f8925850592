//! Room session keys (docs/rooms-protocol.md): the key an app's backend signs a member's join with. The admin
//! API creates a random one or registers one chosen by the app's backend. Keys are never logged.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::ToSchema;

use super::error::{ApiError, ApiJson};
use crate::Shared;

/// Whose key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateRoomSession {
    /// The member (`[A-Za-z0-9_.-]`, 1-128 characters).
    #[schema(max_length = 128)]
    pub(crate) open_id: String,
}

/// The key the app's backend chose.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PutRoomSession {
    /// Printable ASCII, 1-256 characters; used as the literal HMAC key.
    #[schema(max_length = 256)]
    pub(crate) session_key: String,
}

/// A member's session key.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomSessionView {
    /// The member.
    pub(crate) open_id: String,
    /// The key.
    pub(crate) session_key: String,
}

async fn app_id(shared: &Shared, app: &str) -> Result<String, ApiError> {
    Ok(super::apps::app_or_404(shared, app).await?.id.clone())
}

/// Creates a fresh random session key (16 bytes, base64) for a member, replacing any previous one.
#[utoipa::path(post, path = "/v1/apps/{app}/room-sessions", tag = "rooms", params(("app" = String, Path)),
    request_body = CreateRoomSession,
    responses((status = 200, body = RoomSessionView), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn create_room_session(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    ApiJson(req): ApiJson<CreateRoomSession>,
) -> Result<Json<RoomSessionView>, ApiError> {
    let app_id = app_id(&shared, &app).await?;
    let session = shared
        .streams
        .catalog
        .store()
        .create_room_session(&app_id, &req.open_id)
        .await
        .map_err(session_error)?;
    info!(app = %app, open_id = %session.open_id, "room session key created");
    Ok(Json(RoomSessionView {
        open_id: session.open_id,
        session_key: session.session_key,
    }))
}

/// Registers a session key chosen by the app's backend for a member, replacing any previous one.
#[utoipa::path(put, path = "/v1/apps/{app}/room-sessions/{openId}", tag = "rooms",
    params(("app" = String, Path), ("openId" = String, Path)),
    request_body = PutRoomSession,
    responses((status = 200, body = RoomSessionView), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn put_room_session(
    State(shared): State<Arc<Shared>>,
    Path((app, open_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PutRoomSession>,
) -> Result<Json<RoomSessionView>, ApiError> {
    let app_id = app_id(&shared, &app).await?;
    let session = shared
        .streams
        .catalog
        .store()
        .put_room_session(&app_id, &open_id, &req.session_key)
        .await
        .map_err(session_error)?;
    info!(app = %app, open_id = %session.open_id, "room session key registered");
    Ok(Json(RoomSessionView {
        open_id: session.open_id,
        session_key: session.session_key,
    }))
}

/// Field errors name the JSON field; the key itself is never echoed.
fn session_error(e: control::StoreError) -> ApiError {
    match &e {
        control::StoreError::InvalidSessionKey { why } => ApiError::invalid("sessionKey", why),
        control::StoreError::InvalidName { why, .. } => ApiError::invalid("openId", why),
        _ => e.into(),
    }
}

/// The live rooms of this node.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomList {
    /// This node's id in cluster mode (a room lives on one node: ask each node), else null.
    pub(crate) node: Option<String>,
    /// The rooms, by app and group.
    pub(crate) rooms: Vec<RoomView>,
}

/// One live room.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomView {
    /// The app (its name).
    pub(crate) app: String,
    /// The group id.
    pub(crate) group: String,
    /// `voice` or `video`.
    pub(crate) room_type: String,
    /// The members in join order.
    pub(crate) members: Vec<RoomMemberView>,
}

/// One member of a live room.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomMemberView {
    /// The member.
    pub(crate) open_id: String,
    /// Its socket is open (false while it may still resume).
    pub(crate) connected: bool,
    /// It spoke in the last moments (reported volume over `rooms.speaker_threshold`).
    pub(crate) speaking: bool,
    /// Its microphone is muted.
    pub(crate) microphone_muted: bool,
    /// Its stream is live.
    pub(crate) live: bool,
    /// Its stream carries video.
    pub(crate) video: bool,
    /// Its stream carries audio.
    pub(crate) audio: bool,
}

/// The live rooms hosted by this node and their members.
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms",
    responses((status = 200, body = RoomList), (status = 401, body = ApiError)),
    security(("admin" = [])))]
pub(crate) async fn list_rooms(State(shared): State<Arc<Shared>>) -> Json<RoomList> {
    let rooms = shared
        .rooms
        .snapshot()
        .into_iter()
        .map(|room| RoomView {
            app: room.app,
            group: room.group,
            room_type: match room.room_type {
                rooms::RoomType::Voice => "voice",
                rooms::RoomType::Video => "video",
            }
            .to_owned(),
            members: room
                .members
                .into_iter()
                .map(|m| RoomMemberView {
                    open_id: m.open_id,
                    connected: m.connected,
                    speaking: m.speaking,
                    microphone_muted: m.microphone_muted,
                    live: m.stream.is_some(),
                    video: m.stream.is_some_and(|s| s.has_video),
                    audio: m.stream.is_some_and(|s| s.has_audio),
                })
                .collect(),
        })
        .collect();
    Json(RoomList {
        node: shared.streams.cluster.as_ref().map(|c| c.node.clone()),
        rooms,
    })
}
