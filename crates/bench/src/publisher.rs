//! The publisher: loops the fixture in real time over `client::connection::RtmpConnection` and records what it
//! sent when.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use client::connection::{connect, ConnectionError, ReadOutcome, RtmpConnection};
use rtmp::{MediaKind, SessionConfig};
use tokio::time::{sleep_until, Instant};

use super::clock::mono_ns;
use super::fixture::Fixture;
use super::net::{with_buf, CLOSE_WAIT};
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
    /// Unix time in ms at which the first frame was sent (0 before): a frame with timestamp T of the first loop
    /// was sent at this + T, which a glass-to-glass measurement reads the other end against.
    pub first_frame_unix_ms: AtomicU64,
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
    /// What the players can match a frame by.
    pub keying: Keying,
}

/// What a frame's content key is made of, which depends on what the players receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keying {
    /// The whole FLV payload (RTMP and HTTP-FLV players get it unchanged).
    Payload,
    /// A video frame's coded slices (WHEP players get the H.264 as Annex B with parameter sets added); audio,
    /// transcoded to Opus for them, is not keyed.
    Slices,
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
    let stream = connect(p.addr, deadline).await?;
    let now = std::time::Instant::now();
    let mut conn = RtmpConnection::start(stream, &p.app, &p.tc_url, SessionConfig::default(), now);
    conn.session().publish(&p.name);
    match conn.until_publishing(deadline).await {
        Ok(_) => stats.publishing.store(true, Ordering::Relaxed),
        Err(ConnectionError::Timeout { .. }) => {
            bail!("not publishing {PUBLISH_TIMEOUT:?} after connecting")
        }
        Err(ConnectionError::Closed) => bail!("the server closed the publishing connection"),
        Err(e) => return Err(e.into()),
    }
    // A bigger chunk size than the default 128 means fewer chunk headers for the server to parse.
    let session = conn.session();
    session.set_chunk_size(4096);
    if let Some(meta) = &p.fixture.metadata {
        // How encoders send metadata, and what nginx-rtmp expects.
        session.send_media(MediaKind::Script, 0, &flv::script::add_set_data_frame(meta));
    }
    for (kind, header) in &p.fixture.headers {
        session.send_media(*kind, 0, header);
    }
    conn.flush().await?;
    send_loop(p, stats, &mut conn).await?;
    conn.close(CLOSE_WAIT).await;
    Ok(())
}

/// Sends the fixture's frames on their schedule, in a loop, until `p.stop` or `stats.stop`.
async fn send_loop(p: &Publish, stats: &PublisherStats, conn: &mut RtmpConnection) -> Result<()> {
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
            return Ok(());
        }
        while Instant::now() < due {
            tokio::select! {
                ready = conn.readable() => {
                    ready?;
                    service(conn)?;
                    conn.flush().await?;
                }
                _ = sleep_until(due) => {}
            }
        }
        let lag = Instant::now().saturating_duration_since(due);
        stats.max_lag_us.fetch_max(
            u64::try_from(lag.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        conn.session().send_media(frame.kind, ts, &frame.payload);
        let key = match p.keying {
            Keying::Payload => Some(content_key(&frame.payload)),
            Keying::Slices => p.fixture.slices_key(frame),
        };
        // Recorded before the bytes are written, so a player can never see the frame before its send time.
        let sent_ns = mono_ns();
        if lap == 0 && index == 0 {
            let unix_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            stats.first_frame_unix_ms.store(unix_ms, Ordering::Relaxed);
        }
        if let Some(key) = key {
            p.table.insert(key, sent_ns);
            for sink in &p.sinks {
                let _ = sink.send((key, sent_ns));
            }
        }
        conn.flush().await?;
        stats.frames.fetch_add(1, Ordering::Relaxed);
        stats
            .bytes
            .fetch_add(frame.payload.len() as u64, Ordering::Relaxed);
        index += 1;
    }
}

/// Reads what the server sent and fails on what ends a publish.
fn service(conn: &mut RtmpConnection) -> Result<()> {
    with_buf(|buf| match conn.try_read(buf)? {
        ReadOutcome::Data(n) => conn.handle_input(&buf[..n], std::time::Instant::now()),
        ReadOutcome::Closed => Err(ConnectionError::Closed),
        ReadOutcome::WouldBlock => Ok(()),
    })
    .map_err(|e| match e {
        ConnectionError::Closed => anyhow::anyhow!("the server closed the publishing connection"),
        e => e.into(),
    })?;
    while let Some(event) = conn.session().poll_output() {
        if let Some(e) = ConnectionError::from_event(event, "publish") {
            return Err(e.into());
        }
    }
    Ok(())
}
