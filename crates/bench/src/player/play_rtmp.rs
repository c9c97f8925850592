//! One RTMP player: `client::connection::RtmpConnection` over a tokio `TcpStream`, with a receive loop of its
//! own that reads into the thread's shared buffer and hands frames straight to the tracker.

use std::net::SocketAddr;

use client::connection::{connect, ConnectionError, ReadOutcome, RtmpConnection};
use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};
use tokio::time::{sleep_until, Instant};

use super::{not_playing, PlayerShared, Tracker};
use crate::clock::mono_ns;
use crate::net::{with_buf, CLOSE_WAIT};

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
    let stream = connect(addr, connect_deadline)
        .await
        .map_err(|e| e.to_string())?;
    let now = std::time::Instant::now();
    let mut conn = RtmpConnection::start(stream, app, tc_url, SessionConfig::default(), now);
    loop {
        conn.flush().await.map_err(|e| e.to_string())?;
        let deadline = if tracker.is_playing() {
            stop
        } else {
            connect_deadline
        };
        let timer = conn
            .session()
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or(deadline)
            .min(deadline);
        tokio::select! {
            ready = conn.readable() => {
                ready.map_err(|e| e.to_string())?;
                with_buf(|buf| match conn.try_read(buf) {
                    Ok(ReadOutcome::Data(n)) => {
                        let recv_ns = mono_ns();
                        tracker.received(n);
                        conn.handle_input(&buf[..n], std::time::Instant::now()).map_err(|e| e.to_string())?;
                        on_read(conn.session(), name, recv_ns, t0, tracker, shared)
                    }
                    Ok(ReadOutcome::Closed) => Err("the server closed the connection".into()),
                    Ok(ReadOutcome::WouldBlock) => Ok(()),
                    Err(e) => Err(e.to_string()),
                })?;
            }
            _ = sleep_until(timer) => {
                let now = Instant::now();
                if now >= deadline {
                    if !tracker.is_playing() {
                        return Err(not_playing(connect_deadline, stop));
                    }
                    conn.close(CLOSE_WAIT).await;
                    return Ok(());
                }
                conn.session().handle_timeout(now.into_std()).map_err(|e| format!("rtmp: {e}"))?;
            }
        }
    }
}

/// Handles the session's events after a read at `recv_ns`.
fn on_read(
    session: &mut ClientSession,
    name: &str,
    recv_ns: u64,
    t0: u64,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
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
            ClientEvent::StreamEof => return Err("the server ended the stream (StreamEOF)".into()),
            other => {
                if let Some(e) = ConnectionError::from_event(other, "play") {
                    return Err(e.to_string());
                }
            }
        }
    }
    tracker.end_of_read(recv_ns, shared);
    Ok(())
}
