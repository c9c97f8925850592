//! One RTMP player: `rtmp::ClientSession` over a tokio `TcpStream`.

use std::net::SocketAddr;

use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep_until, Instant};

use super::{not_playing, PlayerShared, Tracker};
use crate::clock::mono_ns;
use crate::net::{close_gracefully, connect, read_now, ReadOutcome};

/// Plays `name` until `stop`. `Err` carries the reason the player failed.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run(
    addr: SocketAddr,
    app: &str,
    tc_url: &str,
    name: &str,
    connect_deadline: Instant,
    stop: Instant,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    let t0 = mono_ns();
    let mut stream = connect(addr, connect_deadline).await?;
    let mut session = ClientSession::new(SessionConfig::default(), std::time::Instant::now());
    session.connect(app, tc_url);
    loop {
        if let Some(out) = session.take_transmit() {
            stream
                .write_all(&out)
                .await
                .map_err(|e| format!("write: {e}"))?;
        }
        let deadline = if tracker.is_playing() {
            stop
        } else {
            connect_deadline
        };
        let timer = session
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or(deadline)
            .min(deadline);
        tokio::select! {
            ready = stream.readable() => {
                ready.map_err(|e| format!("read: {e}"))?;
                let outcome = read_now(&stream, |data| on_bytes(&mut session, data, name, t0, tracker, shared))
                    .map_err(|e| format!("read: {e}"))?;
                match outcome {
                    ReadOutcome::Data(r) => r?,
                    ReadOutcome::Closed => return Err("the server closed the connection".into()),
                    ReadOutcome::WouldBlock => {}
                }
            }
            _ = sleep_until(timer) => {
                let now = Instant::now();
                if now >= deadline {
                    if !tracker.is_playing() {
                        return Err(not_playing(connect_deadline, stop));
                    }
                    session.close();
                    close_gracefully(stream, session.take_transmit()).await;
                    return Ok(());
                }
                session.handle_timeout(now.into_std()).map_err(|e| format!("rtmp: {e}"))?;
            }
        }
    }
}

fn on_bytes(
    session: &mut ClientSession,
    data: &[u8],
    name: &str,
    t0: u64,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    let recv_ns = mono_ns();
    tracker.received(data.len());
    session
        .handle_input(data, std::time::Instant::now())
        .map_err(|e| format!("rtmp: {e}"))?;
    while let Some(event) = session.poll_output() {
        match event {
            ClientEvent::Connected => {
                session.play(name);
                tracker.play_requested(mono_ns());
            }
            ClientEvent::Playing { .. } => tracker.now_playing(recv_ns.saturating_sub(t0), shared),
            ClientEvent::Media {
                kind: MediaKind::Video,
                payload,
                timestamp,
            } => tracker.frame(true, timestamp, &payload, recv_ns, shared),
            ClientEvent::Media {
                kind: MediaKind::Audio,
                payload,
                timestamp,
            } => tracker.frame(false, timestamp, &payload, recv_ns, shared),
            ClientEvent::ConnectRejected { code, description } => {
                return Err(format!("connect rejected: {code} {description}"))
            }
            ClientEvent::PlayRejected { code, description } => {
                return Err(format!("play rejected: {code} {description}"))
            }
            ClientEvent::Status {
                level,
                code,
                description,
            } if level == "error" => return Err(format!("status {code}: {description}")),
            ClientEvent::StreamEof => return Err("the server ended the stream (StreamEOF)".into()),
            _ => {}
        }
    }
    tracker.end_of_read(recv_ns, shared);
    Ok(())
}
