//! `mplive room bench`: many rooms of many members over real WebSockets on loopback. Measures how long a
//! `membersChanged` takes to reach the other members after the join or exit that caused it, and the server's
//! resident memory per room.
//!
//! Members' session keys are written straight into the server's database, which is much faster than ten
//! thousand API calls: the caller opens the database (the CLI with the same flags as `mplive serve`) and hands
//! the writing in as a [`MemberKeys`]. Each member is a `client::room::RoomClient` (the Rust SDK's room member:
//! one task per socket that timestamps every message on arrival and sends heartbeats); each room is one task that joins its members one after another and later makes them
//! exit, recording the delay of every resulting `membersChanged` (see `member`).

mod member;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};

use super::procfs::read_rss_kib;
use member::{open_id, room, RoomCtx};

/// Most rooms one run may open.
pub const MAX_ROOMS: u32 = 5000;
/// Most members per room the tool drives (the server's `rooms.max_members` must allow them).
pub const MAX_MEMBERS: u32 = 50;
/// The session key every bench member uses.
const BENCH_KEY: &str = "mplive-bench-room-key";

/// Flags of `mplive room bench` (besides where the database is, which the caller handles).
#[derive(Debug, Clone, Args)]
pub struct RoomBenchArgs {
    /// The server's HTTP address (loopback)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// The app the rooms belong to (created if missing)
    #[arg(long, default_value = "bench-rooms")]
    pub app: String,
    /// Rooms
    #[arg(long, default_value_t = 1000)]
    pub rooms: u32,
    /// Members per room
    #[arg(long, default_value_t = 10)]
    pub members: u32,
    /// Rooms joining at the same time
    #[arg(long, default_value_t = 100)]
    pub parallel: u32,
    /// The server's process id, to measure its resident memory
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// Gives the bench's members their session keys in the server's database.
pub trait MemberKeys {
    /// Makes sure the app named `app` exists (creating it with default settings if missing), then registers
    /// `key` as the session key of each member of `open_ids` in it.
    fn register(
        &self,
        app: &str,
        open_ids: &[String],
        key: &str,
    ) -> impl Future<Output = Result<()>>;
}

/// Runs `mplive room bench`: registers the members' keys through `keys`, runs the rooms, prints the report
/// (JSON) on stdout.
pub fn run(args: RoomBenchArgs, keys: impl MemberKeys) -> Result<()> {
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
    runtime.block_on(bench(args, keys))
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

/// The histograms every room records into.
struct Delays {
    joins: Arc<Mutex<Histogram<u64>>>,
    leaves: Arc<Mutex<Histogram<u64>>>,
}

async fn bench(args: RoomBenchArgs, keys: impl MemberKeys) -> Result<()> {
    let started = Instant::now();
    let open_ids: Vec<String> = (0..args.rooms)
        .flat_map(|r| (0..args.members).map(move |m| open_id(r, m)))
        .collect();
    keys.register(&args.app, &open_ids, BENCH_KEY).await?;
    eprintln!(
        "session keys for {} members written in {:.1} s",
        args.rooms * args.members,
        started.elapsed().as_secs_f64()
    );
    drop(open_ids);
    // The server reads the catalog every catalog_refresh_ms: give it time to see a newly created app.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let rss_before = args.server_pid.and_then(|p| read_rss_kib(Some(p)));
    let delays = Delays {
        joins: Arc::new(Mutex::new(new_histogram()?)),
        leaves: Arc::new(Mutex::new(new_histogram()?)),
    };
    let gate = Arc::new(Semaphore::new(args.parallel as usize));
    let all_joined = Arc::new(tokio::sync::Barrier::new(args.rooms as usize + 1));
    let go_leave = Arc::new(tokio::sync::Notify::new());
    let join_started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..args.rooms {
        let ctx = RoomCtx {
            addr: args.addr.clone(),
            app: args.app.clone(),
            key: BENCH_KEY,
            room: r,
            members: args.members,
            joins: delays.joins.clone(),
            leaves: delays.leaves.clone(),
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
    let rss_joined = args.server_pid.and_then(|p| read_rss_kib(Some(p)));
    go_leave.notify_waiters();
    let leave_started = Instant::now();
    for t in tasks {
        t.await.context("a room task panicked")??;
    }
    let leave_secs = leave_started.elapsed().as_secs_f64();
    let rss_after = args.server_pid.and_then(|p| read_rss_kib(Some(p)));

    let joins = delays.joins.lock().await;
    let leaves = delays.leaves.lock().await;
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
