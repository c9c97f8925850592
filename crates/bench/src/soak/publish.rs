//! The soak's publishers. Each runs on a thread of its own with a single-threaded runtime (as the bench's
//! publisher does), so its pacing never queues behind hundreds of player tasks.
//!
//! Stream A drops and comes back every `drop_every`, alternating a TCP close (the socket is dropped, no last
//! word) and a clean unpublish (`FCUnpublish` + `deleteStream`, then close), and reconnects after
//! `reconnect_delay`. Stream B is kicked through the API, or forbidden for a while and then unforbidden,
//! alternately, every `b_every`. Every session starts its timestamps at 0 again, as encoders do when they
//! reconnect: keeping them monotonic for players is the server's job.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};
use client::connection::{connect, ConnectionError, ReadOutcome, RtmpConnection};
use rtmp::{MediaKind, SessionConfig};
use serde::Serialize;
use tokio::time::{sleep, sleep_until, Instant};

use super::api::Api;
use crate::fixture::Fixture;
use crate::net::{with_buf, CLOSE_WAIT};

/// Time allowed from TCP connect to `Publishing` (or to the refusal).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the server has to close a kicked or forbidden publisher's connection.
const KICK_WAIT: Duration = Duration::from_secs(5);
/// Pause after a failed publish before the next attempt.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Where a publisher publishes.
#[derive(Clone)]
pub(super) struct Target {
    pub addr: SocketAddr,
    pub app: String,
    pub tc_url: String,
    pub stream: String,
}

/// What a publisher did, read by the run as it goes.
#[derive(Default)]
pub(super) struct PubStats {
    /// Publishes the server acknowledged (`NetStream.Publish.Start`).
    pub publishes: AtomicU64,
    /// Sessions ended by dropping the socket.
    pub tcp_drops: AtomicU64,
    /// Sessions ended with FCUnpublish + deleteStream.
    pub unpublishes: AtomicU64,
    /// Kicks through the API that the server carried out (the connection closed).
    pub kicks: AtomicU64,
    /// Forbids through the API that closed the live publisher.
    pub forbids: AtomicU64,
    /// Publishes refused while forbidden, as they should be.
    pub refused_while_forbidden: AtomicU64,
    /// Publishes accepted while forbidden (a failure of the forbid).
    pub accepted_while_forbidden: AtomicU64,
    /// Sessions the server ended without being asked (not a kick or forbid of ours).
    pub closed_by_server: AtomicU64,
    /// Publish attempts that failed (connect, refusal, timeout), or API calls that failed.
    pub failures: AtomicU64,
    /// Longest time from the end of a session to the next `Publishing`, in ms.
    pub max_gap_ms: AtomicU64,
    pub live: AtomicBool,
    pub last_error: Mutex<Option<String>>,
}

impl PubStats {
    fn error(&self, e: impl std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }

