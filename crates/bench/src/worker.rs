//! Players spread over child processes.
//!
//! Cross-process latency design: the publisher runs only in the parent. For every frame it sends it writes a
//! line `KEY_HEX SEND_NS` to each worker's stdin, where SEND_NS is CLOCK_MONOTONIC in nanoseconds (system-wide,
//! so comparable across processes; see [`super::clock`]). Each worker rebuilds the same send table from its stdin
//! and its players compute latencies locally against their own CLOCK_MONOTONIC receive times, so no per-frame
//! data flows back. The line is written before the frame reaches the socket, but the worker may still read the
//! frame from TCP before the line from its pipe: players keep such frames pending and retry the lookup after
//! later reads (see `player::Tracker`). Workers report progress lines `P playing failed bytes` every 250 ms and
//! one final `R {json}` line (a [`PlayersResult`] with mergeable histograms) on stdout. The measurement window is
//! given as CLOCK_MONOTONIC instants too, so every process starts and ends it at the same moment.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::clock::{instant_at, mono_ns};
use super::parent::resolve_target;
use super::player::{run_players, PlayerPlan, PlayerShared, PlayersResult};
use super::sendtable::SendTable;
use super::{BenchArgs, Mode};

/// Window of the send table: long enough for any sane latency, shorter than a loop of the fixture.
pub(super) const DEFAULT_WINDOW_NS: u64 = 10_000_000_000;

/// Progress of one worker, from its `P` lines.
#[derive(Default)]
pub(super) struct WorkerProgress {
    pub playing: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: AtomicU64,
}

struct WorkerChild {
    child: Child,
    reader: Option<JoinHandle<Result<PlayersResult, String>>>,
    progress: Arc<WorkerProgress>,
}

/// The running worker processes. Dropping it kills those still running.
pub(super) struct Workers {
    children: Vec<WorkerChild>,
}

/// The worker's share of the run.
pub(super) struct Share {
    pub first: u32,
    pub count: u32,
    /// Send times from the publisher, `None` when the bench does not publish.
    pub sends: Option<mpsc::Receiver<(u64, u64)>>,
}

/// The measurement window (CLOCK_MONOTONIC ns) and the send-table window, as given to every worker.
pub(super) struct Window {
    pub start_ns: u64,
    pub end_ns: u64,
    pub table_ns: u64,
}

/// Splits `players` over `k` workers as evenly as possible.
pub(super) fn split(players: u32, k: u32) -> Vec<(u32, u32)> {
    let (base, extra) = (players / k, players % k);
    let mut first = 0;
    (0..k)
        .map(|i| {
            let count = base + u32::from(i < extra);
            let share = (first, count);
            first += count;
            share
        })
        .collect()
}

impl Workers {
    /// Starts one child per share, re-executing this binary with `--worker`.
    pub(super) fn spawn(args: &BenchArgs, shares: Vec<Share>, window: &Window) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find the bench's own executable")?;
        let mut workers = Workers {
            children: Vec::new(),
        };
        for share in shares {
            let mut cmd = Command::new(&exe);
            cmd.arg("bench").arg("--worker").arg("--url").arg(&args.url);
            cmd.args(["--protocol", args.protocol.name()]);
            cmd.args([
                "--mode",
                match args.mode {
                    Mode::Live => "live",
                    Mode::Rtc => "rtc",
                },
            ]);
            if let Some(u) = &args.http_url {
                cmd.arg("--http-url").arg(u);
            }
            cmd.arg("--http-port").arg(args.http_port.to_string());
            cmd.arg("--players").arg(share.count.to_string());
            cmd.arg("--seconds").arg(args.seconds.to_string());
            cmd.arg("--ramp-ms").arg(args.ramp_ms.to_string());
            cmd.arg("--connect-timeout-ms")
                .arg(args.connect_timeout_ms.to_string());
            cmd.arg("--worker-start-ns")
                .arg(window.start_ns.to_string());
            cmd.arg("--worker-end-ns").arg(window.end_ns.to_string());
            cmd.arg("--worker-window-ns")
                .arg(window.table_ns.to_string());
            cmd.arg("--worker-first").arg(share.first.to_string());
            cmd.arg("--worker-total").arg(args.players.to_string());
            if let Some(t) = args.threads {
                cmd.arg("--threads").arg(t.to_string());
            }
            if share.sends.is_none() {
                cmd.arg("--no-publish");
            }
            cmd.stdin(if share.sends.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
            let mut child = cmd
                .spawn()
                .with_context(|| format!("cannot start worker {}", exe.display()))?;
            if let (Some(rx), Some(stdin)) = (share.sends, child.stdin.take()) {
                std::thread::spawn(move || forward_sends(rx, stdin));
            }
            let progress = Arc::new(WorkerProgress::default());
            let reader = child.stdout.take().map(|out| {
                let progress = progress.clone();
                std::thread::spawn(move || read_reports(out, &progress))
            });
            workers.children.push(WorkerChild {
                child,
                reader,
                progress,
            });
        }
        Ok(workers)
    }

