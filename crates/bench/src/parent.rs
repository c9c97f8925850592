//! One bench run as seen from the process the user started: publisher, players (here or in workers),
//! measurement window, progress display, report.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use client::http_flv;
use client::url::{HttpUrl, RtmpUrl};
use client::whep::WhepSetup;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::{sleep, sleep_until, Instant};

use super::clock::mono_ns;
use super::fixture::Fixture;
use super::flood::{self, FloodReport};
use super::player::{run_players, PlayerPlan, PlayerShared, PlayersResult, Target, STOP_GRACE};
use super::procfs::{read_cpu, read_rss_kib, CpuTicks};
use super::publisher::{self, Keying, Publish, PublisherStats, Sinks};
use super::report::{Report, Snapshot};
use super::sendtable::SendTable;
use super::worker::{parse_send, split, Share, Window, Workers, DEFAULT_WINDOW_NS};
use super::{BenchArgs, Protocol};

/// What the HTTP-FLV players say they are.
const USER_AGENT: &str = "mplive-bench";
/// Time the publisher has to reach `Publishing`.
const PUBLISH_WAIT: Duration = Duration::from_secs(10);
/// Delay between spawning the workers and their players' start, for the processes to come up.
const WORKER_STARTUP: Duration = Duration::from_millis(700);

/// Resolves `host:port`, refusing addresses that are not local: the bench is meant for loopback and LAN tests.
pub(super) async fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .with_context(|| format!("{host} has no address"))?;
    if !is_local(addr.ip()) {
        let what = if host == addr.ip().to_string() {
            host.to_string()
        } else {
            format!("{host} ({})", addr.ip())
        };
        bail!("{what} is not a loopback or private address: the bench only targets local servers");
    }
    Ok(addr)
}

fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Where the players connect, from `--url`, `--protocol`, `--mode`, `--http-url`, `--http-port`.
pub(super) async fn resolve_target(args: &BenchArgs) -> Result<Target> {
    let url = RtmpUrl::parse(&args.url)?;
    let extra = args.mode_query();
    Ok(match args.protocol {
        Protocol::Rtmp => Target::Rtmp {
            addr: resolve(&url.host, url.port).await?,
            app: url.app.clone(),
            tc_url: url.tc_url(),
            name: url.stream_name_with(extra),
        },
        Protocol::Flv => {
            let http = match &args.http_url {
                Some(u) => HttpUrl::parse(u)?.with_query(extra),
                None => url.http_flv_url(args.http_port, extra),
            };
            Target::Flv {
                addr: resolve(&http.host, http.port).await?,
                url: http.to_string(),
                request: http_flv::request(&http, USER_AGENT),
            }
        }
        Protocol::Whep => {
            let whep = whep_url(args, &url)?;
            // Checked here for the same reason as the others: the bench only targets local servers.
            resolve(&whep.host, whep.port).await?;
            Target::Whep {
                url: whep.to_string(),
                http: reqwest::Client::builder()
                    .no_proxy()
                    .user_agent(USER_AGENT)
                    .build()?,
                setup: WhepSetup::new()?,
            }
        }
    })
}

/// The WHEP URL: `--http-url` for `--protocol whep`, else derived from `--url` and `--http-port`.
fn whep_url(args: &BenchArgs, url: &RtmpUrl) -> Result<HttpUrl> {
    Ok(match (&args.http_url, args.protocol) {
        (Some(u), Protocol::Whep) => HttpUrl::parse(u)?,
        _ => url.whep_url(args.http_port, None),
    })
}

/// The URL players use, for the report.
fn play_url(target: &Target) -> String {
    match target {
        Target::Rtmp { tc_url, name, .. } => format!("{tc_url}/{name}"),
        Target::Flv { url, .. } | Target::Whep { url, .. } => url.clone(),
    }
}

/// Players running here or in workers.
enum Players {
    Here {
        shared: Arc<PlayerShared>,
        task: tokio::task::JoinHandle<()>,
    },
    Workers {
        workers: Workers,
        shares: Vec<(u32, u32)>,
    },
    None,
}

