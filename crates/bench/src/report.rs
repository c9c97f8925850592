//! The report: figures computed from the window snapshots and the players' results, as a table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde::Serialize;
use tokio::time::Instant;

use super::fixture::Fixture;
use super::flood::FloodReport;
use super::player::PlayersResult;
use super::procfs::ticks_to_secs;
use super::publisher::PublisherStats;
use super::stats::{Hist, Summary};
use super::{BenchArgs, Mode};

/// Bench CPU share of its cores above which the client itself may be the bottleneck.
const SATURATED: f64 = 0.85;

/// Readings taken at the start and at the end of the measurement window.
pub(super) struct Snapshot {
    pub at: Instant,
    /// utime + stime ticks of `--server-pid`.
    pub server_cpu: Option<u64>,
    pub server_rss_kib: Option<u64>,
    /// utime + stime ticks of this process and its workers.
    pub bench_cpu: u64,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub url: String,
    pub play_url: String,
    pub protocol: &'static str,
    pub mode: &'static str,
    pub seconds: f64,
    pub processes: u32,
    pub ramp_ms: u64,
    pub players: PlayersReport,
    /// TCP connect -> `Playing` (RTMP) or the HTTP response head (HTTP-FLV); offer `POST` -> ICE + DTLS
    /// connected (WHEP).
    pub connect_ms: Option<Summary>,
    /// Play request (WHEP: the offer's `POST`) -> first video keyframe that is not a sequence header.
    pub first_keyframe_ms: Option<Summary>,
    /// How far behind the live edge (by timestamps) a player starts: how far the timestamps of the video that
    /// arrived within 100 ms of the first keyframe ran ahead of the time that passed (the GOP-cache burst).
    pub start_behind_live_ms: Option<Summary>,
    /// Publisher send -> player receive, matched by content; frames sent before a player's play request
    /// (the GOP-cache burst; for WHEP, before the player was connected) are excluded.
    pub latency_ms: Option<Summary>,
    pub latency_excluded_burst_frames: u64,
    pub latency_unmatched_frames: u64,
    pub delivered: Delivered,
    /// Per player: the longest wait between two video frames after its first keyframe.
    pub video_gap_max_ms: Option<Summary>,
    pub publisher: Option<PublisherReport>,
    pub server: Option<ServerReport>,
    pub bench: BenchReport,
    /// `--offer-flood`: what the server answered.
    pub offer_flood: Option<FloodReport>,
}

