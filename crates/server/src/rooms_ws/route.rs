//! Cluster mode: which node serves a room socket, and the proxy to it.
//!
//! A room lives on one node, its home (`cluster::store::RoomHome`): the first node one of its members reaches
//! claims it. A `join` or `resume` that reaches another node is forwarded there over a WebSocket of its own,
//! marked with the cluster's room hop (`cluster::credential::ROOM_HOP_HEADER`), and the two sockets are joined
//! until either ends. Every rule of a room (its members, speakers, video subscriptions, resumes) then runs in one
//! core, as on one node; what several rooms share (one room per openId, the daily quota, the replay memory) is in
//! Redis. This is LiveKit's shape (a room on one node, signalling relayed to it) rather than a core whose state is
//! spread over nodes.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rooms::{codes, Command, Request, RoomKey, ServerMessage};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Upstream;
use tracing::{debug, info, warn};

use super::RoomService;
use crate::cluster::credential::ROOM_HOP_HEADER;
use crate::cluster::store::RoomHome;

/// Where a socket's message is served.
pub(super) enum Route {
    /// By this node's core.
    Local,
    /// By the node hosting the room, reached at `http` (`host:port`).
    Proxy { node: String, http: String },
    /// Nowhere now: this error message (JSON) goes back to the client, which may retry.
    Refuse(String),
}

impl RoomService {
    /// Where `text` (a socket's message while it has not joined here) must be served. Only a join or a resume
    /// names a room; anything else is answered here.
    pub(super) async fn route_socket(&self, text: &str) -> Route {
        let Some(cluster) = &self.cluster else {
            return Route::Local;
        };
        let Ok(request) = Request::parse(text) else {
            return Route::Local;
        };
        let (room, claim) = match &request.command {
            // Ids the core would refuse, or an unknown app, are refused here, by the core: no Redis record for them.
            Command::Join(join) if self.routable(&join.app_id, &join.group_id) => (
                RoomKey {
                    app: join.app_id.clone(),
                    group: join.group_id.clone(),
                },
                true,
            ),
            Command::Resume(token) => match rooms::token_room(token) {
                Some(room) => (room, false),
                None => return Route::Local,
            },
            _ => return Route::Local,
        };
        let store = &cluster.store;
        let home = if claim {
            store
                .claim_room_home(&room, &cluster.node)
                .await
                .map(|home| match home {
                    RoomHome::Here => None,
                    RoomHome::Elsewhere(node) => Some(node),
                })
        } else {
            // A resume never claims: a room whose home is gone is gone, and the core here says so.
            store
                .room_home(&room)
                .await
                .map(|home| home.filter(|node| *node != cluster.node))
        };
        let refuse = |message: String| {
            Route::Refuse(
                ServerMessage::error(request.req_id.clone(), codes::SYSTEM_ERROR, message)
                    .to_json(),
            )
        };
        match home {
            Ok(None) => Route::Local,
            Ok(Some(node)) => match store.node(&node).await {
                Ok(Some(record)) => Route::Proxy {
                    node,
                    http: record.http,
                },
                Ok(None) => refuse(format!(
                    "system error: node {node}, which hosts group {}, just left the cluster; retry",
                    room.group
                )),
                Err(e) => {
                    warn!(app = %room.app, group = %room.group, "room routing: {e}");
                    refuse("system error: the cluster's Redis does not answer; retry".into())
                }
            },
            Err(e) => {
                warn!(app = %room.app, group = %room.group, "room routing: {e}");
                refuse("system error: the cluster's Redis does not answer; retry".into())
            }
        }
    }

