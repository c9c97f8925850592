//! HTTP-FLV plays served straight from the socket: a close-delimited `video/x-flv` response whose body is the
//! hub's shared FLV tag encodings, written by the publisher's task like an RTMP player's ([`crate::output::fanout`]).
//!
//! The response has no `Content-Length` and no chunked framing: the body ends when the connection closes (after
//! the republish grace, or on shutdown), which every HTTP/1.x client understands and which keeps the bytes on the
//! wire exactly the shared ones.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use media::{StreamKey, Subscriber};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::debug;

use crate::http::conn::FlvRequest;
use crate::output::batch::WritePolicy;
use crate::output::fanout::{next_look, Delivery, DirectPlayer, OutputFormat};
use crate::stream::entry::StreamEntry;
use crate::stream::lifecycle::{self, PlaySession, Protocol};
use crate::Shared;

/// A refused HTTP-FLV play: status code and a message for the person reading it.
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) message: String,
}

/// What an accepted HTTP-FLV play starts with.
pub(crate) struct FlvStart {
    pub(crate) subscriber: Subscriber,
    /// The FLV file header (13 bytes), flags from the stream's codecs.
    pub(crate) header: Bytes,
    pub(crate) policy: WritePolicy,
    pub(crate) key: StreamKey,
    /// The stream's entry (its players' group).
    pub(crate) entry: Arc<StreamEntry>,
    /// Sends the play-stop webhook when the play ends (dropped).
    pub(crate) _session: PlaySession,
}

/// Asks the lifecycle for the play and prepares the FLV header: shared by the direct path and the router's
/// fallback.
pub(crate) async fn start(
    shared: &Shared,
    key: StreamKey,
    query: Option<&str>,
    peer: SocketAddr,
) -> Result<FlvStart, Refusal> {
    let request = lifecycle::Request {
        app: &key.app,
        stream: &key.name,
        query,
        peer,
        protocol: Protocol::Flv,
    };
    let play = lifecycle::play(&shared.streams, request)
        .await
        .map_err(|r| Refusal {
            status: r.http_status(),
            message: format!("{}\n", r.description()),
        })?;
    let (has_audio, has_video) = match shared.streams.registry.get(&key) {
        Some(s) if s.video_codec.is_none() && s.audio_codec.is_some() => (true, false),
        _ => (true, true),
    };
    Ok(FlvStart {
        subscriber: play.subscriber,
        header: Bytes::copy_from_slice(&flv::encode_header(has_audio, has_video)),
        policy: WritePolicy::new(play.mode.rtc, shared.streams.merge_window),
        key,
        entry: play.entry,
        _session: play.session,
    })
}

pub(crate) async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    request: FlvRequest,
    shared: Arc<Shared>,
) {
    let Ok(_permit) = shared.flv_players.clone().try_acquire_owned() else {
        let message = format!(
            "too many HTTP-FLV players (max_flv_players = {})\n",
            shared.max_flv_players
        );
        refuse(
            socket,
            Refusal {
                status: 503,
                message,
            },
        )
        .await;
        return;
    };
    let key = StreamKey::new(request.app, request.stream);
    // Boxed: the lifecycle's play runs once, and inline its future would stay in the player's task for good.
    let flv = match Box::pin(start(&shared, key, request.query.as_deref(), peer)).await {
        Ok(s) => s,
        Err(refusal) => {
            refuse(socket, refusal).await;
            return;
        }
    };
    let (rd, wr) = socket.into_split();
    let writer = Arc::new(wr);
    let _session = flv._session;
    let player = Arc::new(DirectPlayer::new(
        writer.clone(),
        flv.subscriber,
        OutputFormat::Flv,
        flv.policy,
        peer,
    ));
    {
        let mut out = player.lock();
        out.queue(Bytes::from_static(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache, no-store\r\n\
              Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        ));
        out.queue(flv.header);
    }
    let membership = flv.entry.players.join(player.clone());
    let reason = run(&rd, &writer, &player, &shared).await;
    drop(membership);
    debug!(%peer, stream = %flv.key, "HTTP-FLV play ended: {reason}");
}

/// Services the play until it ends; returns why it ended.
async fn run(
    rd: &tokio::net::tcp::OwnedReadHalf,
    writer: &tokio::net::tcp::OwnedWriteHalf,
    player: &DirectPlayer,
    shared: &Shared,
) -> &'static str {
    let mut serve = true;
    loop {
        if serve {
            match player.service(writer).await {
                Delivery::Ended => return "publisher gone and grace expired",
                Delivery::Failed => return "write failed",
                Delivery::Done | Delivery::Blocked => {}
            }
        }
        serve = true;
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(next_look(player.slot())) => serve = player.needs_look(),
            _ = player.wake.notified() => {}
            r = rd.readable() => {
                if r.is_err() || client_closed(rd) {
                    return "client closed the connection";
                }
            }
            _ = shared.shutdown.cancelled() => return "shutdown",
        }
    }
}

/// Reads and discards what the client sent after its request; true when it closed the connection.
fn client_closed(rd: &tokio::net::tcp::OwnedReadHalf) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match rd.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

async fn refuse(mut socket: TcpStream, refusal: Refusal) {
    let reason = match refusal.status {
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut out = BytesMut::new();
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
            refusal.status,
            refusal.message.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(refusal.message.as_bytes());
    let _ = socket.write_all(&out).await;
    let _ = socket.shutdown().await;
}
