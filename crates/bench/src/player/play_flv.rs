//! One HTTP-FLV player: a GET over a tokio `TcpStream`, the body fed to `flv::FlvDemuxer`.

use std::net::SocketAddr;

use flv::{FlvDemuxer, MediaKind};
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep_until, Instant};

use super::{not_playing, PlayerShared, Tracker};
use crate::clock::mono_ns;
use crate::http::{head_end, parse_head, request, Dechunker, MAX_HEAD};
use crate::net::{close_gracefully, connect, read_now, ReadOutcome};

/// Largest FLV tag accepted.
const MAX_TAG: usize = 16 << 20;

enum Body {
    /// Collecting the response head.
    Head(Vec<u8>),
    Chunked(Dechunker),
    /// Close-delimited or content-length body: bytes as they come.
    Plain,
}

struct State {
    body: Body,
    demuxer: FlvDemuxer,
    t0: u64,
}

/// Plays `target` until `stop`. `Err` carries the reason the player failed.
pub(super) async fn run(
    addr: SocketAddr,
    host: &str,
    target: &str,
    connect_deadline: Instant,
    stop: Instant,
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    let t0 = mono_ns();
    let mut stream = connect(addr, connect_deadline).await?;
    stream
        .write_all(request(target, host).as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    tracker.play_requested(mono_ns());
    let mut state = State {
        body: Body::Head(Vec::new()),
        demuxer: FlvDemuxer::new(MAX_TAG),
        t0,
    };
    loop {
        let deadline = if tracker.is_playing() {
            stop
        } else {
            connect_deadline
        };
        tokio::select! {
            ready = stream.readable() => {
                ready.map_err(|e| format!("read: {e}"))?;
                let outcome = read_now(&stream, |data| on_bytes(&mut state, data, tracker, shared))
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
                close_gracefully(stream, None).await;
                return Ok(());
            }
        }
    }
}

fn on_bytes(
    state: &mut State,
    data: &[u8],
    tracker: &mut Tracker,
    shared: &PlayerShared,
) -> Result<(), String> {
    let recv_ns = mono_ns();
    tracker.received(data.len());
    let mut body_start = data;
    if let Body::Head(head) = &mut state.body {
        let before = head.len();
        head.extend_from_slice(data);
        let Some(end) = head_end(head) else {
            if head.len() > MAX_HEAD {
                return Err(format!("response head over {MAX_HEAD} bytes"));
            }
            return Ok(());
        };
        let (code, chunked) = parse_head(&head[..end])?;
        if code != 200 {
            let status = String::from_utf8_lossy(&head[..end]);
            let status = status.lines().next().unwrap_or_default();
            return Err(status.to_string());
        }
        tracker.now_playing(recv_ns.saturating_sub(state.t0), shared);
        body_start = &data[end.saturating_sub(before)..];
        state.body = if chunked {
            Body::Chunked(Dechunker::default())
        } else {
            Body::Plain
        };
    }
    let demuxer = &mut state.demuxer;
    let mut feed = |bytes: &[u8]| demuxer.handle_input(bytes).map_err(|e| format!("FLV: {e}"));
    match &mut state.body {
        Body::Chunked(d) => {
            d.feed(body_start, feed)?;
            if d.is_done() {
                return Err("the server ended the response".into());
            }
        }
        Body::Plain => feed(body_start)?,
        Body::Head(_) => {}
    }
    while let Some(tag) = state.demuxer.poll_tag() {
        match tag.tag_type {
            MediaKind::Video => tracker.frame(true, tag.timestamp, &tag.body, recv_ns, shared),
            MediaKind::Audio => tracker.frame(false, tag.timestamp, &tag.body, recv_ns, shared),
            MediaKind::Script => {}
        }
    }
    tracker.end_of_read(recv_ns, shared);
    Ok(())
}
