//! One WebSocket: reads text frames into the room core and writes what the core sends it.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tracing::debug;

use super::route::{self, close, Route};
use super::{Outgoing, RoomService};
use crate::cluster::credential::ROOM_HOP_HEADER;
use crate::Shared;

/// Close code for a frame over `rooms.max_message_bytes`.
pub(super) const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a binary frame.
pub(super) const CLOSE_UNSUPPORTED: u16 = 1003;
/// Close code for a socket that does not read what it is sent (policy violation).
const CLOSE_TOO_SLOW: u16 = 1008;
/// The read buffer of a room socket (grows for a larger message, up to `rooms.max_message_bytes`).
const READ_BUFFER: usize = 4096;
/// Close code on server shutdown.
pub(super) const CLOSE_GOING_AWAY: u16 = 1001;

/// `GET /rooms/v1/ws`: upgrades to a room socket while a place under `rooms.max_connections` is free.
pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let service = shared.rooms.clone();
    // A socket another node of the cluster proxies here is served here: this node hosts its room.
    let hop = headers
        .get(ROOM_HOP_HEADER)
        .and_then(|v| v.to_str().ok())
        .zip(service.cluster.as_ref());
    let routed = match hop {
        Some((value, cluster)) if cluster.verify_room_hop(value) => false,
        Some(_) => {
            return (
                StatusCode::FORBIDDEN,
                format!("{ROOM_HOP_HEADER}: not signed by this cluster's secret\n"),
            )
                .into_response()
        }
        None => service.cluster.is_some(),
    };
    let Some(place) = service.place() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many room sockets (rooms.max_connections = {}); retry later\n",
                service.settings().max_connections
            ),
        )
            .into_response();
    };
    let max = service.settings().max_message_bytes;
    // tungstenite's own bound sits above ours so that an oversized message reaches us and gets its close code
    // 1009; beyond it tungstenite ends the socket itself.
    ws.max_message_size(max.saturating_mul(4))
        .max_frame_size(max.saturating_mul(4))
        // tungstenite's defaults allocate 128 KiB per socket for reading up front; room messages are small and
        // sockets many. Writes go out per message (the socket task sends one message at a time anyway).
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            serve(socket, service, routed).await;
            drop(place);
        })
}

/// Serves one socket. `routed`: cluster mode, and the socket came from a client rather than another node, so its
/// joins and resumes go to the node hosting their room (`route`).
async fn serve(socket: WebSocket, service: Arc<RoomService>, routed: bool) {
    let (conn, mut outgoing) = service.open();
    let (mut sink, mut incoming) = socket.split();
    let max = service.settings().max_message_bytes;
    let shutdown = service.shutdown.clone();
    loop {
        tokio::select! {
            read = incoming.next() => match read {
                Some(Ok(Message::Text(text))) => {
                    if text.len() > max {
                        debug!(conn, bytes = text.len(), "room message over rooms.max_message_bytes; closing");
                        let _ = sink.send(close(CLOSE_TOO_BIG, "message larger than rooms.max_message_bytes")).await;
                        break;
                    }
                    // Only a socket with nothing going on here may move: a member's socket stays with its room.
                    if routed && service.is_idle(conn) {
                        match service.route_socket(text.as_str()).await {
                            Route::Local => {}
                            Route::Proxy { node, http } => {
                                service.closed(conn);
                                route::proxy(&service, sink, incoming, &node, &http, text.to_string()).await;
                                return;
                            }
                            Route::Refuse(error) => {
                                if sink.send(Message::Text(error.into())).await.is_err() {
                                    break;
                                }
                                continue;
                            }
                        }
                    }
                    service.text(conn, text.as_str());
                }
                Some(Ok(Message::Binary(_))) => {
                    let _ = sink.send(close(CLOSE_UNSUPPORTED, "binary frames are not accepted; send JSON text")).await;
                    break;
                }
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    debug!(conn, "room socket: {e}");
                    break;
                }
            },
            out = outgoing.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let _ = sink.send(close(code, reason)).await;
                    break;
                }
                None => {
                    let _ = sink.send(close(CLOSE_TOO_SLOW, "too slow: the send queue filled up")).await;
                    break;
                }
            },
            _ = shutdown.cancelled() => {
                let _ = sink.send(close(CLOSE_GOING_AWAY, "server shutting down")).await;
                break;
            }
        }
    }
    service.closed(conn);
}
