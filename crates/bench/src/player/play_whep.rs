//! One WHEP player: `client::whep::WhepConnection` (str0m as a full ICE agent and DTLS client on a UDP socket of
//! its own), with a receive loop of its own that reads into the thread's shared buffer and hands access units
//! straight to the tracker, keyed by their slices.

use client::whep::annexb::slices;
use client::whep::{WhepConnection, WhepEvent, WhepSetup};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use super::{not_playing, PlayerShared, Tracker};
use crate::clock::mono_ns;
use crate::net::{with_buf, CLOSE_WAIT};
use crate::sendtable::slices_key;

/// Datagrams read per wake-up before the task lets the others run (the socket stays readable).
const READ_BURST: usize = 64;

/// Where and how the players offer.
pub(super) struct Endpoint<'a> {
    pub url: &'a str,
    pub http: &'a reqwest::Client,
    pub setup: &'a WhepSetup,
}

/// Plays until `stop`, then closes (DTLS close and `DELETE`). `Err` carries the reason the player failed.
pub(super) async fn run(
    endpoint: &Endpoint<'_>,
    connect_deadline: Instant,
    stop: Instant,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    let t0 = mono_ns();
    // The offer is the play request: frames published before it are the GOP-cache burst.
    tracker.play_requested(t0);
    let connect = WhepConnection::connect(endpoint.http, endpoint.url, endpoint.setup);
    let mut conn = match timeout_at(connect_deadline, connect).await {
        Ok(conn) => conn.map_err(|e| e.to_string())?,
        Err(_) => return Err(not_playing(connect_deadline, stop)),
    };
    let result = play(&mut conn, t0, connect_deadline, stop, tracker, shared).await;
    let _ = timeout(CLOSE_WAIT, conn.close(endpoint.http)).await;
    result
}

async fn play(
    conn: &mut WhepConnection,
    t0: u64,
    connect_deadline: Instant,
    stop: Instant,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    loop {
        events(conn, t0, mono_ns(), tracker, shared)?;
        let deadline = if tracker.is_playing() {
            stop
        } else {
            connect_deadline
        };
        let timer = Instant::from_std(conn.timeout()).min(deadline);
        tokio::select! {
            ready = conn.readable() => {
                ready.map_err(|e| format!("udp receive: {e}"))?;
                let recv_ns = with_buf(|buf| -> Result<u64, String> {
                    let mut recv_ns = mono_ns();
                    for _ in 0..READ_BURST {
                        let now = std::time::Instant::now();
                        match conn.try_receive(buf, now).map_err(|e| e.to_string())? {
                            Some(n) => {
                                recv_ns = mono_ns();
                                tracker.received(n);
                                events(conn, t0, recv_ns, tracker, shared)?;
                            }
                            None => break,
                        }
                    }
                    Ok(recv_ns)
                })?;
                tracker.end_of_read(recv_ns, shared);
            }
            _ = sleep_until(timer) => {
                let now = Instant::now();
                if now >= deadline {
                    if !tracker.is_playing() {
                        return Err(not_playing(connect_deadline, stop));
                    }
                    return Ok(());
                }
                conn.handle_timeout(now.into_std()).map_err(|e| e.to_string())?;
            }
        }
    }
}

/// Drains the session's events (sending its datagrams) after an input at `recv_ns`.
fn events(
    conn: &mut WhepConnection,
    t0: u64,
    recv_ns: u64,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    while let Some(event) = conn.poll_event().map_err(|e| e.to_string())? {
        match event {
            WhepEvent::Connected => {
                tracker.now_playing(recv_ns.saturating_sub(t0), shared);
                tracker.live_from(recv_ns);
            }
            WhepEvent::Video(frame) => {
                // The hub's ms timeline, as RTMP players see it (the server writes ms x 90).
                let ms = (frame.rtp_90k / 90) as u32;
                let key = if tracker.matches() {
                    slices_key(slices(&frame.data))
                } else {
                    None
                };
                tracker.media(true, ms, frame.keyframe, key, recv_ns, shared);
            }
            WhepEvent::Audio(packet) => {
                let ms = (packet.rtp_48k / 48) as u32;
                tracker.media(false, ms, false, None, recv_ns, shared);
            }
            WhepEvent::Disconnected => return Err("the server ended the WebRTC session".into()),
        }
    }
    if conn.session().is_ended() {
        return Err("the WebRTC session ended".into());
    }
    Ok(())
}
