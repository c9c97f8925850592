//! The publisher: loops the fixture in real time over `rtmp::ClientSession` and records what it sent when.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use super::clock::mono_ns;
use super::fixture::Fixture;
use super::net::{close_gracefully, connect, read_now, ReadOutcome};
use super::sendtable::{content_key, SendTable};

/// Time allowed from TCP connect to `Publishing`.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the publisher sends the (content key, send ns) of each frame besides its own table: one channel per
/// worker process, drained by a thread that writes to the worker's stdin.
pub(super) type Sinks = Vec<mpsc::Sender<(u64, u64)>>;

#[derive(Default)]
pub(super) struct PublisherStats {
    pub publishing: AtomicBool,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    pub loops: AtomicU64,
    /// Largest delay of a frame behind its schedule, in microseconds: a saturated bench shows here.
    pub max_lag_us: AtomicU64,
    pub error: Mutex<Option<String>>,
    /// Set by the run when the players are done: the publisher stops before its next frame.
    pub stop: AtomicBool,
}

impl PublisherStats {
    pub(super) fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub(super) struct Publish {
    pub addr: SocketAddr,
    pub app: String,
    pub tc_url: String,
    pub name: String,
    pub fixture: Arc<Fixture>,
    pub table: Arc<SendTable>,
    pub sinks: Sinks,
    pub stop: Instant,
}

/// Starts the publisher on a thread of its own with a single-threaded runtime, so its pacing does not queue
/// behind thousands of player tasks. It runs until `p.stop` or `stats.stop`; errors are stored in `stats`.
pub(super) fn spawn(p: Publish, stats: Arc<PublisherStats>) -> Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = std::thread::Builder::new()
        .name("publisher".into())
        .spawn(move || {
            if let Err(e) = runtime.block_on(publish(&p, &stats)) {
                *stats.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{e:#}"));
            }
            stats.publishing.store(false, Ordering::Relaxed);
        })?;
    Ok(handle)
}

async fn publish(p: &Publish, stats: &PublisherStats) -> Result<()> {
    let deadline = (Instant::now() + PUBLISH_TIMEOUT).min(p.stop);
    let mut stream = connect(p.addr, deadline)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut session = ClientSession::new(SessionConfig::default(), std::time::Instant::now());
    session.connect(&p.app, &p.tc_url);
    session.publish(&p.name);
    // Wait for Publishing, answering whatever the server sends.
    while !stats.publishing.load(Ordering::Relaxed) {
        flush(&mut stream, &mut session).await?;
        let timer = session
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or(deadline)
            .min(deadline);
        tokio::select! {
            ready = stream.readable() => {
                ready?;
                service(&stream, &mut session, stats)?;
            }
            _ = sleep_until(timer) => {
                if Instant::now() >= deadline {
                    bail!("not publishing {PUBLISH_TIMEOUT:?} after connecting");
                }
                session.handle_timeout(std::time::Instant::now())?;
            }
        }
    }
    // A bigger chunk size than the default 128 means fewer chunk headers for the server to parse.
    session.set_chunk_size(4096);
    if let Some(meta) = &p.fixture.metadata {
        // How encoders send metadata, and what nginx-rtmp expects.
        session.send_media(MediaKind::Script, 0, &flv::script::add_set_data_frame(meta));
    }
    for (kind, header) in &p.fixture.headers {
        session.send_media(*kind, 0, header);
    }
    flush(&mut stream, &mut session).await?;

    let start = Instant::now();
    let frames = &p.fixture.frames;
    let (mut index, mut lap, mut last_ts) = (0usize, 0u64, 0u32);
    loop {
        let Some(frame) = frames.get(index) else {
            index = 0;
            lap += 1;
            stats.loops.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        // Timestamps continue across loops; file order is kept, with a timestamp never going back.
        let ts = u32::try_from(lap * u64::from(p.fixture.loop_ms) + u64::from(frame.ts))
            .unwrap_or(u32::MAX);
        let ts = ts.max(last_ts);
        last_ts = ts;
        let due = start + Duration::from_millis(u64::from(ts));
        if due >= p.stop || stats.stop.load(Ordering::Relaxed) {
            break;
        }
        while Instant::now() < due {
            tokio::select! {
                ready = stream.readable() => {
                    ready?;
                    service(&stream, &mut session, stats)?;
                    flush(&mut stream, &mut session).await?;
                }
                _ = sleep_until(due) => {}
            }
        }
        let lag = Instant::now().saturating_duration_since(due);
        stats.max_lag_us.fetch_max(
            u64::try_from(lag.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        session.send_media(frame.kind, ts, &frame.payload);
        let key = content_key(&frame.payload);
        // Recorded before the bytes are written, so a player can never see the frame before its send time.
        let sent_ns = mono_ns();
        p.table.insert(key, sent_ns);
        for sink in &p.sinks {
            let _ = sink.send((key, sent_ns));
        }
        flush(&mut stream, &mut session).await?;
        stats.frames.fetch_add(1, Ordering::Relaxed);
        stats
            .bytes
            .fetch_add(frame.payload.len() as u64, Ordering::Relaxed);
        index += 1;
    }
    session.close();
    close_gracefully(stream, session.take_transmit()).await;
    Ok(())
}

/// Reads what the server sent and handles the events a publisher cares about.
fn service(stream: &TcpStream, session: &mut ClientSession, stats: &PublisherStats) -> Result<()> {
    let outcome = read_now(stream, |data| -> Result<()> {
        session.handle_input(data, std::time::Instant::now())?;
        while let Some(event) = session.poll_output() {
            match event {
                ClientEvent::Publishing { .. } => stats.publishing.store(true, Ordering::Relaxed),
                ClientEvent::ConnectRejected { code, description } => {
                    bail!("connect rejected: {code} {description}")
                }
                ClientEvent::PublishRejected { code, description } => {
                    bail!("publish rejected: {code} {description}")
                }
                ClientEvent::Status {
                    level,
                    code,
                    description,
                } if level == "error" => {
                    bail!("status {code}: {description}")
                }
                _ => {}
            }
        }
        Ok(())
    })?;
    match outcome {
        ReadOutcome::Data(r) => r,
        ReadOutcome::Closed => bail!("the server closed the publishing connection"),
        ReadOutcome::WouldBlock => Ok(()),
    }
}

async fn flush(stream: &mut TcpStream, session: &mut ClientSession) -> Result<()> {
    if let Some(out) = session.take_transmit() {
        stream.write_all(&out).await?;
    }
    Ok(())
}