#[derive(Debug, Serialize)]
pub(super) struct PlayersReport {
    pub requested: u64,
    pub playing_at_end: u64,
    pub ever_playing: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub(super) struct Delivered {
    /// Received by all players during the window.
    pub bytes: u64,
    pub frames: u64,
    pub mbps: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct PublisherReport {
    pub frames: u64,
    pub bytes: u64,
    pub loops: u64,
    pub max_lag_ms: f64,
    pub fixture_kbps: f64,
    /// Unix ms at which the first frame was sent: the frame with timestamp T (first loop) went at this + T.
    pub first_frame_unix_ms: u64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct ServerReport {
    pub pid: u32,
    pub cpu_s: Option<f64>,
    pub cpu_percent_of_one_core: Option<f64>,
    pub cpu_ms_per_mb: Option<f64>,
    pub rss_start_kib: Option<u64>,
    pub rss_end_kib: Option<u64>,
    /// (RSS at end - RSS at start) / players playing at the end.
    pub rss_per_player_kib: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(super) struct BenchReport {
    pub cpu_s: f64,
    pub cpu_percent_of_one_core: f64,
    pub threads: usize,
    /// The bench used most of the CPU it had: its own limits may show in the figures.
    pub saturated: bool,
}

fn summary(data: &super::stats::HistData) -> Option<Summary> {
    let mut h = Hist::default();
    h.merge(data);
    h.summary()
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn build(
        args: &BenchArgs,
        play_url: String,
        fixture: Option<&Fixture>,
        publisher: &PublisherStats,
        players: PlayersResult,
        first: Snapshot,
        last: Snapshot,
        threads: usize,
        offer_flood: Option<FloodReport>,
    ) -> Self {
        let secs = last
            .at
            .saturating_duration_since(first.at)
            .as_secs_f64()
            .max(0.001);
        let mb = players.window_bytes as f64 / 1e6;
        let server = args.server_pid.map(|pid| {
            let cpu_s = match (first.server_cpu, last.server_cpu) {
                (Some(a), Some(b)) => Some(ticks_to_secs(b.saturating_sub(a))),
                _ => None,
            };
            let rss_per_player_kib = match (first.server_rss_kib, last.server_rss_kib) {
                (Some(a), Some(b)) if players.playing_at_end > 0 => {
                    Some((b as f64 - a as f64) / players.playing_at_end as f64)
                }
                _ => None,
            };
            ServerReport {
                pid,
                cpu_s,
                cpu_percent_of_one_core: cpu_s.map(|c| c / secs * 100.0),
                cpu_ms_per_mb: cpu_s.filter(|_| mb > 0.0).map(|c| c * 1000.0 / mb),
                rss_start_kib: first.server_rss_kib,
                rss_end_kib: last.server_rss_kib,
                rss_per_player_kib,
            }
        });
        let bench_cpu = ticks_to_secs(last.bench_cpu.saturating_sub(first.bench_cpu));
        let bench_share = bench_cpu / secs / threads.max(1) as f64;
        let publisher = fixture.map(|f| PublisherReport {
            frames: publisher.frames.load(Ordering::Relaxed),
            bytes: publisher.bytes.load(Ordering::Relaxed),
            loops: publisher.loops.load(Ordering::Relaxed),
            max_lag_ms: publisher.max_lag_us.load(Ordering::Relaxed) as f64 / 1000.0,
            fixture_kbps: f.bitrate() / 1000.0,
            first_frame_unix_ms: publisher.first_frame_unix_ms.load(Ordering::Relaxed),
            error: publisher.error(),
        });
        Report {
            url: args.url.clone(),
            play_url,
            protocol: args.protocol.name(),
            mode: match args.mode {
                Mode::Live => "live",
                Mode::Rtc => "rtc",
            },
            seconds: secs,
            processes: args.processes,
            ramp_ms: args.ramp_ms,
            connect_ms: summary(&players.connect),
            first_keyframe_ms: summary(&players.keyframe),
            start_behind_live_ms: summary(&players.start_offset),
            latency_ms: summary(&players.latency),
            video_gap_max_ms: summary(&players.video_gap),
            latency_excluded_burst_frames: players.burst_frames,
            latency_unmatched_frames: players.unmatched_frames,
            delivered: Delivered {
                bytes: players.window_bytes,
                frames: players.window_frames,
                mbps: players.window_bytes as f64 * 8.0 / secs / 1e6,
            },
            players: PlayersReport {
                requested: if args.publish_only {
                    0
                } else {
                    u64::from(args.players)
                },
                playing_at_end: players.playing_at_end,
                ever_playing: players.ever_playing,
                failed: players.failed,
                first_error: players.first_error,
                errors: players.errors,
            },
            publisher,
            server,
            bench: BenchReport {
                cpu_s: bench_cpu,
                cpu_percent_of_one_core: bench_cpu / secs * 100.0,
                threads,
                saturated: bench_share >= SATURATED,
            },
            offer_flood,
        }
    }

    /// The human-readable form.
    pub(super) fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = self.write_table(&mut s);
        s
    }

    fn write_table(&self, s: &mut String) -> std::fmt::Result {
        let p = &self.players;
        if p.requested == 0 {
            writeln!(s, "mplive bench (publish only): {}", self.url)?;
            writeln!(s, "  window           {:.1} s", self.seconds)?;
            return self.write_costs(s);
        }
        if self.protocol == "whep" {
            // WHEP has no write policy to ask for: sessions start at the live edge and get each frame at once.
            writeln!(s, "mplive bench: {} (whep)", self.play_url)?;
        } else {
            writeln!(
                s,
                "mplive bench: {} ({}, {} policy)",
                self.play_url, self.protocol, self.mode
            )?;
        }
        writeln!(
            s,
            "  players          {} requested, {} playing at the end, {} failed",
            p.requested, p.playing_at_end, p.failed
        )?;
        writeln!(
            s,
            "  window           {:.1} s, {} process(es), ramp {} ms",
            self.seconds, self.processes, self.ramp_ms
        )?;
        let connect_what = match self.protocol {
            "flv" => "TCP connect -> HTTP 200",
            "whep" => "offer POST -> ICE + DTLS connected",
            _ => "TCP connect -> Playing",
        };
        writeln!(
            s,
            "  connect          {}   ({connect_what})",
            fmt_summary(self.connect_ms.as_ref(), false)
        )?;
        writeln!(
            s,
            "  first keyframe   {}   (play request -> first video keyframe)",
            fmt_summary(self.first_keyframe_ms.as_ref(), false)
        )?;
        writeln!(
            s,
            "  start behind     {}   (media that arrived at once: how far behind live a timestamp-paced player starts)",
            fmt_summary(self.start_behind_live_ms.as_ref(), false)
        )?;
        match &self.latency_ms {
            Some(l) => writeln!(
                s,
                "  latency          {}   ({} frames)",
                fmt_summary(Some(l), true),
                l.count
            )?,
            None if self.publisher.is_none() => {
                writeln!(s, "  latency          n/a (not publishing)")?
            }
            None => writeln!(s, "  latency          n/a (no frames matched)")?,
        }
        if self.publisher.is_some() {
            writeln!(
                s,
                "                   excluded: {} frames sent before the players' play requests (GOP-cache burst; \
                 WHEP: before connecting); \
                 {} unmatched",
                self.latency_excluded_burst_frames, self.latency_unmatched_frames
            )?;
        }
        writeln!(
            s,
            "  video gaps       {}   (per player: longest wait between two video frames)",
            fmt_summary(self.video_gap_max_ms.as_ref(), false)
        )?;
        writeln!(
            s,
            "  delivered        {:.1} Mbps, {} frames, {:.1} MB",
            self.delivered.mbps,
            self.delivered.frames,
            self.delivered.bytes as f64 / 1e6
        )?;
        self.write_costs(s)?;
        if let Some(f) = &self.offer_flood {
            writeln!(
                s,
                "  offer flood      {} of {} sent in {:.2} s ({:.0}/s): {} created ({} deleted after), refused {:?}, \
                 {} without answer",
                f.sent, f.offers, f.seconds, f.offers_per_second, f.created, f.deleted, f.refused, f.failed
            )?;
            if let Some(r) = &f.first_refusal {
                writeln!(s, "                   first refusal: {r}")?;
            }
            if let Some(e) = &f.first_failure {
                writeln!(s, "                   first failure: {e}")?;
            }
        }
        if let Some(e) = &p.first_error {
            writeln!(s, "  first error      {e}")?;
            for (e, n) in &p.errors {
                writeln!(s, "                   {n} x {e}")?;
            }
        }
        Ok(())
    }

    /// Publisher, server and bench lines.
    fn write_costs(&self, s: &mut String) -> std::fmt::Result {
        if let Some(pb) = &self.publisher {
            writeln!(
                s,
                "  publisher        {} frames, {} loop(s), max lag {:.1} ms, fixture {:.0} kbps{}",
                pb.frames,
                pb.loops,
                pb.max_lag_ms,
                pb.fixture_kbps,
                pb.error
                    .as_ref()
                    .map(|e| format!(", ERROR: {e}"))
                    .unwrap_or_default()
            )?;
        }
        if let Some(sv) = &self.server {
            writeln!(
                s,
                "  server pid {:<6}CPU {} ({} of one core), {} per delivered MB",
                sv.pid,
                opt(sv.cpu_s, |v| format!("{v:.2} s")),
                opt(sv.cpu_percent_of_one_core, |v| format!("{v:.1}%")),
                opt(sv.cpu_ms_per_mb, |v| format!("{v:.3} ms")),
            )?;
            writeln!(
                s,
                "                   RSS {} at start, {} at end, {} per player",
                opt(sv.rss_start_kib, |v| format!(
                    "{:.1} MiB",
                    v as f64 / 1024.0
                )),
                opt(sv.rss_end_kib, |v| format!("{:.1} MiB", v as f64 / 1024.0)),
                opt(sv.rss_per_player_kib, |v| format!("{v:.1} KiB")),
            )?;
        }
        let b = &self.bench;
        writeln!(
            s,
            "  bench            CPU {:.2} s ({:.1}% of one core, {} thread(s)){}",
            b.cpu_s,
            b.cpu_percent_of_one_core,
            b.threads,
            if b.saturated {
                "  WARNING: the bench is saturated, figures may be client-bound"
            } else {
                ""
            }
        )?;
        Ok(())
    }
}

fn opt<T: Copy>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "n/a".into())
}

fn fmt_summary(s: Option<&Summary>, p99: bool) -> String {
    match s {
        None => "n/a".into(),
        Some(s) if p99 => format!(
            "p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
        ),
        Some(s) => format!(
            "p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms",
            s.p50_ms, s.p95_ms, s.max_ms
        ),
    }
}