impl Players {
    fn progress(&self) -> (u64, u64, u64) {
        match self {
            Players::Here { shared, .. } => (
                shared.playing.load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed),
                shared.bytes.load(Ordering::Relaxed),
            ),
            Players::Workers { workers, .. } => workers.progress(),
            Players::None => (0, 0, 0),
        }
    }

    fn worker_pids(&self) -> Vec<u32> {
        match self {
            Players::Workers { workers, .. } => workers.pids(),
            _ => Vec::new(),
        }
    }

    /// Waits for the players to stop and merges what they saw.
    async fn finish(self, requested: u32) -> Result<PlayersResult> {
        Ok(match self {
            Players::Here { shared, task } => {
                let _ = task.await;
                shared.result(requested)
            }
            Players::Workers { workers, shares } => {
                let deadline = std::time::Instant::now() + STOP_GRACE + Duration::from_secs(10);
                tokio::task::spawn_blocking(move || workers.finish(deadline, &shares)).await?
            }
            Players::None => PlayersResult::default(),
        })
    }
}

/// CPU ticks of this process plus its live workers.
fn bench_cpu(worker_pids: &[u32]) -> u64 {
    let own = read_cpu(None).map(|c| c.own).unwrap_or(0);
    own + worker_pids
        .iter()
        .map(|&p| read_cpu(Some(p)).map(|c| c.own).unwrap_or(0))
        .sum::<u64>()
}

fn snapshot(server_pid: Option<u32>, worker_pids: &[u32]) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        server_cpu: server_pid
            .and_then(|p| read_cpu(Some(p)).ok())
            .map(|c: CpuTicks| c.own),
        server_rss_kib: server_pid.and_then(|p| read_rss_kib(Some(p))),
        bench_cpu: bench_cpu(worker_pids),
    }
}

fn progress_bar(args: &BenchArgs) -> ProgressBar {
    spinner(args.json || args.worker)
}