    pub(super) fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|c| c.child.id()).collect()
    }

    pub(super) fn progress(&self) -> (u64, u64, u64) {
        self.children.iter().fold((0, 0, 0), |(p, f, b), c| {
            (
                p + c.progress.playing.load(Ordering::Relaxed),
                f + c.progress.failed.load(Ordering::Relaxed),
                b + c.progress.bytes.load(Ordering::Relaxed),
            )
        })
    }

    /// Waits (blocking) for every worker's result until `deadline`, then kills the rest. A worker without a
    /// result counts its players as failed with the reason.
    pub(super) fn finish(mut self, deadline: Instant, shares: &[(u32, u32)]) -> PlayersResult {
        let mut total = PlayersResult::default();
        for (i, c) in self.children.iter_mut().enumerate() {
            let result = loop {
                match c.child.try_wait() {
                    Ok(Some(_)) => break None,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = c.child.kill();
                        let _ = c.child.wait();
                        break Some(format!("worker {i} did not finish in time and was killed"));
                    }
                }
            };
            let _ = c.child.wait();
            let outcome = match (result, c.reader.take().map(|r| r.join())) {
                (Some(e), _) => Err(e),
                (None, Some(Ok(r))) => r,
                (None, _) => Err(format!("worker {i} gave no result")),
            };
            match outcome {
                Ok(r) => total.merge(r),
                Err(e) => {
                    let count = u64::from(shares.get(i).map_or(0, |s| s.1));
                    let failed = PlayersResult {
                        requested: count,
                        failed: count,
                        first_error: Some(e.clone()),
                        errors: [(e, count)].into_iter().collect(),
                        ..PlayersResult::default()
                    };
                    total.merge(failed);
                }
            }
        }
        total
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.children {
            if matches!(c.child.try_wait(), Ok(None)) {
                let _ = c.child.kill();
                let _ = c.child.wait();
            }
        }
    }
}

/// Writes send times to a worker's stdin until the publisher is gone or the worker exits.
fn forward_sends(rx: mpsc::Receiver<(u64, u64)>, stdin: std::process::ChildStdin) {
    let mut out = BufWriter::new(stdin);
    while let Ok((key, ns)) = rx.recv() {
        if writeln!(out, "{key:x} {ns}").is_err() {
            return;
        }
        while let Ok((key, ns)) = rx.try_recv() {
            if writeln!(out, "{key:x} {ns}").is_err() {
                return;
            }
        }
        if out.flush().is_err() {
            return;
        }
    }
}

fn read_reports(out: ChildStdout, progress: &WorkerProgress) -> Result<PlayersResult, String> {
    for line in BufReader::new(out).lines() {
        let line = line.map_err(|e| format!("reading a worker: {e}"))?;
        if let Some(json) = line.strip_prefix("R ") {
            return serde_json::from_str(json).map_err(|e| format!("bad worker result: {e}"));
        }
        if let Some(p) = line.strip_prefix("P ") {
            let mut n = p.split(' ').map(|v| v.parse::<u64>().unwrap_or(0));
            progress
                .playing
                .store(n.next().unwrap_or(0), Ordering::Relaxed);
            progress
                .failed
                .store(n.next().unwrap_or(0), Ordering::Relaxed);
            progress
                .bytes
                .store(n.next().unwrap_or(0), Ordering::Relaxed);
        }
    }
    Err("the worker exited without a result".into())
}

/// Parses a `KEY_HEX SEND_NS` line.
pub(super) fn parse_send(line: &str) -> Option<(u64, u64)> {
    let (key, ns) = line.split_once(' ')?;
    Some((u64::from_str_radix(key, 16).ok()?, ns.trim().parse().ok()?))
}

/// The worker side: players only, send times from stdin, results on stdout.
pub(super) fn run_worker(args: &BenchArgs) -> Result<()> {
    let runtime = super::runtime(args.threads)?;
    let table = (!args.no_publish).then(|| Arc::new(SendTable::new(args.worker_window_ns)));
    if let Some(table) = table.clone() {
        // A plain thread blocked on the pipe wakes as soon as the parent writes, whatever the runtime is doing.
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if let Some((key, ns)) = parse_send(&line) {
                    table.insert(key, ns);
                }
            }
        });
    }
    let result = runtime.block_on(async {
        let target = resolve_target(args).await?;
        let shared = Arc::new(PlayerShared::default());
        let plan = Arc::new(PlayerPlan {
            target,
            table,
            connect_timeout: Duration::from_millis(args.connect_timeout_ms),
            ramp: Duration::from_millis(args.ramp_ms),
            total: args.worker_total.max(args.players),
            first: args.worker_first,
            count: args.players,
            start: instant_at(args.worker_start_ns),
            end: instant_at(args.worker_end_ns.max(mono_ns())),
        });
        let reporter = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    let line = format!(
                        "P {} {} {}\n",
                        shared.playing.load(Ordering::Relaxed),
                        shared.failed.load(Ordering::Relaxed),
                        shared.bytes.load(Ordering::Relaxed)
                    );
                    let mut out = std::io::stdout().lock();
                    if out
                        .write_all(line.as_bytes())
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            })
        };
        run_players(plan, shared.clone()).await;
        reporter.abort();
        anyhow::Ok(shared.result(args.players))
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "R {}", serde_json::to_string(&result)?)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_all_players() {
        assert_eq!(split(10, 3), vec![(0, 4), (4, 3), (7, 3)]);
        assert_eq!(split(2, 2), vec![(0, 1), (1, 1)]);
        let s = split(20_000, 7);
        assert_eq!(s.iter().map(|x| x.1).sum::<u32>(), 20_000);
    }

    #[test]
    fn send_lines_round_trip() {
        let line = format!("{:x} {}", 0xdead_beef_0123_4567u64, 987_654_321u64);
        assert_eq!(
            parse_send(&line),
            Some((0xdead_beef_0123_4567, 987_654_321))
        );
        assert_eq!(parse_send("zz 1"), None);
        assert_eq!(parse_send("12"), None);
    }
}
