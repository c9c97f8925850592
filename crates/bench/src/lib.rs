//! mplive's load tools. `mplive bench` (this module): publish a fixture in real time and run many players against
//! a server, then report connect and first-keyframe times, per-frame latency, throughput, and the server's CPU
//! and memory cost. `mplive room bench`: [`room`].
//!
//! Pieces: [`fixture`] loads the FLV file, [`publisher`] loops it over the client crate's RTMP connection
//! driver (`client::connection::RtmpConnection`) and records each frame's send time in a
//! [`sendtable::SendTable`] keyed by payload content, [`player`] runs one lightweight task per player (RTMP on
//! the same driver, HTTP-FLV through `client::http_flv::HttpFlvReader`, or WHEP through
//! `client::whep::WhepConnection`) that looks received frames up in that table, [`flood`] posts a burst of WHEP
//! offers during the window, [`worker`] spreads players over child processes, [`parent`] runs the whole measurement and [`report`]
//! prints it. URLs are parsed by `client::url`. `mplive bench soak` and `mplive bench churn`: [`soak`].

mod clock;
mod fixture;
mod flood;
mod net;
mod parent;
mod player;
mod procfs;
mod publisher;
mod report;
pub mod room;
mod sendtable;
mod soak;
mod stats;
mod worker;

use std::path::PathBuf;

pub use clock::mono_ns;
pub use sendtable::content_key;
pub use soak::{run_churn, run_soak, ChurnArgs, SoakArgs};

use anyhow::{ensure, Result};
use clap::{Args, ValueEnum};

/// Most players one run may start.
pub const MAX_PLAYERS: u32 = 20_000;
/// Most worker processes.
pub const MAX_PROCESSES: u32 = 64;
/// Longest measurement.
pub const MAX_SECONDS: u32 = 3600;
/// Most offers one `--offer-flood` may send.
pub const MAX_FLOOD_OFFERS: u32 = 100_000;

/// How players fetch the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// RTMP play on the URL itself.
    Rtmp,
    /// HTTP-FLV: `http://host:HTTP_PORT/app/stream.flv`, or `--http-url`.
    Flv,
    /// WebRTC (WHEP): offers `POST`ed to `http://host:HTTP_PORT/app/stream/whep`, or `--http-url`.
    Whep,
}

impl Protocol {
    /// The name on the command line and in the report.
    fn name(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Flv => "flv",
            Protocol::Whep => "whep",
        }
    }
}

/// The server's write policy the players ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// The default policy.
    Live,
    /// Low-latency policy: `mode=rtc` appended to the players' query.
    Rtc,
}