/// The spinner line of a long run (`mplive bench`, `bench soak`, `bench churn`); drawn nowhere when `hidden` (JSON
/// output, a worker process) or when stderr is not a terminal.
pub(crate) fn spinner(hidden: bool) -> ProgressBar {
    let target = if hidden || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed:>4}] {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub(super) async fn run(args: &BenchArgs) -> Result<Report> {
    let url = RtmpUrl::parse(&args.url)?;
    let target = resolve_target(args).await?;
    if let Some(pid) = args.server_pid {
        read_cpu(Some(pid)).with_context(|| format!("--server-pid {pid} cannot be measured"))?;
    }
    let fixture = match (&args.fixture, args.no_publish) {
        (Some(path), false) => Some(Arc::new(Fixture::load(path)?)),
        _ => None,
    };
    // The send table forgets entries after a window shorter than one loop of the fixture, so a payload that
    // comes round again is a new entry.
    let window_ns = fixture.as_ref().map_or(DEFAULT_WINDOW_NS, |f| {
        DEFAULT_WINDOW_NS.min(u64::from(f.loop_ms) * 1_000_000 * 9 / 10)
    });
    let table = Arc::new(SendTable::new(window_ns));
    let bar = progress_bar(args);
    let run_started = Instant::now();

    // Worker channels exist before the publisher starts so the workers get every send time, burst included.
    let in_workers = args.processes > 1 && !args.publish_only;
    let timed = fixture.is_some() || args.send_times.is_some();
    let (sinks, receivers) = worker_channels(in_workers && timed, args.processes);
    let pub_stats = Arc::new(PublisherStats::default());
    let publishing = match &fixture {
        Some(fixture) => {
            let publish = Publish {
                // The publisher always speaks RTMP to --url, even when the players use HTTP-FLV.
                addr: resolve(&url.host, url.port).await?,
                app: url.app.clone(),
                tc_url: url.tc_url(),
                name: url.stream_name(),
                fixture: fixture.clone(),
                table: table.clone(),
                sinks,
                // An upper bound; the publisher is stopped as soon as the players are done.
                stop: run_started
                    + PUBLISH_WAIT
                    + Duration::from_millis(args.warmup_ms)
                    + WORKER_STARTUP
                    + Duration::from_secs(u64::from(args.seconds))
                    + STOP_GRACE
                    + Duration::from_secs(10),
                keying: match args.protocol {
                    Protocol::Whep => Keying::Slices,
                    Protocol::Rtmp | Protocol::Flv => Keying::Payload,
                },
            };
            Some(publisher::spawn(publish, pub_stats.clone())?)
        }
        None => {
            if let Some(path) = &args.send_times {
                follow_send_times(path, table.clone(), sinks, pub_stats.clone())?;
            }
            None
        }
    };
    // Stops the publisher however we leave.
    let _stop_publisher = StopOnDrop(pub_stats.clone());
    if publishing.is_some() {
        wait_for_publisher(args, &bar, &pub_stats).await?;
    }

    let window = MeasureWindow::new(args, in_workers);
    let table = timed.then_some(table);
    let players = start_players(
        args, in_workers, receivers, &window, window_ns, &target, table,
    )?;
    sleep_until(window.start).await;
    // RSS at start: publisher running, players not yet connected.
    let first = snapshot(args.server_pid, &players.worker_pids());
    let flood = (args.offer_flood > 0).then(|| {
        let (at, end) = (
            window.start + Duration::from_millis(args.offer_flood_at_ms),
            window.end,
        );
        let (url, offers) = (
            whep_url(args, &url).map(|u| u.to_string()),
            args.offer_flood,
        );
        tokio::spawn(async move {
            sleep_until(at).await;
            flood::run(url?, offers, end).await
        })
    });
    let published = publishing.is_some().then_some(&*pub_stats);
    show_progress(args, &bar, &players, published, &window).await;
    // End of the window: every player still attached.
    let last = snapshot(args.server_pid, &players.worker_pids());
    bar.set_message("stopping players");
    let players_result = players.finish(args.players).await?;
    let flood: Option<FloodReport> = match flood {
        Some(task) => Some(task.await?.context("offer flood")?),
        None => None,
    };
    bar.finish_and_clear();
    // Let the publisher close its stream cleanly (it stops before its next frame).
    pub_stats.stop.store(true, Ordering::Relaxed);
    if let Some(handle) = publishing {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !handle.is_finished() && Instant::now() < deadline {
            sleep(Duration::from_millis(20)).await;
        }
    }
    let bench_threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    Ok(Report::build(
        args,
        play_url(&target),
        fixture.as_deref(),
        &pub_stats,
        players_result,
        first,
        last,
        bench_threads,
        flood,
    ))
}

/// Follows `--send-times`: another process (`floor --send-times`) appends a `KEY_HEX SEND_NS` line for each frame
/// it sends, and this thread puts them in the send table (and the workers' channels) as the publisher would.
/// It polls the file's end every millisecond: a frame a player reads before its line is here stays pending and
/// is looked up again after the player's next read, as with the publisher's own channel.
fn follow_send_times(
    path: &Path,
    table: Arc<SendTable>,
    sinks: Sinks,
    stats: Arc<PublisherStats>,
) -> Result<()> {
    let file = File::open(path).with_context(|| {
        format!(
            "--send-times {}: the sender creates it when it starts",
            path.display()
        )
    })?;
    std::thread::Builder::new()
        .name("send-times".into())
        .spawn(move || {
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            while !stats.stop.load(Ordering::Relaxed) {
                match reader.read_line(&mut line) {
                    // The end of the file, or a line still being written: wait for more.
                    Ok(_) if !line.ends_with('\n') => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Ok(_) => {
                        if let Some((key, ns)) = parse_send(&line) {
                            table.insert(key, ns);
                            for sink in &sinks {
                                let _ = sink.send((key, ns));
                            }
                        }
                        line.clear();
                    }
                    Err(_) => break,
                }
            }
        })
        .context("starting the --send-times reader")?;
    Ok(())
}

/// One send-time channel per worker process when `wanted`: the publisher's ends and the workers'.
fn worker_channels(wanted: bool, processes: u32) -> (Sinks, Vec<mpsc::Receiver<(u64, u64)>>) {
    if !wanted {
        return (Vec::new(), Vec::new());
    }
    (0..processes).map(|_| mpsc::channel()).unzip()
}

/// Waits until the publisher publishes, then for the warm-up.
async fn wait_for_publisher(
    args: &BenchArgs,
    bar: &ProgressBar,
    pub_stats: &PublisherStats,
) -> Result<()> {
    bar.set_message("connecting the publisher");
    let deadline = Instant::now() + PUBLISH_WAIT;
    while !pub_stats.publishing.load(Ordering::Relaxed) {
        if let Some(e) = pub_stats.error() {
            bail!("publisher: {e}");
        }
        if Instant::now() >= deadline {
            bail!("publisher: not publishing after {PUBLISH_WAIT:?}");
        }
        sleep(Duration::from_millis(10)).await;
    }
    bar.set_message("publishing; warming up");
    sleep(Duration::from_millis(args.warmup_ms)).await;
    if let Some(e) = pub_stats.error() {
        bail!("publisher: {e}");
    }
    Ok(())
}

/// The measurement window, as instants here and as CLOCK_MONOTONIC ns for the workers.
struct MeasureWindow {
    start: Instant,
    end: Instant,
    start_ns: u64,
    end_ns: u64,
    measure: Duration,
}

impl MeasureWindow {
    /// The window of `--seconds`, starting once the players (in workers: the worker processes) can start.
    fn new(args: &BenchArgs, in_workers: bool) -> Self {
        let measure = Duration::from_secs(u64::from(args.seconds));
        let startup = if in_workers {
            WORKER_STARTUP
        } else {
            Duration::from_millis(20)
        };
        let start = Instant::now() + startup;
        let start_ns = mono_ns() + u64::try_from(startup.as_nanos()).unwrap_or(0);
        Self {
            start,
            end: start + measure,
            start_ns,
            end_ns: start_ns + u64::try_from(measure.as_nanos()).unwrap_or(0),
            measure,
        }
    }
}

/// Starts the players: none (`--publish-only`), in worker processes, or as tasks here.
fn start_players(
    args: &BenchArgs,
    in_workers: bool,
    receivers: Vec<mpsc::Receiver<(u64, u64)>>,
    window: &MeasureWindow,
    window_ns: u64,
    target: &Target,
    table: Option<Arc<SendTable>>,
) -> Result<Players> {
    if args.publish_only {
        return Ok(Players::None);
    }
    if in_workers {
        let shares = split(args.players, args.processes);
        let mut rx = receivers.into_iter();
        let worker_shares = shares
            .iter()
            .map(|&(first, count)| Share {
                first,
                count,
                sends: rx.next(),
            })
            .collect::<Vec<_>>();
        let times = Window {
            start_ns: window.start_ns,
            end_ns: window.end_ns,
            table_ns: window_ns,
        };
        let workers = Workers::spawn(args, worker_shares, &times)?;
        return Ok(Players::Workers { workers, shares });
    }
    let shared = Arc::new(PlayerShared::default());
    let plan = Arc::new(PlayerPlan {
        target: target.clone(),
        table,
        connect_timeout: Duration::from_millis(args.connect_timeout_ms),
        ramp: Duration::from_millis(args.ramp_ms),
        total: args.players,
        first: 0,
        count: args.players,
        start: window.start,
        end: window.end,
    });
    let task = tokio::spawn(run_players(plan, shared.clone()));
    Ok(Players::Here { shared, task })
}

/// Shows progress until the end of the window; `published` when the bench publishes.
async fn show_progress(
    args: &BenchArgs,
    bar: &ProgressBar,
    players: &Players,
    published: Option<&PublisherStats>,
    window: &MeasureWindow,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while Instant::now() < window.end {
        tokio::select! {
            _ = tick.tick() => {}
            _ = sleep_until(window.end) => {}
        }
        let (playing, failed, bytes) = players.progress();
        let secs = Instant::now()
            .saturating_duration_since(window.start)
            .as_secs_f64()
            .max(0.001);
        let mut msg = format!(
            "{:.0}/{} s  playing {playing}/{}  failed {failed}  {:.1} Mbps",
            secs.min(window.measure.as_secs_f64()),
            args.seconds,
            args.players,
            bytes as f64 * 8.0 / secs / 1e6
        );
        if let Some(stats) = published {
            msg.push_str(&format!(
                "  published {} frames",
                stats.frames.load(Ordering::Relaxed)
            ));
        }
        bar.set_message(msg);
    }
}

struct StopOnDrop(Arc<PublisherStats>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--send-times`: lines are taken as the file grows, a line still being written only once it is whole.
    #[test]
    fn send_times_are_followed_as_the_file_grows() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("mplive-send-times-{}", std::process::id()));
        let mut file = File::create(&path).unwrap();
        file.write_all(b"00000000000000ab 1000\nnot a line\n00000000000000cd 20")
            .unwrap();
        file.flush().unwrap();
        let table = Arc::new(SendTable::new(DEFAULT_WINDOW_NS));
        let stats = Arc::new(PublisherStats::default());
        follow_send_times(&path, table.clone(), Vec::new(), stats.clone()).unwrap();
        let wait_for = |key: u64| {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while table.lookup(key).is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            table.lookup(key)
        };
        assert_eq!(wait_for(0xab), Some(1000));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(table.lookup(0xcd), None, "half a line is not taken");
        file.write_all(b"00\n").unwrap();
        file.flush().unwrap();
        assert_eq!(wait_for(0xcd), Some(2000));
        stats.stop.store(true, Ordering::Relaxed);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn local_addresses() {
        for ok in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_local(ok.parse().unwrap()), "{ok}");
        }
        for bad in ["8.8.8.8", "2001:4860::8888", "1.1.1.1"] {
            assert!(!is_local(bad.parse().unwrap()), "{bad}");
        }
    }
}
