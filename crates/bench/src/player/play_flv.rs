//! One HTTP-FLV player: a GET over a tokio `TcpStream`, the response read by `client::http_flv::HttpFlvReader`.

use std::net::SocketAddr;

use client::connection::{close_gracefully, connect};
use client::http_flv::{Event, HttpFlvReader};
use flv::MediaKind;
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep_until, Instant};

use super::{not_playing, PlayerShared, Tracker};
use crate::clock::mono_ns;
use crate::net::{read_now, ReadOutcome, CLOSE_WAIT};

/// Largest FLV tag accepted.
const MAX_TAG: usize = 16 << 20;

/// Sends `request` (the GET, built once for all players) and plays the response until `stop`. `Err` carries
/// the reason the player failed.
pub(super) async fn run(
    addr: SocketAddr,
    request: &str,
    connect_deadline: Instant,
    stop: Instant,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    let t0 = mono_ns();
    let mut stream = connect(addr, connect_deadline)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    tracker.play_requested(mono_ns());
    let mut reader = HttpFlvReader::new(MAX_TAG);
    loop {
        let deadline = if tracker.is_playing() {
            stop
        } else {
            connect_deadline
        };
        tokio::select! {
            ready = stream.readable() => {
                ready.map_err(|e| format!("read: {e}"))?;
                let outcome = read_now(&stream, |data| on_bytes(&mut reader, data, t0, tracker, shared))
                    .map_err(|e| format!("read: {e}"))?;
                match outcome {
                    ReadOutcome::Data(r) => r?,
                    ReadOutcome::Closed => return Err("the server closed the connection".into()),
                    ReadOutcome::WouldBlock => {}
                }
            }
            _ = sleep_until(deadline) => {
                if !tracker.is_playing() {
                    return Err(not_playing(connect_deadline, stop));
                }
                close_gracefully(stream, None, CLOSE_WAIT).await;
                return Ok(());
            }
        }
    }
}

fn on_bytes(
    reader: &mut HttpFlvReader,
    data: &[u8],
    t0: u64,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    let recv_ns = mono_ns();
    tracker.received(data.len());
    reader.handle_input(data).map_err(|e| e.to_string())?;
    while let Some(event) = reader.poll_output() {
        match event {
            Event::Playing(_) => tracker.now_playing(recv_ns.saturating_sub(t0), shared),
            Event::Tag(tag) => match tag.tag_type {
                MediaKind::Video => tracker.frame(true, tag.timestamp, &tag.body, recv_ns, shared),
                MediaKind::Audio => tracker.frame(false, tag.timestamp, &tag.body, recv_ns, shared),
                MediaKind::Script => {}
            },
            Event::Refused { head, .. } => return Err(head.status_line),
            Event::Ended => return Err("the server ended the response".into()),
            _ => {}
        }
    }
    tracker.end_of_read(recv_ns, shared);
    Ok(())
}