/// Flags of `mplive bench`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Latency counts only frames the publisher sent after a player's play request: the \
                        GOP-cache burst a player receives first is excluded. WHEP players (--protocol whep) count \
                        frames sent after they connected (ICE + DTLS), and match video only, by its coded slices."
)]
pub struct BenchArgs {
    /// RTMP URL of the stream: `rtmp://host[:port]/app/stream[?query]` (local addresses only)
    #[arg(long)]
    pub url: String,
    /// FLV file to publish, looped in real time (required unless --no-publish)
    #[arg(long, required_unless_present_any = ["no_publish", "worker"])]
    pub fixture: Option<PathBuf>,
    /// Number of players (at most 20000)
    #[arg(long, default_value_t = 100)]
    pub players: u32,
    /// Length of the measurement in seconds, from the first player's start
    #[arg(long, default_value_t = 30)]
    pub seconds: u32,
    /// How players fetch the stream
    #[arg(long, value_enum, default_value_t = Protocol::Rtmp)]
    pub protocol: Protocol,
    /// Write policy the players ask for (rtc appends mode=rtc to their query)
    #[arg(long, value_enum, default_value_t = Mode::Live)]
    pub mode: Mode,
    /// HTTP-FLV URL for --protocol flv, WHEP URL for --protocol whep [default: derived from --url and
    /// --http-port]
    #[arg(long)]
    pub http_url: Option<String>,
    /// HTTP port used to derive the HTTP-FLV and WHEP URLs
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    /// Server process to measure (CPU from /proc/PID/stat, RSS from /proc/PID/status)
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Do not publish (someone else does): latency is not measured, unless --send-times says when each frame was sent
    #[arg(long)]
    pub no_publish: bool,
    /// With --no-publish: a file of `KEY_HEX SEND_NS` lines (a frame's content key and its CLOCK_MONOTONIC send time)
    /// that the program sending the stream appends as it goes (`floor --send-times`); the bench follows it and
    /// measures latency against it as against its own publisher
    #[arg(long, requires = "no_publish")]
    pub send_times: Option<PathBuf>,
    /// Only publish, for --seconds, without players
    #[arg(long, conflicts_with = "no_publish")]
    pub publish_only: bool,
    /// Print the report as JSON on stdout (and no progress display)
    #[arg(long)]
    pub json: bool,
    /// Spread player starts evenly over this many milliseconds
    #[arg(long, default_value_t = 0)]
    pub ramp_ms: u64,
    /// Spread players over this many child processes (1: all in this process)
    #[arg(long, default_value_t = 1)]
    pub processes: u32,
    /// Time a player has from TCP connect to playing
    #[arg(long, default_value_t = 10_000)]
    pub connect_timeout_ms: u64,
    /// Time between the publisher's start and the players' start (fills the server's GOP cache)
    #[arg(long, default_value_t = 2_500)]
    pub warmup_ms: u64,
    /// POST this many WHEP offers as fast as possible during the window (the sessions made are deleted after),
    /// to see the server refuse or answer them while the players play
    #[arg(long, default_value_t = 0)]
    pub offer_flood: u32,
    /// When the offer flood starts, in ms after the window's start
    #[arg(long, default_value_t = 1000)]
    pub offer_flood_at_ms: u64,
    /// Runtime worker threads per process [default: the CPUs this process may run on]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Internal: run as a worker process of a parent bench (players only, send times on stdin).
    #[arg(long, hide = true)]
    pub worker: bool,
    /// Internal: CLOCK_MONOTONIC ns at which the workers' players start.
    #[arg(long, hide = true, default_value_t = 0)]
    pub worker_start_ns: u64,
    /// Internal: CLOCK_MONOTONIC ns at which the measurement window ends.
    #[arg(long, hide = true, default_value_t = 0)]
    pub worker_end_ns: u64,
    /// Internal: global index of the worker's first player.
    #[arg(long, hide = true, default_value_t = 0)]
    pub worker_first: u32,
    /// Internal: number of players over all workers.
    #[arg(long, hide = true, default_value_t = 0)]
    pub worker_total: u32,
    /// Internal: window of the send table, in ns.
    #[arg(long, hide = true, default_value_t = worker::DEFAULT_WINDOW_NS)]
    pub worker_window_ns: u64,
}

impl BenchArgs {
    fn validate(&self) -> Result<()> {
        ensure!(
            self.players >= 1 || self.publish_only,
            "--players must be at least 1"
        );
        ensure!(
            self.players <= MAX_PLAYERS,
            "--players is at most {MAX_PLAYERS}"
        );
        ensure!(
            (1..=MAX_SECONDS).contains(&self.seconds),
            "--seconds must be within 1..={MAX_SECONDS}"
        );
        ensure!(
            (1..=MAX_PROCESSES).contains(&self.processes),
            "--processes must be within 1..={MAX_PROCESSES}"
        );
        ensure!(
            self.processes <= self.players.max(1),
            "--processes ({}) cannot exceed --players ({})",
            self.processes,
            self.players
        );
        ensure!(
            self.ramp_ms < u64::from(self.seconds) * 1000,
            "--ramp-ms must be shorter than the measurement (--seconds)"
        );
        ensure!(
            (100..=60_000).contains(&self.connect_timeout_ms),
            "--connect-timeout-ms must be within 100..=60000"
        );
        ensure!(self.warmup_ms <= 60_000, "--warmup-ms is at most 60000");
        ensure!(
            self.protocol != Protocol::Whep || self.mode == Mode::Live,
            "--mode rtc is for RTMP and HTTP-FLV players: WHEP sessions always start at the live edge"
        );
        ensure!(
            self.offer_flood <= MAX_FLOOD_OFFERS,
            "--offer-flood is at most {MAX_FLOOD_OFFERS}"
        );
        ensure!(
            self.offer_flood == 0 || self.offer_flood_at_ms < u64::from(self.seconds) * 1000,
            "--offer-flood-at-ms must fall within the measurement (--seconds)"
        );
        ensure!(
            self.threads.is_none_or(|t| (1..=256).contains(&t)),
            "--threads must be within 1..=256"
        );
        Ok(())
    }

    /// The query parameter the players append for `--mode`.
    fn mode_query(&self) -> Option<&'static str> {
        match self.mode {
            Mode::Live => None,
            Mode::Rtc => Some("mode=rtc"),
        }
    }
}

/// Runs the benchmark (or, with the hidden `--worker` flag, one worker process of it).
pub fn run(args: BenchArgs) -> Result<()> {
    args.validate()?;
    if args.worker {
        return worker::run_worker(&args);
    }
    let runtime = runtime(args.threads)?;
    let report = runtime.block_on(parent::run(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = threads {
        builder.worker_threads(n);
    }
    Ok(builder.build()?)
}
