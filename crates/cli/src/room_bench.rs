//! `mplive room bench`: many rooms of many members over real WebSockets on loopback. Measures how long a
//! `membersChanged` takes to reach the other members after the join or exit that caused it, and the server's
//! resident memory per room.
//!
//! Members' session keys are written straight into the server's database (the same flags as `mplive serve`),
//! which is much faster than ten thousand API calls. Each member socket is one task that timestamps every
//! message on arrival and sends heartbeats; each room is one task that joins its members one after another and
//! later makes them exit, recording the delay of every resulting `membersChanged`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use control::now_unix;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::admin::StoreArgs;

/// Most rooms one run may open.
const MAX_ROOMS: u32 = 5000;
/// Most members per room the tool drives (the server's `rooms.max_members` must allow them).
const MAX_MEMBERS: u32 = 50;
/// How long one expected message may take before the run fails.
const WAIT: Duration = Duration::from_secs(20);
/// The session key every bench member uses.
const BENCH_KEY: &str = "mplive-bench-room-key";

/// Flags of `mplive room bench`.
#[derive(Debug, Args)]
pub struct RoomBenchArgs {
    /// The server's HTTP address (loopback)
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// The app the rooms belong to (created if missing)
    #[arg(long, default_value = "bench-rooms")]
    app: String,
    /// Rooms
    #[arg(long, default_value_t = 1000)]
    rooms: u32,
    /// Members per room
    #[arg(long, default_value_t = 10)]
    members: u32,
    /// Rooms joining at the same time
    #[arg(long, default_value_t = 100)]
    parallel: u32,
    /// The server's process id, to measure its resident memory
    #[arg(long)]
    server_pid: Option<u32>,
    #[command(flatten)]
    store: StoreArgs,
}

/// One message and when it arrived.
type Arrival = (Instant, Value);

struct Member {
    open_id: String,
    tx: mpsc::Sender<String>,
    rx: mpsc::Receiver<Arrival>,
}

impl Member {
    /// Waits for the next message of `kind` whose `openIdList` satisfies `check`; returns when it arrived.
    async fn wait(&mut self, kind: &str, check: impl Fn(&[Value]) -> bool) -> Result<Instant> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (at, v) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .with_context(|| {
                    format!("{}: no {kind} within {} s", self.open_id, WAIT.as_secs())
                })?
                .with_context(|| {
                    format!("{}: socket closed while waiting for {kind}", self.open_id)
                })?;
            if v["type"] == "error" {
                bail!("{}: server error {v}", self.open_id);
            }
            let list = v["openIdList"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if v["type"] == kind && check(list) {
                return Ok(at);
            }
        }
    }
}

/// Runs `mplive room bench`.
pub fn run(args: RoomBenchArgs) -> Result<()> {
    ensure!(
        (1..=MAX_ROOMS).contains(&args.rooms),
        "--rooms must be 1 to {MAX_ROOMS}"
    );
    ensure!(
        (2..=MAX_MEMBERS).contains(&args.members),
        "--members must be 2 to {MAX_MEMBERS}"
    );
    ensure!(args.parallel >= 1, "--parallel must be at least 1");
    let sockets = u64::from(args.rooms) * u64::from(args.members);
    raise_nofile(sockets + 256)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(bench(args))
}

/// Raises the open-file limit to at least `want`: each member is a socket.
fn raise_nofile(want: u64) -> Result<()> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current.is_some_and(|c| c >= want) || now.current.is_none() {
        return Ok(());
    }
    let max = now.maximum.unwrap_or(u64::MAX);
    ensure!(
        max >= want,
        "{want} open files are needed but the hard limit is {max}; raise it (ulimit -Hn, or run as root)"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: now.maximum,
        },
    )
    .context("cannot raise the open-file limit (RLIMIT_NOFILE)")?;
    Ok(())
}

