//! One WebSocket: reads text frames into the room core and writes what the core sends it.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tracing::debug;

use super::{Outgoing, RoomService};
use crate::Shared;

/// Close code for a frame over `rooms.max_message_bytes`.
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a binary frame.
const CLOSE_UNSUPPORTED: u16 = 1003;
/// Close code for a socket that does not read what it is sent (policy violation).
const CLOSE_TOO_SLOW: u16 = 1008;
/// The read buffer of a room socket (grows for a larger message, up to `rooms.max_message_bytes`).
const READ_BUFFER: usize = 4096;
/// Close code on server shutdown.
const CLOSE_GOING_AWAY: u16 = 1001;

/// `GET /rooms/v1/ws`: upgrades to a room socket while a place under `rooms.max_connections` is free.
pub(crate) async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let service = shared.rooms.clone();
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
            serve(socket, service).await;
            drop(place);
        })
}

async fn serve(socket: WebSocket, service: Arc<RoomService>) {
    let (conn, mut outgoing) = service.open();
    let (mut sink, mut incoming) = socket.split();
    let max = service.settings().max_message_bytes;
    let shutdown = service.shutdown.clone();
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    loop {
        tokio::select! {
            read = incoming.next() => match read {
                Some(Ok(Message::Text(text))) => {
                    if text.len() > max {
                        debug!(conn, bytes = text.len(), "room message over rooms.max_message_bytes; closing");
                        let _ = sink.send(close(CLOSE_TOO_BIG, "message larger than rooms.max_message_bytes")).await;
                        break;
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