    /// Whether a join's ids may name a room record: the shape the core accepts, and an app that exists.
    fn routable(&self, app: &str, group: &str) -> bool {
        let max = self.settings.core_config().max_id_bytes;
        let id_ok = |id: &str| {
            !id.is_empty()
                && id.len() <= max
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        id_ok(app) && id_ok(group) && self.catalog.app(app).is_some()
    }
}

/// The close frame for `code` and `reason`.
pub(super) fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Close code when the room's node cannot be reached or goes away (the client resumes or joins again).
const CLOSE_UPSTREAM_GONE: u16 = 1011;

/// Joins the client's socket to a socket of its own on node `node` at `http`, starting with `first` (the join or
/// resume that was routed), until either side ends or this node shuts down.
pub(super) async fn proxy(
    service: &Arc<RoomService>,
    mut client_tx: SplitSink<WebSocket, Message>,
    mut client_rx: SplitStream<WebSocket>,
    node: &str,
    http: &str,
    first: String,
) {
    let Some(cluster) = &service.cluster else {
        return;
    };
    let max = service.settings().max_message_bytes;
    let upstream = match connect(http, &cluster.room_hop(), max).await {
        Ok(upstream) => upstream,
        Err(e) => {
            warn!(%node, %http, "room socket: cannot reach the node hosting the room: {e}");
            let _ = client_tx
                .send(close(
                    CLOSE_UPSTREAM_GONE,
                    "the node hosting the room cannot be reached; retry",
                ))
                .await;
            return;
        }
    };
    info!(%node, %http, "room socket proxied to the node hosting its room");
    let (mut up_tx, mut up_rx) = upstream.split();
    if up_tx.send(Upstream::Text(first.into())).await.is_err() {
        let _ = client_tx
            .send(close(
                CLOSE_UPSTREAM_GONE,
                "the node hosting the room went away",
            ))
            .await;
        return;
    }
    let shutdown = service.shutdown.clone();
    loop {
        tokio::select! {
            read = client_rx.next() => match read {
                Some(Ok(Message::Text(text))) => {
                    if text.len() > max {
                        let _ = client_tx.send(close(super::socket::CLOSE_TOO_BIG, "message larger than rooms.max_message_bytes")).await;
                        break;
                    }
                    if up_tx.send(Upstream::Text(text.as_str().into())).await.is_err() {
                        let _ = client_tx.send(close(CLOSE_UPSTREAM_GONE, "the node hosting the room went away")).await;
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let _ = client_tx.send(close(super::socket::CLOSE_UNSUPPORTED, "binary frames are not accepted; send JSON text")).await;
                    break;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            },
            read = up_rx.next() => match read {
                Some(Ok(Upstream::Text(text))) => {
                    if client_tx.send(Message::Text(text.as_str().into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Upstream::Close(frame))) => {
                    // The home's close (heartbeat timeout, replaced, too slow) reaches the client as it was sent.
                    let (code, reason) = frame.map_or((1000, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    let _ = client_tx.send(close(code, &reason)).await;
                    break;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    debug!(%node, "room socket: the node hosting the room closed the proxied socket");
                    let _ = client_tx.send(close(CLOSE_UPSTREAM_GONE, "the node hosting the room went away")).await;
                    break;
                }
            },
            _ = shutdown.cancelled() => {
                let _ = client_tx.send(close(super::socket::CLOSE_GOING_AWAY, "server shutting down")).await;
                break;
            }
        }
    }
    let _ = up_tx.send(Upstream::Close(None)).await;
}

type Upstreamed = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens the proxied socket to `http` (`host:port`) with the room hop header.
async fn connect(
    http: &str,
    hop: &str,
    max_message: usize,
) -> Result<Upstreamed, Box<dyn std::error::Error + Send + Sync>> {
    let url = format!("ws://{http}/rooms/v1/ws");
    let mut request = url.as_str().into_client_request()?;
    request.headers_mut().insert(ROOM_HOP_HEADER, hop.parse()?);
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        tokio::net::TcpStream::connect(http),
    )
    .await
    .map_err(|_| format!("connecting to {http} took over 3 s"))??;
    tcp.set_nodelay(true)?;
    // Small buffers, as on the client side of a room socket: room messages are small and proxied sockets many.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(max_message.saturating_mul(4)))
        .max_frame_size(Some(max_message.saturating_mul(4)));
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config)).await?;
    Ok(ws)
}