async fn bench(args: RoomBenchArgs) -> Result<()> {
    let started = Instant::now();
    let (store, _) = args.store.open().await?;
    let app = match store.app(&args.app).await? {
        Some(app) => app,
        None => {
            store
                .create_app(&control::NewApp {
                    name: args.app.clone(),
                    ..control::NewApp::default()
                })
                .await?
        }
    };
    for r in 0..args.rooms {
        for m in 0..args.members {
            store
                .put_room_session(&app.id, &open_id(r, m), BENCH_KEY)
                .await?;
        }
    }
    store.close().await;
    eprintln!(
        "session keys for {} members written in {:.1} s",
        args.rooms * args.members,
        started.elapsed().as_secs_f64()
    );
    // The server reads the catalog every catalog_refresh_ms: give it time to see a newly created app.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let rss_before = args.server_pid.and_then(read_rss_kib);
    let joins = Arc::new(Mutex::new(new_histogram()?));
    let leaves = Arc::new(Mutex::new(new_histogram()?));
    let gate = Arc::new(Semaphore::new(args.parallel as usize));
    let all_joined = Arc::new(tokio::sync::Barrier::new(args.rooms as usize + 1));
    let go_leave = Arc::new(tokio::sync::Notify::new());
    let join_started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..args.rooms {
        let ctx = RoomCtx {
            addr: args.addr.clone(),
            app: args.app.clone(),
            room: r,
            members: args.members,
            joins: joins.clone(),
            leaves: leaves.clone(),
            gate: gate.clone(),
            all_joined: all_joined.clone(),
            go_leave: go_leave.clone(),
        };
        tasks.push(tokio::spawn(room(ctx)));
    }
    all_joined.wait().await;
    let join_secs = join_started.elapsed().as_secs_f64();
    // Let the server settle before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_joined = args.server_pid.and_then(read_rss_kib);
    go_leave.notify_waiters();
    let leave_started = Instant::now();
    for t in tasks {
        t.await.context("a room task panicked")??;
    }
    let leave_secs = leave_started.elapsed().as_secs_f64();
    let rss_after = args.server_pid.and_then(read_rss_kib);

    let joins = joins.lock().await;
    let leaves = leaves.lock().await;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let report = json!({
        "rooms": args.rooms,
        "membersPerRoom": args.members,
        "joinSeconds": round(join_secs),
        "leaveSeconds": round(leave_secs),
        "membersChangedOnJoin": {"count": joins.len(), "p50Ms": ms(&joins, 0.5), "p99Ms": ms(&joins, 0.99), "maxMs": joins.max() as f64 / 1000.0},
        "membersChangedOnExit": {"count": leaves.len(), "p50Ms": ms(&leaves, 0.5), "p99Ms": ms(&leaves, 0.99), "maxMs": leaves.max() as f64 / 1000.0},
        "serverRssKiB": {"before": rss_before, "joined": rss_joined, "after": rss_after},
        "serverKiBPerRoom": match (rss_before, rss_joined) {
            (Some(b), Some(j)) => json!(round(j.saturating_sub(b) as f64 / f64::from(args.rooms))),
            _ => Value::Null,
        },
        "totalSeconds": round(started.elapsed().as_secs_f64()),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn new_histogram() -> Result<Histogram<u64>> {
    // Microseconds, up to a minute, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram bounds")
}

fn open_id(room: u32, member: u32) -> String {
    format!("b{room}m{member}")
}

fn read_rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct RoomCtx {
    addr: String,
    app: String,
    room: u32,
    members: u32,
    joins: Arc<Mutex<Histogram<u64>>>,
    leaves: Arc<Mutex<Histogram<u64>>>,
    gate: Arc<Semaphore>,
    all_joined: Arc<tokio::sync::Barrier>,
    go_leave: Arc<tokio::sync::Notify>,
}

/// Joins the room's members one by one, waits for the signal, makes them exit one by one.
async fn room(ctx: RoomCtx) -> Result<()> {
    let group = format!("bench{}", ctx.room);
    let leave = ctx.go_leave.notified();
    tokio::pin!(leave);
    let mut members: Vec<Member> = Vec::new();
    let mut join_delays = Vec::new();
    {
        let _place = ctx.gate.acquire().await.context("gate closed")?;
        for m in 0..ctx.members {
            let mut member = connect(&ctx.addr, open_id(ctx.room, m)).await?;
            let nonce = format!("{}-{}", member.open_id, now_unix());
            let ts = now_unix().to_string();
            let signature = rooms::sign(
                &rooms::SignedFields {
                    app_id: &ctx.app,
                    group_id: &group,
                    nonce_str: &nonce,
                    time_stamp: &ts,
                },
                BENCH_KEY,
            );
            let join = json!({"type":"join","reqId":1,"appId":ctx.app,"groupId":group,"openId":member.open_id,
                "nonceStr":nonce,"timeStamp":ts,"signature":signature,"roomType":"voice"});
            let sent = Instant::now();
            member
                .tx
                .send(join.to_string())
                .await
                .context("member socket gone")?;
            member.wait("joined", |_| true).await?;
            let newcomer = member.open_id.clone();
            for other in members.iter_mut() {
                let at = other
                    .wait("membersChanged", |list| {
                        list.iter().any(|v| v.as_str() == Some(newcomer.as_str()))
                    })
                    .await?;
                join_delays.push(at.saturating_duration_since(sent));
            }
            members.push(member);
        }
    }
    record(&ctx.joins, &join_delays).await;
    // Register for the signal before arriving, so it cannot be missed.
    leave.as_mut().enable();
    ctx.all_joined.wait().await;
    leave.await;
    let mut leave_delays = Vec::new();
    let _place = ctx.gate.acquire().await.context("gate closed")?;
    while let Some(mut leaving) = (!members.is_empty()).then(|| members.remove(0)) {
        let sent = Instant::now();
        leaving
            .tx
            .send(json!({"type":"exit","reqId":2}).to_string())
            .await
            .context("member socket gone")?;
        leaving.wait("exited", |_| true).await?;
        let gone = leaving.open_id.clone();
        for other in members.iter_mut() {
            let at = other
                .wait("membersChanged", |list| {
                    !list.iter().any(|v| v.as_str() == Some(gone.as_str()))
                })
                .await?;
            leave_delays.push(at.saturating_duration_since(sent));
        }
    }
    record(&ctx.leaves, &leave_delays).await;
    Ok(())
}

async fn record(h: &Mutex<Histogram<u64>>, delays: &[Duration]) {
    let mut h = h.lock().await;
    for d in delays {
        // Saturates at the histogram's top rather than failing the run.
        let _ = h.record((d.as_micros() as u64).clamp(1, 60_000_000));
    }
}

/// Opens a member's socket: a task that writes what `tx` gets, sends heartbeats, and timestamps arrivals.
async fn connect(addr: &str, open_id: String) -> Result<Member> {
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    tcp.set_nodelay(true)?;
    let url = format!("ws://{addr}/rooms/v1/ws");
    // Small buffers: ten thousand sockets with tungstenite's default 128 KiB read buffers would cost 1.3 GB here.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(config))
        .await
        .with_context(|| format!("WebSocket handshake with {url}"))?;
    let (out_tx, mut out_rx) = mpsc::channel::<String>(8);
    let (in_tx, in_rx) = mpsc::channel::<Arrival>(64);
    tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        let mut beat = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                out = out_rx.recv() => match out {
                    Some(text) => if sink.send(Message::text(text)).await.is_err() { return },
                    None => { let _ = sink.close().await; return }
                },
                _ = beat.tick() => {
                    if sink.send(Message::text(r#"{"type":"heartbeat"}"#)).await.is_err() { return }
                }
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let at = Instant::now();
                        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                        if v["type"] == "heartbeat" { continue }
                        if in_tx.send((at, v)).await.is_err() { return }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
        }
    });
    Ok(Member {
        open_id,
        tx: out_tx,
        rx: in_rx,
    })
}