    pub(super) fn report(&self) -> PubReport {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PubReport {
            publishes: l(&self.publishes),
            tcp_drops: l(&self.tcp_drops),
            unpublishes: l(&self.unpublishes),
            kicks: l(&self.kicks),
            forbids: l(&self.forbids),
            refused_while_forbidden: l(&self.refused_while_forbidden),
            accepted_while_forbidden: l(&self.accepted_while_forbidden),
            closed_by_server: l(&self.closed_by_server),
            failures: l(&self.failures),
            max_reconnect_gap_ms: l(&self.max_gap_ms),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// [`PubStats`] as reported.
#[derive(Debug, Clone, Serialize)]
pub(super) struct PubReport {
    pub publishes: u64,
    pub tcp_drops: u64,
    pub unpublishes: u64,
    pub kicks: u64,
    pub forbids: u64,
    pub refused_while_forbidden: u64,
    pub accepted_while_forbidden: u64,
    pub closed_by_server: u64,
    pub failures: u64,
    pub max_reconnect_gap_ms: u64,
    pub last_error: Option<String>,
}

/// What a publisher does between sessions.
#[derive(Clone)]
pub(super) enum Plan {
    /// Stream A: end each session after `every`, alternating TCP close and clean unpublish; `every` zero: one
    /// session until the stop (the churn's stream).
    Drops {
        every: Duration,
        reconnect_delay: Duration,
    },
    /// Stream B: after each `every`, kick through the API or forbid for `forbid_for` then unforbid, alternately.
    Kicks {
        every: Duration,
        forbid_for: Duration,
        api: Api,
    },
}

/// Starts a publisher thread; it runs until `stop` is set (checked before every frame and between sessions),
/// then ends its session with a clean unpublish.
pub(super) fn spawn(
    target: Target,
    fixture: Arc<Fixture>,
    plan: Plan,
    stats: Arc<PubStats>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = format!("publish-{}", target.stream);
    Ok(std::thread::Builder::new().name(name).spawn(move || {
        runtime.block_on(run(&target, &fixture, &plan, &stats, &stop));
        stats.live.store(false, Ordering::Relaxed);
    })?)
}

/// How a session ended.
enum End {
    /// Its time was up: the plan says what comes next.
    Due(RtmpConnection),
    /// The run is over.
    Stop(RtmpConnection),
    /// The server closed it, or a write failed.
    Lost(String),
}

async fn run(t: &Target, fixture: &Fixture, plan: &Plan, stats: &PubStats, stop: &AtomicBool) {
    let mut round = 0u64;
    let mut ended_at: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut conn = match open(t).await {
            Ok(c) => c,
            Err(e) => {
                stats.error(format!("publish {}: {e}", t.stream));
                sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        stats.publishes.fetch_add(1, Ordering::Relaxed);
        stats.live.store(true, Ordering::Relaxed);
        if let Some(at) = ended_at.take() {
            let gap = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
            stats.max_gap_ms.fetch_max(gap, Ordering::Relaxed);
        }
        let every = match plan {
            Plan::Drops { every, .. } | Plan::Kicks { every, .. } => *every,
        };
        let due = (!every.is_zero()).then(|| Instant::now() + every);
        let end = match session(&mut conn, fixture, due, stop).await {
            Ok(()) if stop.load(Ordering::Relaxed) => End::Stop(conn),
            Ok(()) => End::Due(conn),
            Err(e) => End::Lost(e),
        };
        match (end, plan) {
            (End::Stop(conn), _) => {
                conn.close(CLOSE_WAIT).await;
                stats.unpublishes.fetch_add(1, Ordering::Relaxed);
                stats.live.store(false, Ordering::Relaxed);
                return;
            }
            (End::Lost(e), _) => {
                stats.live.store(false, Ordering::Relaxed);
                stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
                stats.error(format!("publish {}: {e}", t.stream));
                sleep(RETRY_PAUSE).await;
            }
            (
                End::Due(conn),
                Plan::Drops {
                    reconnect_delay, ..
                },
            ) => {
                if round & 1 == 0 {
                    // A TCP close: no FCUnpublish, no deleteStream, no FIN wait; the kernel resets the socket.
                    drop(conn);
                    stats.tcp_drops.fetch_add(1, Ordering::Relaxed);
                } else {
                    conn.close(CLOSE_WAIT).await;
                    stats.unpublishes.fetch_add(1, Ordering::Relaxed);
                }
                stats.live.store(false, Ordering::Relaxed);
                ended_at = Some(Instant::now());
                sleep(*reconnect_delay).await;
            }
            (
                End::Due(conn),
                Plan::Kicks {
                    forbid_for, api, ..
                },
            ) => {
                if round & 1 == 0 {
                    kick(t, conn, api, stats).await;
                } else {
                    forbid(t, conn, api, *forbid_for, stats, stop).await;
                }
            }
        }
        round += 1;
    }
}

/// Connects and publishes; `Err` when the server refuses or does not answer.
async fn open(t: &Target) -> Result<RtmpConnection> {
    let deadline = Instant::now() + PUBLISH_TIMEOUT;
    let stream = connect(t.addr, deadline).await?;
    let mut conn = RtmpConnection::start(
        stream,
        &t.app,
        &t.tc_url,
        SessionConfig::default(),
        std::time::Instant::now(),
    );
    conn.session().publish(&t.stream);
    conn.until_publishing(deadline).await?;
    Ok(conn)
}

/// Sends metadata, headers, then the fixture in real time from timestamp 0, until `due` or the stop.
/// `Err` when the server closed the connection or a write failed.
async fn session(
    conn: &mut RtmpConnection,
    fixture: &Fixture,
    due: Option<Instant>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let session = conn.session();
    session.set_chunk_size(4096);
    if let Some(meta) = &fixture.metadata {
        session.send_media(MediaKind::Script, 0, &flv::script::add_set_data_frame(meta));
    }
    for (kind, header) in &fixture.headers {
        session.send_media(*kind, 0, header);
    }
    conn.flush().await.map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (mut index, mut lap, mut last_ts) = (0usize, 0u64, 0u32);
    loop {
        let Some(frame) = fixture.frames.get(index) else {
            index = 0;
            lap += 1;
            continue;
        };
        let ts = u32::try_from(lap * u64::from(fixture.loop_ms) + u64::from(frame.ts))
            .unwrap_or(u32::MAX)
            .max(last_ts);
        last_ts = ts;
        let at = start + Duration::from_millis(u64::from(ts));
        if stop.load(Ordering::Relaxed) || due.is_some_and(|d| at >= d) {
            return Ok(());
        }
        while Instant::now() < at {
            tokio::select! {
                ready = conn.readable() => {
                    ready.map_err(|e| e.to_string())?;
                    service(conn).map_err(|e| e.to_string())?;
                    conn.flush().await.map_err(|e| e.to_string())?;
                }
                _ = sleep_until(at) => {}
            }
        }
        conn.session().send_media(frame.kind, ts, &frame.payload);
        conn.flush().await.map_err(|e| e.to_string())?;
        index += 1;
    }
}

/// Reads what the server sent; `Err` on what ends a publish.
fn service(conn: &mut RtmpConnection) -> Result<(), ConnectionError> {
    with_buf(|buf| match conn.try_read(buf)? {
        ReadOutcome::Data(n) => conn.handle_input(&buf[..n], std::time::Instant::now()),
        ReadOutcome::Closed => Err(ConnectionError::Closed),
        ReadOutcome::WouldBlock => Ok(()),
    })?;
    while let Some(event) = conn.session().poll_output() {
        if let Some(e) = ConnectionError::from_event(event, "publish") {
            return Err(e);
        }
    }
    Ok(())
}

/// Waits (at most [`KICK_WAIT`]) for the server to close the connection; whether it did.
async fn closed_by_server(conn: &mut RtmpConnection) -> bool {
    let deadline = Instant::now() + KICK_WAIT;
    loop {
        tokio::select! {
            ready = conn.readable() => {
                if ready.is_err() || service(conn).is_err() {
                    return true;
                }
                if conn.flush().await.is_err() {
                    return true;
                }
            }
            _ = sleep_until(deadline) => return false,
        }
    }
}

async fn kick(t: &Target, mut conn: RtmpConnection, api: &Api, stats: &PubStats) {
    if let Err(e) = api.kick(&t.app, &t.stream).await {
        stats.error(format!("kick {}: {e:#}", t.stream));
        conn.close(CLOSE_WAIT).await;
        return;
    }
    if closed_by_server(&mut conn).await {
        stats.kicks.fetch_add(1, Ordering::Relaxed);
    } else {
        stats.error(anyhow!(
            "kick {}: the server did not close the publisher within {KICK_WAIT:?}",
            t.stream
        ));
        conn.close(CLOSE_WAIT).await;
    }
    stats.live.store(false, Ordering::Relaxed);
}

/// Forbids the stream (a long forbid, lifted by hand), checks one publish is refused, waits `forbid_for`,
/// lifts it. The next round's publish checks the stream is open again.
async fn forbid(
    t: &Target,
    mut conn: RtmpConnection,
    api: &Api,
    forbid_for: Duration,
    stats: &PubStats,
    stop: &AtomicBool,
) {
    if let Err(e) = api.forbid(&t.app, &t.stream, 3600).await {
        stats.error(format!("forbid {}: {e:#}", t.stream));
        conn.close(CLOSE_WAIT).await;
        return;
    }
    if closed_by_server(&mut conn).await {
        stats.forbids.fetch_add(1, Ordering::Relaxed);
    } else {
        stats.error(anyhow!(
            "forbid {}: the server did not close the publisher within {KICK_WAIT:?}",
            t.stream
        ));
        conn.close(CLOSE_WAIT).await;
    }
    stats.live.store(false, Ordering::Relaxed);
    match open(t).await {
        Ok(conn) => {
            stats
                .accepted_while_forbidden
                .fetch_add(1, Ordering::Relaxed);
            stats.error(anyhow!("publish {} was accepted while forbidden", t.stream));
            conn.close(CLOSE_WAIT).await;
        }
        Err(_) => {
            stats
                .refused_while_forbidden
                .fetch_add(1, Ordering::Relaxed);
        }
    }
    let until = Instant::now() + forbid_for;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        sleep(Duration::from_millis(100)).await;
    }
    if let Err(e) = api.unforbid(&t.app, &t.stream).await {
        stats.error(format!("unforbid {}: {e:#}", t.stream));
    }
}
